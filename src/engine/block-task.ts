/**
 * What one worker does for one block: read the bands of both dates on the block's grid (only the input tiles the
 * block needs; 20 m bands resampled with a halo), mask, run the preset's own per-pixel rules on the block, count
 * areas, and encode the block's output tiles. Also encodes overview tiles handed back by the main thread.
 * Runs in piscina workers (`block-worker.ts`) or in-process (tests, `threads: 0`).
 */
import type { BandName } from '../indices/bands.js';
import type { BandArrays } from '../indices/registry.js';
import { getPreset } from '../change/presets/index.js';
import { vegetationClass } from '../change/presets/vegetation.js';
import { severityClass } from '../change/presets/wildfire.js';
import { NODATA_CLASS } from '../change/presets/types.js';
import type { Preset, PresetOptions } from '../change/presets/types.js';
import {
  boundsToWindow, gridBounds, pixelAreaM2, sameCrs, sameGrid, windowGrid, type Grid, type Window,
} from '../raster/grid.js';
import { sclMask } from '../raster/scl-mask.js';
import { createTileEncoder, reduceBand, type CogHeader, type TileEncoder } from '../io/cog-writer.js';
import { openScene, type BandRef, type LayerName, type Scene, type SceneOptions } from '../io/scene.js';
import { readOnGrid, toPhysical } from '../pipeline/align.js';
import { growWindow } from './plan.js';

/** How a worker opens one date: the same arguments `detect()` gives `openScene`. */
export interface SceneSpec {
  src: string;
  opts: SceneOptions;
}

/** Streamed Otsu: histogram of the preset's decision value over a fixed range. */
export interface OtsuPlan {
  min: number;
  max: number;
  bins: number;
  /** Histogram |value| instead of value (vegetation thresholds |ΔNDVI|). */
  abs: boolean;
}

/** Everything a worker needs for a run; sent once as piscina `workerData`. */
export interface EngineConfig {
  before: SceneSpec | null;
  after: SceneSpec;
  preset: string;
  bands: BandName[];
  options: PresetOptions;
  target: Grid;
  cloudBuffer: number;
  classesHeader: CogHeader;
  /** Null when the float product is not written (`--no-float`). */
  productHeader: CogHeader | null;
  /** Whether the outputs have overviews (then blocks also return their 2x-reduced pieces). */
  overviews: boolean;
  otsu: OtsuPlan | null;
  /** Quicklook reduction (classify mode), or null for none. */
  quicklook?: QuicklookPlan | null;
}

/**
 * What blocks contribute to the quicklooks: the integer reduction factor of the whole grid and the RGB layers of
 * each date (null: no picture of that date). Layers are reduced by a NaN-aware f x f mean, classes by the pixel at
 * each cell's centre, exactly as `blockMean` / `blockNearest` do on whole arrays.
 */
export interface QuicklookPlan {
  factor: number;
  afterRgb: LayerName[] | null;
  beforeRgb: LayerName[] | null;
}

/**
 * A block's share of the quicklook cells it touches: cells [cx, cx + width) x [cy, cy + height) of the reduced grid.
 * `layers` are after R, G, B, before R, G, B (those planned) and the product: per-cell sums and finite counts.
 * `classes` holds the class at a cell's centre pixel where `hasClass` is 1 (the centre lies in this block).
 */
export interface QuicklookPiece {
  cx: number;
  cy: number;
  width: number;
  height: number;
  sums: Float64Array[];
  counts: Uint32Array[];
  classes: Uint8Array;
  hasClass: Uint8Array;
}

export type EngineTask =
  | { kind: 'block'; mode: 'classify' | 'histogram'; row: number; col: number; window: Window; threshold: number }
  | { kind: 'tile'; output: 'classes' | 'product'; level: number; row: number; col: number; width: number; height: number;
    data: Uint8Array | Float32Array; reduce: boolean };

