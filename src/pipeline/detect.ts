/**
 * `detect`: two scenes (or one, for the water map) → a class map, continuous products, areas and provenance.
 * This is the whole-array path: every band of the overlap is held in memory, which is right for chips and
 * sub-tile areas.
 */
import path from 'node:path';
import { NothingValidError, UsageError } from '../errors.js';
import type { BandName } from '../indices/bands.js';
import type { BandArrays } from '../indices/registry.js';
import { getPreset } from '../change/presets/index.js';
import type { Preset, PresetOptions, PresetResult } from '../change/presets/types.js';
import { NODATA_CLASS } from '../change/presets/types.js';
import { maskUndefinedIndex, minAreaGroups } from '../change/presets/common.js';
import { patchGroupTable, removeSmallComponents } from '../raster/components.js';
import { pixelAreaM2, type Bounds, type Grid } from '../raster/grid.js';
import { accumulateClassAreas } from '../raster/class-areas.js';
import { sclMask } from '../raster/scl-mask.js';
import { openScene, shiftScene, type LayerName, type Scene, type SceneOptions } from '../io/scene.js';
import { inspectTiffsSandboxed, sandboxWorkerUrl } from '../io/tiff/sandbox.js';
import { finestGrid, overlapGrid, readOnGrid } from './align.js';
import {
  describeCoregistration, estimateCoregistration, groundShiftOf, skippedCoregistration, type CoregistrationReport,
} from './coregistration.js';

export interface DetectOptions extends PresetOptions {
  before?: string;
  after: string;
  preset: string;
  bbox?: Bounds | null;
  /**
   * Minimum mapping unit in hectares: connected patches smaller than this become "no change". A patch is measured
   * on the union of the classes the preset groups (`minAreaGroups`: its change classes by default).
   */
  minAreaHa?: number;
  /** Band names for multi-band inputs / PNGs, applied to both dates unless beforeBands/afterBands are given. */
  bands?: string[];
  beforeBands?: string[];
  afterBands?: string[];
  scene?: Omit<SceneOptions, 'bands' | 'sclPath'>;
  /** Separate SCL files per date (e.g. beside multi-band BOA files). */
  beforeScl?: string;
  afterScl?: string;
  /** Grow the SCL cloud/shadow mask by this many target pixels (default 2). */
  cloudBuffer?: number;
  log?: (msg: string) => void;
  /** Opens `before`/`after` (default openScene); discovery passes one that knows its search results. */
  open?: (src: string, opts: SceneOptions) => Promise<Scene>;
  /**
   * Decode preflight (see `preflightDecode`): every local TIFF of each date is decoded in a sandbox worker with
   * this time and heap budget before any pixel is read in-process. Default DEFAULT_DECODE_BUDGET; null skips it.
   */
  decodeBudget?: DecodeBudget | null;
  /** Co-register the after date onto the before date (default true; `--no-coregister` sets false). */
  coregister?: boolean;
}

/** Time (ms, `--decode-timeout`) and worker heap (MB, `--decode-memory`) budget of one date's decode preflight. */
export interface DecodeBudget {
  timeMs: number;
  memoryMb: number;
}

/** The default decode preflight budget: 60 s and 1024 MB per date. */
export const DEFAULT_DECODE_BUDGET: Readonly<DecodeBudget> = Object.freeze({ timeMs: 60_000, memoryMb: 1024 });
/** Images up to this many pixels (width × height) are decoded in full by the preflight; larger ones only a probe. */
export const PREFLIGHT_FULL_MAX_PIXELS = 64 * 1024 * 1024;
/** The probe of a larger image: a 1024 × 1024 window at the top left, all bands. */
export const PREFLIGHT_PROBE = Object.freeze({ x: 0, y: 0, width: 1024, height: 1024 });

export interface ClassArea {
  value: number;
  name: string;
  pixels: number;
  hectares: number;
  /** Share of the valid area, %. */
  percent: number;
}

export interface DateImage {
  /** Red, green, blue reflectance for the quicklook (true colour, or false colour when that is all there is). */
  rgb: [Float32Array, Float32Array, Float32Array] | null;
  rgbBands: string;
}

