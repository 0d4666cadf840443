/**
 * A scene on disk: which file and sample holds each Sentinel-2 band, on what grid, with what radiometry.
 * Understands a folder of per-band GeoTIFFs (OSCD, SAFE-like exports, COG tiles), a multi-band GeoTIFF
 * (band descriptions or --bands), a STAC Item JSON file, and 8-bit PNG false-colour patches (OMBRIA).
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { OutputInfo } from 'sharp';
import {
  BandMapMismatchError, InputNotFoundError, MissingBandError, S2ChangeError, UsageError,
} from '../errors.js';
import { canonicalBand, type BandName } from '../indices/bands.js';
import { PIXEL_CRS, type Grid, type Window } from '../raster/grid.js';
import { openTiff, openTiffFile, type ReaderLimits, type SampleArray, type TiffFile, type TiffImage } from './tiff/index.js';
import { tiffOverviews, type BandOverview } from './overviews.js';
import { loadStacItemScene, loadStacItemUrl, remoteOpener, type FetchStats, type RemoteReadOptions } from './stac-scene.js';

export type LayerName = BandName | 'SCL';

/** How stored values become reflectance: reflectance = (value + offset) × scale; `nodata` values become NaN. */
export interface Radiometry {
  scale: number;
  offset: number;
  nodata: number | null;
  /** Why these numbers: "GDAL metadata", "STAC raster:bands", "baseline 04.00 → offset −1000", "assumed …". */
  source: string;
}

/** Where one band of a scene lives. */
export interface BandRef {
  readonly name: LayerName;
  /** File path or URL. */
  readonly href: string;
  /** 0-based sample (band) index within the file. */
  readonly sample: number;
  readonly grid: Grid;
  readonly radiometry: Radiometry;
  /** Class bands (SCL) are resampled by nearest neighbour and never scaled. */
  readonly kind: 'reflectance' | 'class';
  /** The file's tile size, for tiled files (the block engine aligns its blocks with it). */
  readonly tile?: { width: number; height: number };
  /** Reads a window of the stored values, into a new array the caller owns (it may `release` it). */
  readStored(window: Window): Promise<SampleArray>;
  /**
   * Tiled files only: a window that is exactly one whole tile, with a horizontal predictor left in place
   * (`predicted`) for the caller to undo in its own pass, in a new array the caller owns; null for any other window
   * (use `readStored`).
   */
  readStoredTile?(window: Window): Promise<{ data: SampleArray; predicted: boolean } | null>;
  /** The band's reduced-resolution copies in its file (COG overviews), finest first; absent or empty for none. */
  readonly overviews?: readonly BandOverview[];
}

export interface Scene {
  /** What the user passed. */
  readonly input: string;
  readonly format: 'band-folder' | 'multiband-tiff' | 'stac-item' | 'png';
  readonly bands: ReadonlyMap<LayerName, BandRef>;
  readonly georeferenced: boolean;
  /** Product facts for provenance (level, date, baseline, platform, files). */
  readonly provenance: Record<string, unknown>;
  readonly warnings: string[];
  /** For scenes read over HTTP: bytes and requests fetched so far (item JSON + range requests). */
  fetchStats?(): FetchStats;
  close(): Promise<void>;
}

export interface SceneOptions {
  /** Band names in file order for multi-band files and PNGs (e.g. ["B02","B03","B04","B08","B12"]). */
  bands?: string[];
  /** Override the radiometric scale / offset of every reflectance band. */
  scale?: number;
  offset?: number;
  limits?: Partial<ReaderLimits>;
  /** Used for areas of non-georeferenced inputs (OMBRIA PNGs): metres per pixel, default 10. */
  assumedPixelSize?: number;
  /** A separate SCL GeoTIFF for this date (e.g. beside a multi-band BOA file). */
  sclPath?: string;
  /** How http(s) inputs are read (URL policy, cache, byte budget); default: public hosts only, no cache, no cap. */
  remote?: RemoteReadOptions;
  /**
   * Move every layer's georeferencing by this many CRS units (subtracted from the geotransform origins): the
   * co-registration of the after date onto the before date (`src/pipeline/coregistration.ts`). Readers that
   * resample by geotransform then apply the shift (bilinear), on the whole-array and the block paths alike.
   */
  groundShift?: GroundShift;
}