/** Result of a 'block' task. */
export interface BlockResult {
  kind: 'block';
  row: number;
  col: number;
  /** Encoded full-resolution tiles (classify mode). */
  classBytes: Uint8Array | null;
  productBytes: Uint8Array | null;
  /** 2x-reduced pieces for the first overview (nearest for classes, average for the product). */
  classPiece: Uint8Array | null;
  productPiece: Float32Array | null;
  /** Pixels and m² per class value. */
  classPixels: Float64Array;
  classM2: Float64Array;
  nodata: number;
  cloud: number;
  /** Per `${role}:${band}`: [negative, finite] reflectance counts, for the radiometry plausibility warning. */
  radiometry: Record<string, [number, number]>;
  /** Histogram counts (histogram mode). */
  histogram: Float64Array | null;
  /** Decoded input values (for MB/s). */
  valuesRead: number;
  /** Quicklook contribution (classify mode with a quicklook plan). */
  quicklook?: QuicklookPiece | null;
}

/** Result of a 'tile' task: the encoded overview tile and its own 2x-reduced piece. */
export interface TileResult {
  kind: 'tile';
  bytes: Uint8Array;
  piece: Uint8Array | Float32Array | null;
}

/** Per-run state held by one worker: open scenes, the preset and the tile encoders. */
export interface EngineContext {
  config: EngineConfig;
  preset: Preset;
  before: Scene | null;
  after: Scene;
  encodeClasses: TileEncoder;
  encodeProduct: TileEncoder | null;
  close(): Promise<void>;
}

/** Open the scenes and encoders of a run (once per worker). */
export async function openEngineContext(config: EngineConfig): Promise<EngineContext> {
  const after = await openScene(config.after.src, config.after.opts);
  let before: Scene | null = null;
  try {
    if (config.before) before = await openScene(config.before.src, config.before.opts);
  } catch (err) {
    await after.close();
    throw err;
  }
  return {
    config, preset: getPreset(config.preset), before, after,
    encodeClasses: createTileEncoder(config.classesHeader),
    encodeProduct: config.productHeader ? createTileEncoder(config.productHeader) : null,
    async close() {
      await after.close();
      await before?.close();
    },
  };
}

/**
 * A band on the block grid. When the band's pixels coincide with the block's (10 m band on a 10 m target) only the
 * block's own window is read; otherwise `readOnGrid` reads the window plus its interpolation halo and resamples
 * exactly as the whole-array path does.
 */
async function readBand(ref: BandRef, grid: Grid): Promise<Float32Array> {
  if (sameCrs(ref.grid.crs, grid.crs)) {
    const w = boundsToWindow(ref.grid, gridBounds(grid));
    if (w && w.width === grid.width && w.height === grid.height && sameGrid(windowGrid(ref.grid, w), grid)) {
      const stored = await ref.readStored(w);
      return stored instanceof Uint16Array && ref.kind !== 'class' ? uint16ToPhysical(stored, ref) : toPhysical(stored, ref);
    }
  }
  return readOnGrid(ref, grid);
}

/** `toPhysical` for uint16 reflectance bands (the Sentinel-2 case), monomorphic: the same float32 values. */
function uint16ToPhysical(stored: Uint16Array, ref: BandRef): Float32Array {
  const out = new Float32Array(stored.length);
  const { scale, offset, nodata } = ref.radiometry;
  const nd = nodata !== null && !Number.isNaN(nodata) ? nodata : -1; // -1: no uint16 value matches
  for (let i = 0; i < stored.length; i++) {
    const v = stored[i]!;
    out[i] = v === nd ? NaN : (v + offset) * scale;
  }
  return out;
}

/** Run one task. */
export async function runTask(ctx: EngineContext, task: EngineTask): Promise<BlockResult | TileResult> {
  return task.kind === 'block' ? runBlock(ctx, task) : runTile(ctx, task);
}