export interface DetectResult {
  preset: Preset;
  grid: Grid;
  result: PresetResult;
  bandsUsed: BandName[];
  areas: ClassArea[];
  validPixels: number;
  /** `indexUndefined`: valid bands but no finite index (e.g. NIR + SWIR = 0), class 255 (see `maskUndefinedIndex`). */
  maskedPixels: { total: number; nodata: number; cloudShadowSnow: number; indexUndefined: number };
  minMappingUnit: { hectares: number; pixelsRemoved: number } | null;
  before: DateImage | null;
  after: DateImage;
  inputs: {
    role: 'before' | 'after'; input: string; format: string; provenance: Record<string, unknown>; radiometry: Record<string, string>;
    /** Inputs read over HTTP only: bytes and requests on the wire, range-cache hits. */
    bytesFetched?: number; requests?: number; cacheHits?: number;
    /** The file (path or URL, after resolving STAC assets) each used layer was read from, SCL included; mosaics join hrefs with ' + '. */
    layers?: Record<string, string>;
  }[];
  warnings: string[];
  georeferenced: boolean;
  /** The after date's shift onto the before date: measured, applied or skipped and why. */
  coregistration: CoregistrationReport;
}

const TRUE_COLOUR: LayerName[] = ['B04', 'B03', 'B02'];
const FALSE_COLOUR: LayerName[] = ['B11', 'B08', 'B03'];

/** Run a preset on two scenes. Scenes are opened and closed here. */
export async function detect(opts: DetectOptions): Promise<DetectResult> {
  const preset = getPreset(opts.preset);
  const log = opts.log ?? (() => {});
  if (!preset.singleDate && !opts.before) {
    throw new UsageError('missing --before', { input: `--preset ${preset.name}`, expected: 'a before scene', found: 'only --after', fix: 'Pass --before SRC (only --preset water maps a single date)' });
  }
  if (opts.method && !preset.methods.includes(opts.method)) {
    throw new UsageError('method not available for this preset', {
      input: `--method ${opts.method}`, expected: preset.methods.join(' | '), found: opts.method,
    });
  }
  const open = opts.open ?? openScene;
  const scene = { ...opts.scene, decode: opts.scene?.decode ?? (opts.decodeBudget ? { timeMs: opts.decodeBudget.timeMs, memoryMb: opts.decodeBudget.memoryMb } : undefined) };
  const after = await open(opts.after, { ...scene, bands: opts.afterBands ?? opts.bands, sclPath: opts.afterScl });
  let before: Scene | null = null;
  try {
    if (opts.before && !preset.singleDate) before = await open(opts.before, { ...scene, bands: opts.beforeBands ?? opts.bands, sclPath: opts.beforeScl });
    const skipped = await preflightDecode([before, after].filter((x): x is Scene => x !== null), opts.decodeBudget, log);
    if (skipped) after.warnings.push(skipped);
    const same = before ? sameSceneWarning(before, after) : null;
    if (same) after.warnings.push(same);
    return await detectOnScenes(preset, before, after, opts, log);
  } finally {
    await after.close();
    await before?.close();
  }
}

