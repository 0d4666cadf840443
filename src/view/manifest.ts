/**
 * What `s2change view` shows of a finished run: the run's outputs and the input bands that summary.json records,
 * each under a fixed URL path. The server serves exactly these files and nothing else (no path is ever taken from
 * the request), and the page reads this manifest to build its layers.
 */
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { InputNotFoundError, S2ChangeError } from '../errors.js';
import { layerFromFileName } from '../io/scene.js';
import { getPreset } from '../change/presets/index.js';
import { normalizeItem, radiometryFor } from '../io/stac-search.js';
import type { IndexHistogram } from '../change/index-histogram.js';

/** One input band as the page reads it: a URL path on the view server, the 1-based sample and the radiometry. */
export interface ViewBand {
  url: string;
  /** 1-based band (sample) number inside the file, as ol/source/GeoTIFF counts them. */
  sample: number;
  /** reflectance = (DN + offset) × scale. */
  scale: number;
  offset: number;
  nodata: number | null;
}

export interface ViewInput {
  role: 'before' | 'after';
  /** The input as summary.json records it (path or URL). */
  input: string;
  format: string;
  /** Acquisition date(s) when the run recorded them, else null. */
  date: string | null;
  bands: Record<string, ViewBand>;
  /** Why this input's bands are not shown, when they are not (remote, not georeferenced, …). */
  notShown: string | null;
}


/** A basemap the user asked for (view --basemap): an XYZ tile URL template and its attribution. */
export interface Basemap {
  url: string;
  attribution: string;
}

export interface ViewManifest {
  title: string;
  preset: string;
  method: string;
  formula: string;
  crs: string;
  thresholds: { name: string; value: number; source: string }[];
  classes: { value: number; name: string; description: string; colour: string }[];
  /** Classes counted as change ("above the threshold"). */
  changeClasses: number[];
  change: string | null;
  geojson: string | null;
  index: { url: string; name: string; perDateIndex: string | null; sign: 'after-before' | 'before-after' } | null;
  /** The run's `indexHistogram` from summary.json (null in runs made before it existed: the page makes one). */
  histogram: IndexHistogram | null;
  /** Mean hectares per valid pixel of the run (its total hectares over its pixels). */
  hectaresPerPixel: number | null;
  inputs: ViewInput[];
  attribution: string;
  /** Set by the server when the user asked for a basemap; absent or null otherwise. */
  basemap?: Basemap | null;
}

/** A file the server may send: a local path, or an http(s) URL it fetches (Range forwarded), and its content type. */
export interface ServedFile {
  file: string;
  /** Set for remote files: the server proxies this URL through the project's HTTP layer and URL policy. */
  remoteUrl?: string;
  type: string;
}

export interface ViewPlan {
  manifest: ViewManifest;
  /** URL path → file. The only files the server reads (besides the page bundle). */
  files: Map<string, ServedFile>;
  /** Origins of the remote files the server proxies. */
  remote: string[];
}

const TYPES: Record<string, string> = {
  '.tif': 'image/tiff', '.tiff': 'image/tiff', '.png': 'image/png', '.json': 'application/json',
  '.geojson': 'application/geo+json', '.html': 'text/html; charset=utf-8', '.xml': 'application/xml', '.qml': 'application/xml',
};

function contentType(file: string): string {
  return TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream';
}

interface SummaryInput {
  role: 'before' | 'after';
  input: string;
  format: string;
  provenance?: Record<string, unknown>;
  radiometry?: Record<string, string>;
  /** Layer → the file or URL the run read it from (runs made since `layers` was recorded). */
  layers?: Record<string, string>;
}

interface Summary {
  preset: { name: string; title: string };
  method: string;
  formula?: string;
  thresholds?: { name: string; value: number; source: string }[];
  inputs: SummaryInput[];
  grid?: { crs?: string };
  areas?: { value: number; pixels: number; hectares: number }[];
  classes?: { value: number; name: string; description: string; colour: string }[];
  outputs: { name: string }[];
  indexHistogram?: unknown;
  provenance?: { acquired?: Record<string, unknown> };
}

/** Radiometry "(DN − 1000) × 0.0001; nodata 0; …" as summary.json writes it → scale, offset, nodata. */
export function parseRadiometry(text: string): { scale: number; offset: number; nodata: number | null } | null {
  const m = /^\(DN ([+−-]) ([\d.eE+-]+)\) × ([\d.eE+-]+); nodata (\S+?);/.exec(text);
  if (!m) return null;
  const offset = Number(m[2]) * (m[1] === '+' ? 1 : -1);
  const scale = Number(m[3]);
  const nodata = m[4] === 'null' || m[4] === 'NaN' ? null : Number(m[4]);
  if (!Number.isFinite(offset) || !Number.isFinite(scale)) return null;
  return { scale, offset, nodata: Number.isFinite(nodata) ? nodata : null };
}