function runTile(ctx: EngineContext, t: Extract<EngineTask, { kind: 'tile' }>): TileResult {
  const classes = t.output === 'classes';
  const encode = classes ? ctx.encodeClasses : ctx.encodeProduct;
  if (!encode) throw new Error('internal: product tile requested but no product is written');
  const bytes = encode(t.level, t.row, t.col, [t.data]);
  const header = classes ? ctx.config.classesHeader : ctx.config.productHeader!;
  const piece = t.reduce ? reduceBand(t.data, t.width, t.height, classes ? 'nearest' : 'average', header.nodata ?? null) : null;
  return { kind: 'tile', bytes, piece };
}

async function runBlock(ctx: EngineContext, t: Extract<EngineTask, { kind: 'block' }>): Promise<BlockResult> {
  const { config, preset } = ctx;
  const { target, bands } = config;
  const win = t.window;
  const grid = windowGrid(target, win);
  const n = win.width * win.height;
  let valuesRead = 0;
  const radiometry: Record<string, [number, number]> = {};

  const fused = FUSED[preset.name];
  const fusedPath = Boolean(fused && ctx.before);
  const readDate = async (scene: Scene, role: string) => {
    const arrays: BandArrays = {};
    for (const b of bands) {
      const a = await readBand(scene.bands.get(b)!, grid);
      arrays[b] = a;
      valuesRead += a.length;
      if (fusedPath && bands.length === 2) continue; // counted in the fused pass below
      let neg = 0;
      let finite = 0;
      for (let i = 0; i < a.length; i++) {
        const v = a[i]!;
        if (v === v) { finite++; if (v < 0) neg++; }
      }
      radiometry[`${role}:${b}`] = [neg, finite];
    }
    // SCL: read with a halo as wide as the cloud buffer so the dilation matches the whole-array mask at block edges.
    const scl = scene.bands.get('SCL');
    let cloudMask: Uint8Array | null = null;
    if (scl) {
      const big = growWindow(win, config.cloudBuffer, target.width, target.height);
      const values = await readOnGrid(scl, windowGrid(target, big));
      valuesRead += values.length;
      const m = sclMask(values, big.width, big.height, { dilatePixels: config.cloudBuffer });
      cloudMask = new Uint8Array(n);
      const dx = win.x - big.x;
      const dy = win.y - big.y;
      for (let y = 0; y < win.height; y++) {
        const s = (y + dy) * big.width + dx;
        cloudMask.set(m.subarray(s, s + win.width), y * win.width);
      }
    }
    return { arrays, cloudMask };
  };
  const a = await readDate(ctx.after, 'after');
  const b = ctx.before ? await readDate(ctx.before, 'before') : null;

  // Two-date normalized-difference presets on two bands: one fused pass does radiometry counts, validity, the
  // math, the classes and the class areas, with exactly the results of the general path below.
  if (fused && b && bands.length === 2 && t.mode === 'classify') {
    const [p, q] = fused.pair(bands);
    const r = fusedBlock(a.arrays[p]!, a.arrays[q]!, b.arrays[p]!, b.arrays[q]!, a.cloudMask, b.cloudMask, win, target,
      fused.afterMinusBefore, fused.classify, t.threshold);
    radiometry[`after:${bands[0]}`] = r.radiometry[p === bands[0] ? 0 : 1]!;
    radiometry[`after:${bands[1]}`] = r.radiometry[p === bands[0] ? 1 : 0]!;
    radiometry[`before:${bands[0]}`] = r.radiometry[p === bands[0] ? 2 : 3]!;
    radiometry[`before:${bands[1]}`] = r.radiometry[p === bands[0] ? 3 : 2]!;
    return finishClassify(ctx, t, a.arrays, b.arrays, r.classes, r.product, r.classPixels, r.classM2, r.nodata, r.cloud, radiometry, valuesRead);
  }
  if (fusedPath && bands.length === 2) {
    // Histogram mode: the radiometry counts skipped above.
    for (const [role, d] of [['after', a], ['before', b!]] as const) {
      for (const band of bands) radiometry[`${role}:${band}`] = countRadiometry(d.arrays[band]!);
    }
  }

  // Validity exactly as the whole-array path: nodata on any used band of either date, then cloud/shadow/snow.
  const valid = new Uint8Array(n).fill(1);
  let nodata = 0;
  let cloud = 0;
  for (const d of [a, b]) {
    if (!d) continue;
    for (const arr of Object.values(d.arrays)) for (let i = 0; i < n; i++) if (valid[i] && arr![i] !== arr![i]) { valid[i] = 0; nodata++; }
  }
  for (const d of [a, b]) {
    if (!d?.cloudMask) continue;
    const m = d.cloudMask;
    for (let i = 0; i < n; i++) if (valid[i] && m[i]) { valid[i] = 0; cloud++; }
  }

  // The preset's own rules, on this block, with the scene-wide threshold fixed: fused for the two-date
  // normalized-difference presets, `preset.run` for the others.
  let classes: Uint8Array;
  let product: Float32Array | null;
  if (fused && b) {
    const [p, q] = fused.pair(bands);
    ({ classes, product } = fusedDifference(a.arrays[p]!, a.arrays[q]!, b.arrays[p]!, b.arrays[q]!, valid, fused.afterMinusBefore, fused.classify, t.threshold));
  } else {
    const options: PresetOptions = { ...config.options, threshold: t.threshold };
    const result = preset.run({ width: win.width, height: win.height, before: b?.arrays, after: a.arrays, valid, options });
    classes = result.classes;
    product = result.products[0]?.values ?? null;
  }

  const classPixels = new Float64Array(256);
  const classM2 = new Float64Array(256);
  let histogram: Float64Array | null = null;
  if (t.mode === 'histogram') {
    const o = config.otsu!;
    if (!product) throw new Error(`internal: preset ${preset.name} has no product to threshold`);
    histogram = new Float64Array(o.bins);
    const scale = o.bins / (o.max - o.min);
    for (let i = 0; i < n; i++) {
      if (!valid[i]) continue;
      let v = product[i]!;
      if (v !== v) continue;
      if (o.abs) v = Math.abs(v);
      let k = Math.floor((v - o.min) * scale);
      if (k < 0) k = 0;
      else if (k >= o.bins) k = o.bins - 1;
      histogram[k]!++;
    }
    return { kind: 'block', row: t.row, col: t.col, classBytes: null, productBytes: null, classPiece: null, productPiece: null,
      classPixels, classM2, nodata, cloud, radiometry, histogram, valuesRead };
  }

  for (let y = 0; y < win.height; y++) {
    const area = pixelAreaM2(target, win.y + y);
    const row = y * win.width;
    for (let x = 0; x < win.width; x++) {
      const v = classes[row + x]!;
      classPixels[v]!++;
      classM2[v]! += area;
    }
  }
  return finishClassify(ctx, t, a.arrays, b?.arrays, classes, product, classPixels, classM2, nodata, cloud, radiometry, valuesRead);
}