async function detectOnScenes(preset: Preset, before: Scene | null, after: Scene, opts: DetectOptions,
  log: (m: string) => void): Promise<DetectResult> {
  const { bandsUsed, target } = planGrid(preset, before, after, opts);
  log(`grid: ${target.width}x${target.height} px, EPSG:${target.crs.epsg}, pixel ${Math.abs(target.transform[1])}`);
  const coregistration = before ? await estimateCoregistration(before, after, target, { enabled: opts.coregister })
    : skippedCoregistration('single-date preset');
  log(describeCoregistration(coregistration, target));
  const shift = groundShiftOf(coregistration, target);
  if (shift) after = shiftScene(after, shift);
  const n = target.width * target.height;
  const warnings: string[] = [...(before?.warnings ?? []), ...after.warnings];

  const readDate = async (scene: Scene, role: string) => {
    const arrays: BandArrays = {};
    for (const b of bandsUsed) arrays[b] = await readOnGrid(scene.bands.get(b)!, target);
    const scl = scene.bands.get('SCL');
    const sclValues = scl ? await readOnGrid(scl, target) : null;
    checkRadiometry(arrays, `${role} (${scene.input})`, warnings);
    return { arrays, sclValues };
  };
  const a = await readDate(after, 'after');
  const b = before ? await readDate(before, 'before') : null;

  // Validity: every used band finite on both dates, and SCL not cloud/shadow/snow/saturated on either.
  const valid = new Uint8Array(n).fill(1);
  let nodata = 0;
  for (const d of [a, b]) {
    if (!d) continue;
    for (const arr of Object.values(d.arrays)) for (let i = 0; i < n; i++) if (valid[i] && arr![i] !== arr![i]) { valid[i] = 0; nodata++; }
  }
  let cloud = 0;
  const buffer = opts.cloudBuffer ?? 2;
  for (const d of [a, b]) {
    if (!d?.sclValues) continue;
    const m = sclMask(d.sclValues, target.width, target.height, { dilatePixels: buffer });
    for (let i = 0; i < n; i++) if (valid[i] && m[i]) { valid[i] = 0; cloud++; }
  }
  const inputs = before ? `${before.input} and ${after.input}` : after.input;
  checkValidShare(n, nodata, cloud, inputs, []); // nothing valid: refused before the preset runs

  const result = preset.run({ width: target.width, height: target.height, before: b?.arrays, after: a.arrays, valid, options: opts });
  warnings.push(...result.notes);
  // A pixel whose index is not finite (0/0, overflow) is invalid too: class 255, counted apart.
  const indexUndefined = result.products[0] ? maskUndefinedIndex(result.classes, result.products[0].values) : 0;
  const validPixels = checkValidShare(n, nodata, cloud, inputs, warnings, indexUndefined);

  let minMappingUnit: DetectResult['minMappingUnit'] = null;
  if (opts.minAreaHa && opts.minAreaHa > 0) {
    const mmu = removeSmallComponents(result.classes, target.width, target.height, {
      minAreaM2: opts.minAreaHa * 10_000, rowAreaM2: (row: number) => pixelAreaM2(target, row),
      background: [0, NODATA_CLASS], replaceWith: 0, groups: patchGroupTable(minAreaGroups(preset), [0, NODATA_CLASS]),
    });
    result.classes.set(mmu.classes);
    minMappingUnit = { hectares: opts.minAreaHa, pixelsRemoved: mmu.removedPixels };
  }

  const areas = classAreas(preset, result.classes, target, validPixels);
  const image = async (scene: Scene, role: string): Promise<DateImage> => {
    const set = quicklookLayers(scene);
    if (set) {
      const rgb = await Promise.all(set.map((l) => readOnGrid(scene.bands.get(l)!, target))) as DateImage['rgb'];
      return { rgb, rgbBands: set.join(',') };
    }
    log(`no RGB bands for the ${role} quicklook`);
    return { rgb: null, rgbBands: '' };
  };
  const describe = (scene: Scene, role: 'before' | 'after') => describeInput(scene, role, bandsUsed);
  return {
    preset, grid: target, result, bandsUsed, areas, validPixels,
    maskedPixels: { total: nodata + cloud + indexUndefined, nodata, cloudShadowSnow: cloud, indexUndefined }, minMappingUnit,
    before: before ? await image(before, 'before') : null,
    after: await image(after, 'after'),
    inputs: [...(before ? [describe(before, 'before')] : []), describe(after, 'after')],
    warnings,
    georeferenced: after.georeferenced && (before?.georeferenced ?? true),
    coregistration,
  };
}