/** The index a difference product is made of (dnbr → NBR) and the sign of the difference. */
function perDateIndex(product: string): { perDateIndex: string | null; sign: 'after-before' | 'before-after' } {
  const m = /^d([a-z0-9]+)$/i.exec(product);
  if (!m) return { perDateIndex: null, sign: 'after-before' };
  const name = m[1]!.toUpperCase();
  return { perDateIndex: name, sign: name === 'NBR' ? 'before-after' : 'after-before' };
}

/** The summary's indexHistogram when it has the fields the page reads, else null. */
export function readHistogram(h: unknown): IndexHistogram | null {
  if (!h || typeof h !== 'object') return null;
  const o = h as Partial<IndexHistogram>;
  const ok = Array.isArray(o.counts) && [o.binWidth, o.min, o.max, o.pixelAreaM2].every((v) => typeof v === 'number' && Number.isFinite(v))
    && (o.binWidth ?? 0) > 0;
  return ok ? { below: 0, above: 0, thresholds: [], classRules: null, pixelAreaVaries: false, ...o } as IndexHistogram : null;
}

function dateOf(inp: SummaryInput, acquired: Record<string, unknown> | undefined): string | null {
  const a = acquired?.[inp.role];
  if (typeof a === 'string') return a;
  if (a && typeof a === 'object') {
    const o = a as Record<string, unknown>;
    for (const k of ['date', 'datetime', 'value']) if (typeof o[k] === 'string') return o[k] as string;
  }
  const d = inp.provenance?.datetime;
  return typeof d === 'string' ? d : null;
}

/**
 * Read `dir/summary.json` and decide what the viewer serves. Local input files are served under
 * `/input/<role>/<file name>`; remote files (a COG URL input, the URL assets of a local STAC item) under the same
 * paths, fetched by the server (`remoteUrl`). A STAC item URL input (or an --event-date search) is drawn from the asset
 * hrefs the run recorded (`inputs[].layers`); runs made before that field are listed as not shown.
 */