/** [negative, finite] counts of one band's reflectances. */
function countRadiometry(a: Float32Array): [number, number] {
  let neg = 0;
  let finite = 0;
  for (let i = 0; i < a.length; i++) {
    const v = a[i]!;
    if (v === v) { finite++; if (v < 0) neg++; }
  }
  return [neg, finite];
}

/** Classify mode, after the classes and product are known: encode tiles, overview pieces and quicklook cells. */
async function finishClassify(ctx: EngineContext, t: Extract<EngineTask, { kind: 'block' }>, afterArrays: BandArrays,
  beforeArrays: BandArrays | undefined, classes: Uint8Array, product: Float32Array | null, classPixels: Float64Array,
  classM2: Float64Array, nodata: number, cloud: number, radiometry: Record<string, [number, number]>, valuesRead: number): Promise<BlockResult> {
  const { config } = ctx;
  const { target } = config;
  const win = t.window;
  const grid = windowGrid(target, win);
  const a = { arrays: afterArrays };
  const b = beforeArrays ? { arrays: beforeArrays } : null;
  const classBytes = ctx.encodeClasses(0, t.row, t.col, [classes]);
  let productBytes: Uint8Array | null = null;
  let productPiece: Float32Array | null = null;
  if (ctx.encodeProduct && product) {
    productBytes = ctx.encodeProduct(0, t.row, t.col, [product]);
    if (config.overviews) productPiece = reduceBand(product, win.width, win.height, 'average', config.productHeader!.nodata ?? null);
  }
  const classPiece = config.overviews ? reduceBand(classes, win.width, win.height, 'nearest', null) : null;
  let quicklook: QuicklookPiece | null = null;
  if (config.quicklook) {
    const q = config.quicklook;
    const layers: Float32Array[] = [];
    for (const [scene, names, arrays] of [[ctx.after, q.afterRgb, a.arrays], [ctx.before, q.beforeRgb, b?.arrays]] as const) {
      if (!scene || !names) continue;
      for (const l of names) {
        const have = arrays?.[l as BandName];
        if (have) { layers.push(have); continue; }
        const v = await readBand(scene.bands.get(l)!, grid);
        valuesRead += v.length;
        layers.push(v);
      }
    }
    if (product) layers.push(product);
    quicklook = reduceForQuicklook(layers, classes, win, target.width, target.height, q.factor);
  }
  return { kind: 'block', row: t.row, col: t.col, classBytes, productBytes, classPiece, productPiece,
    classPixels, classM2, nodata, cloud, radiometry, histogram: null, valuesRead, quicklook };
}