/** The local TIFF files a scene reads (its bands' hrefs; mosaics list several, joined by ' + '); http(s) inputs are skipped. */
export function localTiffFiles(scene: Scene): string[] {
  const files = new Set<string>();
  for (const ref of scene.bands.values()) {
    if (ref.decodedInSandbox) continue; // decoded whole in the sandbox when the scene was opened
    for (const part of ref.href.split(' + ')) {
      if (/^https?:\/\//i.test(part)) continue; // fetched lazily by range requests: no preflight
      const p = part.startsWith('file://') ? decodeURIComponent(new URL(part).pathname) : part;
      if (/\.tiff?$/i.test(p)) files.add(p);
    }
  }
  return [...files];
}

/**
 * Decode preflight: for each scene (date), open, describe and decode every local TIFF it reads in ONE sandbox
 * worker (`inspectTiffsSandboxed`) limited to `budget` — the full-resolution image in full when it has at most
 * `fullMaxPixels` (default PREFLIGHT_FULL_MAX_PIXELS) pixels, else a PREFLIGHT_PROBE window — with the dates in parallel. Throws the typed
 * DecodeTimeoutError / LimitExceededError / CorruptTiffError (…) naming the file. `budget` null skips it;
 * undefined uses DEFAULT_DECODE_BUDGET, and then a missing compiled worker (running from src/ without a build)
 * skips it with the returned warning instead of failing. Returns that warning, else null.
 */
export async function preflightDecode(scenes: Scene[], budget: DecodeBudget | null | undefined, log: (m: string) => void = () => {},
  fullMaxPixels = PREFLIGHT_FULL_MAX_PIXELS): Promise<string | null> {
  if (budget === null) return null;
  if (budget === undefined && sandboxWorkerUrl() === null) {
    return 'decode preflight skipped: the compiled sandbox worker (dist/io/tiff/sandbox-worker.js) is missing; run npm run build';
  }
  const b = budget ?? DEFAULT_DECODE_BUDGET;
  const t0 = Date.now();
  const lists = scenes.map(localTiffFiles).filter((l) => l.length > 0);
  const settled = await Promise.allSettled(lists.map((files) => inspectTiffsSandboxed(files, {
    timeMs: b.timeMs, maxOldGenerationMb: b.memoryMb, probe: { maxFullPixels: fullMaxPixels, probe: { ...PREFLIGHT_PROBE } },
  })));
  for (const s of settled) if (s.status === 'rejected') throw s.reason; // each worker is done (or stopped) by now
  if (lists.length) log(`decode preflight: ${lists.flat().length} local TIFF files ${fullMaxPixels > 0 ? 'decoded' : 'probed'} in the sandbox in ${Date.now() - t0} ms`);
  return null;
}

/**
 * A warning when `before` and `after` are the same scene — the same path, or the same product or acquisition
 * (date and tile) by their provenance — so that "no change" is not mistaken for a finding; else null.
 */
export function sameSceneWarning(before: Scene, after: Scene): string | null {
  const norm = (s: string) => (/^https?:\/\//i.test(s) ? s : path.resolve(s)).replace(/\/+$/, '');
  if (norm(before.input) === norm(after.input)) {
    return `--before and --after are the same input (${after.input}): every difference is zero, so no change will be found. Pass two dates.`;
  }
  const key = (p: Record<string, unknown>) => {
    const product = p.product ?? p.productId;
    if (typeof product === 'string' && product) return `product ${product.replace(/\.SAFE$/i, '')}`;
    const when = p.datetime;
    const tile = p.tile;
    return typeof when === 'string' && when && typeof tile === 'string' && tile ? `acquisition ${when} of tile ${tile}` : null;
  };
  const a = key(before.provenance);
  if (a !== null && a === key(after.provenance)) {
    return `--before (${before.input}) and --after (${after.input}) are the same ${a}: no change will be found. Pass two dates.`;
  }
  return null;
}

/** The layers drawn in a date's quicklook: true colour (B04, B03, B02), else false colour (B11, B08, B03), else null. */
export function quicklookLayers(scene: Scene): LayerName[] | null {
  for (const set of [TRUE_COLOUR, FALSE_COLOUR]) if (set.every((l) => scene.bands.has(l))) return set;
  return null;
}

/** An input as summary.json describes it: source, format, provenance, radiometry of the used bands, HTTP stats. */
export function describeInput(scene: Scene, role: 'before' | 'after', bandsUsed: BandName[]): DetectResult['inputs'][number] {
  const used = [...scene.bands].filter(([k]) => bandsUsed.includes(k as BandName) || k === 'SCL');
  return {
    role, input: scene.input, format: scene.format, provenance: scene.provenance,
    radiometry: Object.fromEntries(used.map(([k, r]) => [k, `(DN ${r.radiometry.offset >= 0 ? '+' : '−'} ${Math.abs(r.radiometry.offset)}) × ${r.radiometry.scale}; nodata ${r.radiometry.nodata}; ${r.radiometry.source}`])),
    layers: Object.fromEntries(used.map(([k, r]) => [k, r.href])),
    ...fetched(scene),
  };
}

function fetched(scene: Scene): { bytesFetched?: number; requests?: number; cacheHits?: number } {
  if (!scene.fetchStats) return {};
  const s = scene.fetchStats();
  return { bytesFetched: s.bytesFetched, requests: s.requests, cacheHits: s.cacheHits };
}

/**
 * The bands a run uses (those both dates have, as the preset chooses) and its target grid: the finest of those bands
 * on the before scene (the after scene for single-date presets), clipped to the overlap of both dates and to --bbox.
 * Shared by the whole-array path and the block engine so both compute on the same grid.
 */
export function planGrid(preset: Preset, before: Scene | null, after: Scene, opts: Pick<DetectOptions, 'bbox'> & PresetOptions): { bandsUsed: BandName[]; target: Grid } {
  const available = new Set<BandName>();
  for (const k of after.bands.keys()) if (k !== 'SCL' && (!before || before.bands.has(k))) available.add(k);
  const bandsUsed = preset.chooseBands(available, opts);
  const base = before ?? after;
  const target = overlapGrid(
    finestGrid(base, bandsUsed), before ? [{ grid: finestGrid(after, bandsUsed), input: after.input }] : [], opts.bbox ?? null, base.input,
  );
  return { bandsUsed, target };
}

/**
 * Valid pixels left after masking; NothingValidError naming `input` when none is left, a warning below 5 %.
 * `indexUndefined`: pixels with valid bands whose index is not finite (`maskUndefinedIndex`). Shared by both engines.
 */
export function checkValidShare(total: number, nodata: number, cloud: number, input: string, warnings: string[], indexUndefined = 0): number {
  const validPixels = total - nodata - cloud - indexUndefined;
  if (validPixels <= 0) {
    throw new NothingValidError('no valid pixel left after masking', {
      input,
      expected: 'some pixels with data on both dates, without cloud, shadow or snow, and with a finite index',
      found: `${nodata} nodata, ${cloud} cloud/shadow/snow${indexUndefined ? ` and ${indexUndefined} undefined-index (e.g. NIR + SWIR = 0)` : ''} pixels of ${total}`,
      fix: indexUndefined
        ? 'Check --scale/--offset (a scale of 0 makes every reflectance 0) and that the bands are not all zeros'
        : 'Choose clearer scenes, another --bbox, --cloud-buffer 0, or check the nodata value',
    });
  }
  if (validPixels < 0.05 * total) warnings.push(`Only ${(100 * validPixels / total).toFixed(1)} % of the area is valid after masking.`);
  return validPixels;
}

/** Pixels and hectares per class over the valid area (areas from the grid, metric even for EPSG:4326). */
export function classAreas(preset: Preset, classes: Uint8Array, grid: Grid, validPixels: number): ClassArea[] {
  const pixels = new Float64Array(256);
  const m2 = new Float64Array(256);
  accumulateClassAreas(classes, grid.width, grid.height, grid, 0, pixels, m2);
  return preset.classes.map((c) => ({
    value: c.value, name: c.name, pixels: pixels[c.value]!, hectares: m2[c.value]! / 10_000,
    percent: validPixels ? (100 * pixels[c.value]!) / validPixels : 0,
  }));
}

/** Flag implausible radiometry: many negative reflectances suggest a wrong offset (baseline 04.00 rule). */
function checkRadiometry(arrays: BandArrays, where: string, warnings: string[]): void {
  for (const [band, arr] of Object.entries(arrays)) {
    let neg = 0;
    let finite = 0;
    for (let i = 0; i < arr!.length; i++) {
      const v = arr![i]!;
      if (v === v) { finite++; if (v < 0) neg++; }
    }
    if (finite && neg / finite > 0.01) {
      warnings.push(`${where}: ${(100 * neg / finite).toFixed(1)} % of ${band} reflectances are negative — the radiometric offset is probably wrong (check --offset; baseline 04.00+ products need −1000 only once).`);
    }
  }
}