/** A correction of a scene's georeferencing, in CRS units: origins move by (−x, −y). */
export interface GroundShift {
  x: number;
  y: number;
}

function shiftGrid(g: Grid, s: GroundShift): Grid {
  const t = g.transform;
  return { ...g, transform: [t[0] - s.x, t[1], t[2], t[3] - s.y, t[4], t[5]] };
}

/**
 * The scene with every layer (bands, SCL) and its overviews moved by `shift` (see {@link SceneOptions.groundShift});
 * the readers are the scene's own, so closing either closes both.
 */
export function shiftScene(scene: Scene, shift: GroundShift): Scene {
  if (shift.x === 0 && shift.y === 0) return scene;
  const bands = new Map<LayerName, BandRef>();
  for (const [name, ref] of scene.bands) {
    bands.set(name, {
      ...ref, grid: shiftGrid(ref.grid, shift),
      overviews: ref.overviews?.map((o) => ({ grid: shiftGrid(o.grid, shift), readStored: (w: Window) => o.readStored(w) })),
    });
  }
  return { ...scene, bands };
}

const BAND_IN_NAME = /(?:^|[^a-z0-9])(b(?:0?[1-9]|1[0-2]|8a))(?=[^a-z0-9]|$)/i;
const SCL_IN_NAME = /(?:^|[^a-z0-9])scl(?=[^a-z0-9]|$)/i;
const TIFF_EXT = /\.tiff?$/i;

/** The band a file name carries (B04.tif, T31UDQ_20170829_B04.tif, …_B8A.tif, SCL.tif), or null. */
export function layerFromFileName(file: string): LayerName | null {
  const stem = path.basename(file).replace(TIFF_EXT, '');
  if (SCL_IN_NAME.test(stem)) return 'SCL';
  const m = BAND_IN_NAME.exec(stem);
  return m ? canonicalBand(m[1]!) : null;
}

/**
 * Open SRC as a scene: a folder of band files, a multi-band GeoTIFF, a STAC item (.json) or a PNG; or an http(s)
 * URL of a STAC item or of a (multi-band) COG, read with HTTP range requests (`opts.remote`).
 */
export async function openScene(src: string, opts: SceneOptions = {}): Promise<Scene> {
  const scene = await openSceneWithScl(src, opts);
  return opts.groundShift ? shiftScene(scene, opts.groundShift) : scene;
}

async function openSceneWithScl(src: string, opts: SceneOptions): Promise<Scene> {
  const scene = await openSceneOnly(src, opts);
  if (!opts.sclPath) return scene;
  try {
    const file = await openTiffFile(opts.sclPath, opts.limits);
    const img = fullResolution(file, opts.sclPath);
    const bands = new Map(scene.bands);
    bands.set('SCL', tiffBand('SCL', opts.sclPath, file, img, 0,
      { scale: 1, offset: 0, nodata: img.nodata ?? 0, source: 'class band: values used as stored' }, 'class'));
    return {
      ...scene, bands, provenance: { ...scene.provenance, scl: path.basename(opts.sclPath) },
      close: async () => { await file.close(); await scene.close(); },
    };
  } catch (err) {
    await scene.close();
    throw err;
  }
}