/**
 * The quicklook cells a block touches: per layer the sum and count of finite values per cell, and the class of
 * each cell whose centre pixel (as in `blockNearest`) lies in the block.
 */
export function reduceForQuicklook(layers: Float32Array[], classes: Uint8Array, win: Window, width: number, height: number,
  factor: number): QuicklookPiece {
  const f = factor;
  const cx = Math.floor(win.x / f);
  const cy = Math.floor(win.y / f);
  const cw = Math.floor((win.x + win.width - 1) / f) - cx + 1;
  const ch = Math.floor((win.y + win.height - 1) / f) - cy + 1;
  const sums = layers.map(() => new Float64Array(cw * ch));
  const counts = layers.map(() => new Uint32Array(cw * ch));
  for (let k = 0; k < layers.length; k++) {
    const v = layers[k]!;
    const s = sums[k]!;
    const c = counts[k]!;
    for (let y = 0; y < win.height; y++) {
      const orow = (Math.floor((win.y + y) / f) - cy) * cw;
      const row = y * win.width;
      for (let x = 0; x < win.width; x++) {
        const val = v[row + x]!;
        if (val - val !== 0) continue; // NaN or ±Infinity
        const o = orow + Math.floor((win.x + x) / f) - cx;
        s[o]! += val;
        c[o]!++;
      }
    }
  }
  const out = new Uint8Array(cw * ch);
  const has = new Uint8Array(cw * ch);
  const half = Math.floor(f / 2);
  for (let j = 0; j < ch; j++) {
    const y = Math.min(height - 1, (cy + j) * f + half) - win.y;
    if (y < 0 || y >= win.height) continue;
    for (let i = 0; i < cw; i++) {
      const x = Math.min(width - 1, (cx + i) * f + half) - win.x;
      if (x < 0 || x >= win.width) continue;
      out[j * cw + i] = classes[y * win.width + x]!;
      has[j * cw + i] = 1;
    }
  }
  return { cx, cy, width: cw, height: ch, sums, counts, classes: out, hasClass: has };
}

/**
 * Two-date normalized-difference presets, fused into one pass: which bands make the index (x − y) / (x + y), the
 * sign of the difference, and the preset's own exported per-pixel class rule.
 */
const FUSED: Record<string, { pair: (bands: BandName[]) => [BandName, BandName]; afterMinusBefore: boolean; classify: (d: number, t: number) => number }> = {
  // NDVI = (B08 − B04) / (B08 + B04); chooseBands gives [B04, B08]; ΔNDVI = after − before.
  vegetation: { pair: (b) => [b[1]!, b[0]!], afterMinusBefore: true, classify: vegetationClass },
  // NBR = (NIR − B12) / (NIR + B12) with NIR = B08 or B8A; chooseBands gives [NIR, B12]; dNBR = before − after.
  wildfire: { pair: (b) => [b[0]!, b[1]!], afterMinusBefore: false, classify: severityClass },
};