export async function planView(dir: string): Promise<ViewPlan> {
  const summaryPath = path.join(dir, 'summary.json');
  let text: string;
  try {
    text = await readFile(summaryPath, 'utf8');
  } catch (err) {
    throw new InputNotFoundError('no summary.json in the folder', {
      input: dir, expected: 'the --out folder of a finished `s2change detect` run', found: (err as NodeJS.ErrnoException).code ?? String(err),
      fix: 'Run `s2change detect … --out DIR` first, then `s2change view DIR`', cause: err,
    });
  }
  let summary: Summary;
  try {
    summary = JSON.parse(text) as Summary;
    if (!summary || !Array.isArray(summary.outputs) || !Array.isArray(summary.inputs) || !summary.preset) throw new Error('missing outputs, inputs or preset');
  } catch (err) {
    throw new S2ChangeError('OUTPUT_INTEGRITY', 'summary.json is not a run summary', {
      input: summaryPath, expected: 'JSON with preset, inputs and outputs as `s2change detect` writes it', found: (err as Error).message,
      fix: 'Re-run the detect command that made this folder', cause: err,
    });
  }

  const files = new Map<string, ServedFile>();
  files.set('/run/summary.json', { file: summaryPath, type: 'application/json' });
  for (const o of summary.outputs) {
    if (typeof o.name !== 'string' || o.name !== path.basename(o.name) || o.name.startsWith('.')) continue;
    files.set(`/run/${encodeURIComponent(o.name)}`, { file: path.join(dir, o.name), type: contentType(o.name) });
  }
  const names = summary.outputs.map((o) => o.name);
  const indexName = names.find((n) => /\.tif$/i.test(n) && n !== 'change.tif') ?? null;
  const product = indexName ? indexName.replace(/\.tif$/i, '') : null;

  const remote: string[] = [];
  const inputs: ViewInput[] = [];
  for (const inp of summary.inputs) {
    const radiometry = Object.values(inp.radiometry ?? {}).map(parseRadiometry).find((r) => r !== null) ?? { scale: 1, offset: 0, nodata: null };
    const view: ViewInput = { role: inp.role, input: inp.input, format: inp.format, date: dateOf(inp, summary.provenance?.acquired), bands: {}, notShown: null };
    inputs.push(view);
    const isUrl = (u: string) => /^https?:\/\//i.test(u);
    const add = (band: string, file: string, sample: number, r = radiometry) => {
      const name = path.basename(isUrl(file) ? new URL(file).pathname : file) || band;
      let url = `/input/${inp.role}/${encodeURIComponent(name)}`;
      if (files.has(url) && files.get(url)!.file !== file) url = `/input/${inp.role}/${encodeURIComponent(`${band}-${name}`)}`; // same name, other file
      if (isUrl(file)) {
        files.set(url, { file, remoteUrl: file, type: contentType(new URL(file).pathname) });
        if (!remote.includes(new URL(file).origin)) remote.push(new URL(file).origin);
      } else {
        files.set(url, { file, type: contentType(file) });
      }
      view.bands[band] = { url, sample, ...r };
    };
    if (inp.format === 'multiband-tiff') {
      // a local file, or a COG URL (proxied)
      const order = String(inp.provenance?.bandOrder ?? '').split(',');
      order.forEach((b, i) => { if (b && b !== '-') add(b, inp.input, i + 1); });
    } else if (inp.format === 'band-folder' && !isUrl(inp.input)) {
      const list = Array.isArray(inp.provenance?.files) ? (inp.provenance!.files as unknown[]).filter((f): f is string => typeof f === 'string') : [];
      for (const f of list) {
        const band = layerFromFileName(f);
        if (band && band !== 'SCL' && f === path.basename(f)) add(band, path.join(inp.input, f), 1);
      }
    } else if (inp.format === 'stac-item' && isUrl(inp.input) && inp.layers && typeof inp.layers === 'object') {
      // a remote STAC item (or --event-date search): the asset hrefs the run read, as summary.json records them
      for (const [band, href] of Object.entries(inp.layers)) {
        if (band === 'SCL' || typeof href !== 'string' || href.includes(' + ')) continue; // mosaics: not one file
        const file = href.startsWith('file://') ? decodeURIComponent(new URL(href).pathname) : href;
        const r = parseRadiometry(inp.radiometry?.[band] ?? '') ?? radiometry;
        add(band, file, 1, r);
      }
      if (Object.keys(view.bands).length === 0) view.notShown = 'a remote STAC item whose recorded layers are mosaics or SCL only: not drawn';
    } else if (inp.format === 'stac-item' && !isUrl(inp.input)) {
      // a local item: its band assets, local files served, URLs proxied
      try {
        const item = normalizeItem(JSON.parse(await readFile(inp.input, 'utf8')), `file://${path.resolve(inp.input)}`);
        for (const [band, asset] of Object.entries(item.assets)) {
          if (!asset || band === 'SCL') continue;
          const href = asset.href.startsWith('file://') ? decodeURIComponent(new URL(asset.href).pathname) : asset.href;
          const r = radiometryFor(item, band);
          add(band, href, 1, { scale: r.scale, offset: r.offset, nodata: asset.nodata ?? null });
        }
      } catch (err) {
        view.notShown = `the STAC item could not be read again: ${(err as Error).message}`;
      }
    } else if (inp.format === 'png') {
      view.notShown = 'not georeferenced (PNG input)';
    } else {
      view.notShown = isUrl(inp.input) ? 'a remote STAC item from a run made before summary.json recorded its asset URLs (inputs[].layers): its bands are not drawn'
        : `input format ${inp.format} is not drawn by the viewer`;
    }
  }
  // Only files that exist are served; a missing input is reported on the page, not fatal.
  for (const [url, f] of [...files]) {
    if (f.remoteUrl) continue;
    try {
      if (!(await stat(f.file)).isFile()) files.delete(url);
    } catch {
      files.delete(url);
    }
  }
  for (const v of inputs) {
    for (const [b, ref] of Object.entries(v.bands)) if (!files.has(ref.url)) delete v.bands[b];
    if (!v.notShown && Object.keys(v.bands).length === 0) v.notShown = `input not found at ${v.input}`;
  }

  let changeClasses: number[] = [];
  try {
    changeClasses = [...getPreset(summary.preset.name).changeClasses];
  } catch {
    changeClasses = (summary.classes ?? []).map((c) => c.value).filter((v) => v !== 0);
  }
  const areas = summary.areas ?? [];
  const px = areas.reduce((s, a) => s + a.pixels, 0);
  const ha = areas.reduce((s, a) => s + a.hectares, 0);
  const indexUrl = indexName ? `/run/${encodeURIComponent(indexName)}` : null;
  const manifest: ViewManifest = {
    title: summary.preset.title,
    preset: summary.preset.name,
    method: summary.method,
    formula: summary.formula ?? '',
    crs: summary.grid?.crs ?? 'unknown',
    thresholds: summary.thresholds ?? [],
    classes: summary.classes ?? [],
    changeClasses,
    change: files.has('/run/change.tif') ? '/run/change.tif' : null,
    geojson: files.has('/run/change.geojson') ? '/run/change.geojson' : null,
    index: indexUrl && product && files.has(indexUrl) ? { url: indexUrl, name: product, ...perDateIndex(product) } : null,
    histogram: readHistogram(summary.indexHistogram),
    hectaresPerPixel: px > 0 ? ha / px : null,
    inputs,
    attribution: 'Contains modified Copernicus Sentinel data',
  };
  return { manifest, files, remote };
}