async function openSceneOnly(src: string, opts: SceneOptions): Promise<Scene> {
  if (/^https?:\/\//i.test(src)) return openUrlScene(src, opts);
  let st;
  try {
    st = await stat(src);
  } catch {
    throw new InputNotFoundError('no such file or folder', {
      input: src, expected: 'a folder of band GeoTIFFs, a multi-band GeoTIFF, a STAC item .json or a PNG',
      found: 'nothing at that path', fix: 'Check the path (relative paths start from the current folder)',
    });
  }
  if (st.isDirectory()) return openBandFolder(src, opts);
  if (/\.json$/i.test(src)) {
    const scene = await loadStacItemScene(src, JSON.parse(await readFile(src, 'utf8')) as unknown, opts);
    return scene;
  }
  if (/\.png$/i.test(src)) return openPng(src, opts);
  return openMultiband(src, opts);
}

/** A URL: a COG (path ends in .tif/.tiff) as a multi-band file, anything else as a STAC item. */
async function openUrlScene(url: string, opts: SceneOptions): Promise<Scene> {
  const opener = remoteOpener(opts.remote);
  if (!TIFF_EXT.test(new URL(url).pathname)) return loadStacItemUrl(url, opts, opener);
  const source = opener.open(url);
  let tiff: TiffFile;
  try {
    tiff = await openTiff(source, opts.limits);
  } catch (err) {
    await source.close?.().catch(() => undefined);
    throw err;
  }
  const scene = await openMultiband(url, opts, tiff);
  return { ...scene, fetchStats: () => opener.stats() };
}

/** A folder whose file names carry the band: B04.tif, T31UDQ_20170829_B04.tif, …_B8A.tif, SCL.tif. */
async function openBandFolder(dir: string, opts: SceneOptions): Promise<Scene> {
  const names = (await readdir(dir)).filter((n) => TIFF_EXT.test(n)).sort();
  const byBand = new Map<LayerName, string>();
  for (const n of names) {
    const layer = layerFromFileName(n);
    if (!layer) continue;
    const prev = byBand.get(layer);
    if (prev) {
      throw new UsageError('two files claim the same band', {
        input: dir, expected: `one file for ${layer}`, found: `${prev} and ${n}`,
        fix: 'Move the extra file elsewhere, or point --before/--after at a folder holding one date only',
      });
    }
    byBand.set(layer, n);
  }
  if (byBand.size === 0) {
    throw new MissingBandError('no band files found in folder', {
      input: dir, expected: 'GeoTIFFs whose names carry the band, e.g. B04.tif or T31UDQ_20170829_B04.tif',
      found: names.length ? names.slice(0, 6).join(', ') : 'no .tif files', fix: 'Rename the files or pass a multi-band file with --bands',
    });
  }
  const files: TiffFile[] = [];
  const bands = new Map<LayerName, BandRef>();
  const warnings: string[] = [];
  const meta = await folderProductMetadata(dir);
  try {
    for (const [layer, name] of byBand) {
      const href = path.join(dir, name);
      const file = await openTiffFile(href, opts.limits);
      files.push(file);
      const img = fullResolution(file, href);
      const kind = layer === 'SCL' ? 'class' : 'reflectance';
      const radiometry = kind === 'class'
        ? { scale: 1, offset: 0, nodata: img.nodata ?? 0, source: 'class band: values used as stored' }
        : integerRadiometry(img, 0, opts, meta.offset, meta.source);
      bands.set(layer, tiffBand(layer, href, file, img, 0, radiometry, kind));
    }
  } catch (err) {
    await Promise.all(files.map((f) => f.close()));
    throw err;
  }
  return {
    input: dir, format: 'band-folder', bands, georeferenced: true, warnings,
    provenance: { files: [...byBand.values()], ...meta.provenance },
    close: async () => { await Promise.all(files.map((f) => f.close())); },
  };
}

/** One GeoTIFF holding several bands, named by --bands or by the file's band descriptions. */
async function openMultiband(file: string, opts: SceneOptions, opened?: TiffFile): Promise<Scene> {
  const tiff = opened ?? await openTiffFile(file, opts.limits);
  try {
    const img = fullResolution(tiff, file);
    const names = bandNamesFor(img, file, opts.bands);
    const bands = new Map<LayerName, BandRef>();
    const warnings: string[] = [];
    let floatScale: Radiometry | null = null;
    if (img.sampleType === 'float32' || img.sampleType === 'float64') floatScale = await floatRadiometry(img, file, opts);
    names.forEach((layer, sample) => {
      if (!layer) return;
      const kind = layer === 'SCL' ? 'class' : 'reflectance';
      const radiometry = kind === 'class'
        ? { scale: 1, offset: 0, nodata: img.nodata ?? 0, source: 'class band: values used as stored' }
        : floatScale ?? integerRadiometry(img, sample, opts, 0, 'no product metadata: offset 0 assumed (processing baseline before 04.00)');
      bands.set(layer, tiffBand(layer, file, tiff, img, sample, radiometry, kind));
    });
    return {
      input: file, format: 'multiband-tiff', bands, georeferenced: true, warnings,
      provenance: { file: path.basename(file), bandOrder: names.map((n) => n ?? '-').join(','), sampleType: img.sampleType },
      close: () => tiff.close(),
    };
  } catch (err) {
    await tiff.close();
    throw err;
  }
}

function fullResolution(file: TiffFile, href: string): TiffImage {
  const img = file.images[0]!;
  if (!img.grid) {
    throw new S2ChangeError('UNSUPPORTED_CRS', 'the image is not georeferenced', {
      input: href, expected: 'a GeoTIFF with a CRS (GeoKeys) and a geotransform',
      found: img.georefWarning ?? 'no geotransform or CRS', fix: 'Assign one with gdal_edit.py -a_srs EPSG:<code> -a_ullr …',
    });
  }
  return img;
}

/** Names for each sample of a multi-band image: from --bands, else from band descriptions ("B2", "B8A", "SCL"). */
function bandNamesFor(img: TiffImage, file: string, given?: string[]): (LayerName | null)[] {
  if (given) {
    if (given.length !== img.samplesPerPixel) {
      throw new BandMapMismatchError('--bands does not match the band count', {
        input: file, expected: `${img.samplesPerPixel} band names (the file has ${img.samplesPerPixel} bands)`,
        found: `${given.length}: ${given.join(',')}`, fix: `Name every band in file order, using - for bands to ignore`,
      });
    }
    return given.map((g, i) => {
      if (g === '-' || g === '') return null;
      if (/^scl$/i.test(g)) return 'SCL';
      const c = canonicalBand(g);
      if (!c) {
        throw new UsageError('unknown band name in --bands', {
          input: file, expected: 'Sentinel-2 names B1…B12, B8A, SCL (or - to skip)', found: `"${g}" at position ${i + 1}`,
        });
      }
      return c;
    });
  }
  const fromDescriptions = img.bandDescriptions.map((d) => (d ? (/^scl$/i.test(d) ? 'SCL' : canonicalBand(d)) : null));
  if (fromDescriptions.every((d) => d !== null)) return fromDescriptions as LayerName[];
  if (img.samplesPerPixel === 1) {
    // A single-band file named like its band (B04.tif, T29RKH_20200219_B04.tif, SCL.tif).
    const layer = layerFromFileName(file);
    if (layer) return [layer];
  }
  throw new BandMapMismatchError('cannot tell which band is which', {
    input: file, expected: 'band descriptions naming Sentinel-2 bands, or --bands',
    found: `${img.samplesPerPixel} bands with descriptions [${img.bandDescriptions.map((d) => d ?? '?').join(', ')}]`,
    fix: `Pass --bands with ${img.samplesPerPixel} names in file order, e.g. --bands ${defaultExample(img.samplesPerPixel)}`,
  });
}

function defaultExample(n: number): string {
  if (n === 13) return 'B1,B2,B3,B4,B5,B6,B7,B8,B8A,B9,B10,B11,B12';
  if (n === 5) return 'B2,B3,B4,B8,B12';
  return Array.from({ length: n }, (_, i) => ['B2', 'B3', 'B4', 'B8', 'B11', 'B12'][i] ?? '-').join(',');
}

/**
 * Integer Sentinel-2 DN: reflectance = (DN + offset) / 10000, DN 0 = nodata unless the file says otherwise.
 * Metadata scale/offset (GDAL) win; then product metadata found beside the files; then the user's override.
 */
function integerRadiometry(img: TiffImage, sample: number, opts: SceneOptions, productOffset: number, productSource: string): Radiometry {
  const gScale = img.bandScales[sample];
  const gOffset = img.bandOffsets[sample];
  let r: Radiometry;
  if (gScale != null && gScale !== 1) {
    // GDAL convention: value = stored × scale + offset → reflectance = (stored + offset/scale) × scale.
    r = { scale: gScale, offset: (gOffset ?? 0) / gScale, nodata: img.nodata ?? 0, source: 'GDAL metadata scale/offset' };
  } else {
    r = { scale: 1e-4, offset: productOffset, nodata: img.nodata ?? 0, source: `Sentinel-2 DN / 10000; ${productSource}` };
  }
  if (opts.scale !== undefined) r = { ...r, scale: opts.scale, source: `${r.source}; scale overridden by --scale` };
  if (opts.offset !== undefined) r = { ...r, offset: opts.offset, source: `${r.source}; offset overridden by --offset` };
  return r;
}

/**
 * Float composites (e.g. Google Earth Engine exports) may hold reflectance (0–1) or reflectance × 10000.
 * Decide from the data: a median above 2 cannot be a reflectance, so it is scaled by 1/10000.
 */
async function floatRadiometry(img: TiffImage, file: string, opts: SceneOptions): Promise<Radiometry> {
  const w = Math.min(img.width, 256);
  const h = Math.min(img.height, 256);
  const [probe] = await img.readWindow({ x: 0, y: 0, width: w, height: h }, [0]);
  const vals = Array.from(probe!).filter((v) => Number.isFinite(v) && v !== img.nodata).sort((a, b) => a - b);
  const median = vals.length ? vals[vals.length >> 1]! : 0;
  let r: Radiometry = median > 2
    ? { scale: 1e-4, offset: 0, nodata: img.nodata, source: `float values look like reflectance × 10000 (median of band 1 = ${median.toFixed(0)})` }
    : { scale: 1, offset: 0, nodata: img.nodata, source: `float values look like reflectance (median of band 1 = ${median.toFixed(3)})` };
  if (opts.scale !== undefined) r = { ...r, scale: opts.scale, source: `${r.source}; scale overridden by --scale` };
  if (opts.offset !== undefined) r = { ...r, offset: opts.offset, source: `${r.source}; offset overridden by --offset` };
  void file;
  return r;
}

/** Product facts from a STAC item or MTD file beside per-band files (e.g. the 29RKH COG folder). */
async function folderProductMetadata(dir: string): Promise<{ offset: number; source: string; provenance: Record<string, unknown> }> {
  const jsons = (await readdir(dir)).filter((n) => n.endsWith('.json'));
  for (const j of jsons) {
    try {
      const item = JSON.parse(await readFile(path.join(dir, j), 'utf8')) as { type?: string; properties?: Record<string, unknown> };
      if (item.type !== 'Feature' || !item.properties) continue;
      const p = item.properties;
      const baseline = typeof p['s2:processing_baseline'] === 'string' ? p['s2:processing_baseline'] : null;
      const applied = p['earthsearch:boa_offset_applied'];
      const newBaseline = baseline !== null && Number.parseFloat(baseline) >= 4;
      const offset = newBaseline && applied !== true ? -1000 : 0;
      const source = baseline === null
        ? `STAC item ${j} has no s2:processing_baseline: offset 0 assumed`
        : `STAC item ${j}: processing baseline ${baseline}${applied !== undefined ? `, boa_offset_applied ${String(applied)}` : ''} → offset ${offset}`;
      return {
        offset, source,
        provenance: {
          stacItem: j, datetime: p['datetime'], platform: p['platform'], processingBaseline: baseline,
          productId: p['s2:product_uri'] ?? p['sentinel:product_id'] ?? null, cloudCover: p['eo:cloud_cover'] ?? null,
        },
      };
    } catch {
      continue;
    }
  }
  return { offset: 0, source: 'no product metadata beside the files: offset 0 assumed (processing baseline before 04.00); pass --offset -1000 for baseline 04.00+ products', provenance: {} };
}

function tiffBand(name: LayerName, href: string, file: TiffFile, img: TiffImage, sample: number, radiometry: Radiometry,
  kind: 'reflectance' | 'class'): BandRef {
  return {
    name, href, sample, grid: img.grid!, radiometry, kind, overviews: tiffOverviews(file, img, sample),
    async readStored(window) {
      const [a] = await img.readWindow(window, [sample]);
      return a!;
    },
    readStoredTile: img.samplesPerPixel === 1 ? (window) => img.readWholeTile(window, { keepPredictor: true }) : undefined,
    tile: img.tiled ? { width: img.tileWidth, height: img.tileHeight } : undefined,
  };
}

/** 8-bit PNG patches (OMBRIA false colour): not reflectance, not georeferenced; areas assume `assumedPixelSize`. */
async function openPng(file: string, opts: SceneOptions): Promise<Scene> {
  let raw: { data: Buffer; info: OutputInfo };
  try {
    // Loaded here only: sharp costs ~0.1 s of start-up, which block-engine workers and GeoTIFF runs never need.
    const { default: sharp } = await import('sharp');
    raw = await sharp(file).raw().toBuffer({ resolveWithObject: true });
  } catch (err) {
    throw new S2ChangeError('NOT_A_TIFF', 'cannot decode the image', {
      input: file, expected: 'a PNG image', found: String((err as Error).message), cause: err,
    });
  }
  const { width, height, channels } = raw.info;
  if (!opts.bands) {
    throw new BandMapMismatchError('a PNG carries no band names', {
      input: file, expected: `--bands naming its ${channels} channels in order`, found: 'no --bands',
      fix: 'For OMBRIA patches use --bands B11,B08,B03 (R = SWIR 1, G = NIR, B = green)',
    });
  }
  const given = opts.bands.length === channels ? opts.bands : opts.bands.length === 3 && channels === 4 ? [...opts.bands, '-'] : null;
  if (!given) {
    throw new BandMapMismatchError('--bands does not match the channel count', {
      input: file, expected: `${channels} names`, found: `${opts.bands.length}: ${opts.bands.join(',')}`,
    });
  }
  const px = opts.assumedPixelSize ?? 10;
  const grid: Grid = { crs: PIXEL_CRS, transform: [0, px, 0, 0, 0, -px], width, height };
  const bands = new Map<LayerName, BandRef>();
  given.forEach((g, c) => {
    if (g === '-') return;
    const layer = canonicalBand(g);
    if (!layer) throw new UsageError('unknown band name in --bands', { input: file, expected: 'B1…B12, B8A or -', found: g });
    const plane = new Uint8Array(width * height);
    for (let i = 0; i < plane.length; i++) plane[i] = raw.data[i * channels + c]!;
    bands.set(layer, {
      name: layer, href: file, sample: c, grid, kind: 'reflectance',
      radiometry: { scale: 1 / 255, offset: 0, nodata: null, source: '8-bit display stretch / 255 — NOT reflectance' },
      async readStored(w: Window) {
        const out = new Uint8Array(w.width * w.height);
        for (let y = 0; y < w.height; y++) out.set(plane.subarray((w.y + y) * width + w.x, (w.y + y) * width + w.x + w.width), y * w.width);
        return out;
      },
    });
  });
  return {
    input: file, format: 'png', bands, georeferenced: false,
    warnings: [
      `${path.basename(file)} is an 8-bit display image, not reflectance: index values are approximate.`,
      `${path.basename(file)} is not georeferenced: areas assume ${px} m pixels and no GeoJSON is written.`,
    ],
    provenance: { file: path.basename(file), channels: given.join(','), note: 'false-colour PNG, not reflectance, not georeferenced' },
    close: async () => {},
  };
}