/**
 * Index per date, difference and class in one loop, with the same float32 rounding steps as the whole-array
 * path (index stored as float32, difference stored as float32), so results are bit-identical.
 */
/**
 * The fused two-band, two-date pass of a classify block: per pixel, radiometry counts of the four bands, validity
 * (any NaN band → nodata, else a cloud mask → cloud), index per date, difference and class, then class pixels and
 * areas in row-major order — the same float32 rounding steps and summation order as the general path.
 */
function fusedBlock(x1: Float32Array, y1: Float32Array, x0: Float32Array, y0: Float32Array, cloud1: Uint8Array | null,
  cloud0: Uint8Array | null, win: Window, target: Grid, afterMinusBefore: boolean, classify: (d: number, t: number) => number,
  threshold: number) {
  const n = win.width * win.height;
  const classes = new Uint8Array(n);
  const product = new Float32Array(n);
  const classPixels = new Float64Array(256);
  const classM2 = new Float64Array(256);
  let nodata = 0;
  let cloud = 0;
  let f0 = 0, f1 = 0, f2 = 0, f3 = 0, n0 = 0, n1 = 0, n2 = 0, n3 = 0;
  for (let y = 0, i = 0; y < win.height; y++) {
    const area = pixelAreaM2(target, win.y + y);
    for (let x = 0; x < win.width; x++, i++) {
      const a = x1[i]!, b = y1[i]!, c = x0[i]!, e = y0[i]!;
      let ok = true;
      if (a === a) { f0++; if (a < 0) n0++; } else ok = false;
      if (b === b) { f1++; if (b < 0) n1++; } else ok = false;
      if (c === c) { f2++; if (c < 0) n2++; } else ok = false;
      if (e === e) { f3++; if (e < 0) n3++; } else ok = false;
      let v: number;
      if (!ok) { nodata++; product[i] = NaN; v = NODATA_CLASS; }
      else if ((cloud1 !== null && cloud1[i]) || (cloud0 !== null && cloud0[i])) { cloud++; product[i] = NaN; v = NODATA_CLASS; }
      else {
        const s1 = a + b;
        const s0 = c + e;
        const i1 = s1 === 0 || s1 !== s1 ? NaN : Math.fround((a - b) / s1);
        const i0 = s0 === 0 || s0 !== s0 ? NaN : Math.fround((c - e) / s0);
        const d = Math.fround(afterMinusBefore ? i1 - i0 : i0 - i1);
        product[i] = d;
        v = classify(d, threshold);
      }
      classes[i] = v;
      classPixels[v]!++;
      classM2[v]! += area;
    }
  }
  const radiometry: [number, number][] = [[n0, f0], [n1, f1], [n2, f2], [n3, f3]];
  return { classes, product, classPixels, classM2, nodata, cloud, radiometry };
}

function fusedDifference(x1: Float32Array, y1: Float32Array, x0: Float32Array, y0: Float32Array, valid: Uint8Array,
  afterMinusBefore: boolean, classify: (d: number, t: number) => number, threshold: number): { classes: Uint8Array; product: Float32Array } {
  const n = valid.length;
  const classes = new Uint8Array(n);
  const product = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    if (!valid[i]) { product[i] = NaN; classes[i] = NODATA_CLASS; continue; }
    const a = x1[i]!, b = y1[i]!, c = x0[i]!, e = y0[i]!;
    const s1 = a + b;
    const s0 = c + e;
    const i1 = s1 === 0 || s1 !== s1 ? NaN : Math.fround((a - b) / s1);
    const i0 = s0 === 0 || s0 !== s0 ? NaN : Math.fround((c - e) / s0);
    const d = Math.fround(afterMinusBefore ? i1 - i0 : i0 - i1);
    product[i] = d;
    classes[i] = classify(d, threshold);
  }
  return { classes, product };
}
