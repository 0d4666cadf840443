/**
 * What one worker does for one block: read the bands of both dates on the block's grid (only the input tiles the
 * block needs; 20 m bands resampled with a halo), mask, run the preset's own per-pixel rules on the block, count
 * areas, and encode the block's output tiles. Also encodes overview tiles handed back by the main thread.
 * Runs in piscina workers (`block-worker.ts`) or in-process (tests, `threads: 0`).
 */
import type { BandName } from '../indices/bands.js';
import type { BandArrays } from '../indices/registry.js';
import { getPreset } from '../change/presets/index.js';
import { vegetationRules } from '../change/presets/vegetation.js';
import { severityRules } from '../change/presets/wildfire.js';
import type { ClassRules } from '../change/class-rules.js';
import { maskUndefinedIndex } from '../change/presets/common.js';
import type { Preset, PresetOptions } from '../change/presets/types.js';
import {
  boundsToWindow, gridBounds, isGeographic, isGeoreferenced, pixelAreaM2, sameCrs, sameGrid, windowGrid, type Grid, type Window,
} from '../raster/grid.js';
import { createTileEncoder, reduceBand, sha256OfFile, type CogHeader, type TileEncoder } from '../io/cog-writer.js';
import { openScene, type BandRef, type LayerName, type Scene, type SceneOptions } from '../io/scene.js';
import { readOnGrid, toPhysical } from '../pipeline/align.js';
import { addAreasToIndexHistogram, addToIndexHistogram } from '../change/index-histogram.js';
import { accumulateClassAreas, addClassCounts, projectedPixelArea } from '../raster/class-areas.js';
import { deferClasses, hasMinArea, runMinAreaTask, type DeferredClasses, type MinAreaTask } from './min-area.js';
import { classifyFitted, runSceneTask, type FittedModel, type SceneBlockStats, type SceneTask } from './multivariate-blocks.js';
import type { SerializedError } from '../io/tiff/sandbox-protocol.js';
import { quicklookCellSums, runFusedKernel } from './fused-kernel.js';
import { sclCloudMask } from './mask-kernel.js';
import { undoHorizontal } from '../io/tiff/codecs.js';
import type { SampleArray } from '../io/tiff/types.js';
import { growWindow } from './plan.js';
import { release } from '../io/release.js';
import { readQuicklookLayer, rgbOverviews } from './quicklook-rgb.js';

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
  /** `--min-area` in m² (null: none): classify defers the classes to the min-area filter pass (`min-area.ts`). */
  minAreaM2?: number | null;
  /** The learned urban model's minimum object size in pixels (null: none), run in the same filter pass. */
  minPixels?: number | null;
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
  /**
   * RGB layers of a date read from the inputs' overviews by 'overview-rgb' tasks instead of reduced by the blocks
   * (`quicklook-rgb.ts`); null or absent: none. A date has layers in one of the two fields, not both.
   */
  afterOverviewRgb?: LayerName[] | null;
  beforeOverviewRgb?: LayerName[] | null;
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
  | { kind: 'block'; mode: 'classify' | 'histogram'; row: number; col: number; window: Window; threshold: number;
    /** generic/urban IR-MAD, PCA-k-means: the model fitted on the whole scene (`multivariate-blocks.ts`). */
    fitted?: FittedModel }
  | { kind: 'tile'; output: 'classes' | 'product'; level: number; row: number; col: number; width: number; height: number;
    data: Uint8Array | Float32Array; reduce: boolean }
  | MinAreaTask
  | SceneTask
  /** SHA-256 of a finished output file (done by an idle worker while the main thread makes the pictures). */
  | { kind: 'hash'; path: string; size: number }
  /** Layer `layer` (0 R, 1 G, 2 B) of a date's quicklook RGB, read from its overview (`QuicklookPlan.afterOverviewRgb`). */
  | { kind: 'overview-rgb'; role: 'after' | 'before'; layer: number };

/** Result of an 'overview-rgb' task: the layer's reflectance on the whole quicklook grid. */
export interface OverviewRgbResult {
  kind: 'overview-rgb';
  values: Float32Array;
}

/** Result of a 'hash' task. */
export interface HashResult {
  kind: 'hash';
  sha256: string;
}

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
  /** Pixels with valid bands whose index is not finite (class 255; `maskUndefinedIndex`), classify mode. */
  indexUndefined?: number;
  /** Per `${role}:${band}`: [negative, finite] reflectance counts, for the radiometry plausibility warning. */
  radiometry: Record<string, [number, number]>;
  /** Histogram counts (histogram mode). */
  histogram: Float64Array | null;
  /** Classify mode: the index histogram of the block's product (`index-histogram.ts`), null without a product. */
  indexHistogram?: Float64Array | null;
  /** Classify mode on geographic grids: the ground area (m²) per bin of that histogram. */
  indexHistogramM2?: Float64Array | null;
  /** Decoded input values (for MB/s). */
  valuesRead: number;
  /** Quicklook contribution (classify mode with a quicklook plan). */
  quicklook?: QuicklookPiece | null;
  /** With `--min-area`: classify mode's classes, deferred (no class tile or piece; class counts before the filter), and the filter pass's removed pixels. */
  minArea?: DeferredClasses | null;
  removedPixels?: number;
  /** A generic/urban statistics pass's share of the block (`multivariate-blocks.ts`). */
  scene?: SceneBlockStats | null;
}

/** What a worker returns instead of throwing: the task's error, serialized so that `reviveError` rebuilds its class. */
export interface WorkerFailure {
  kind: 'failure';
  error: SerializedError;
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
  /** Block-sized output arrays reused from block to block. */
  scratch: ScratchPool;
  close(): Promise<void>;
}

/**
 * Block-sized typed arrays handed out and taken back within one task, instead of a fresh megabyte-sized array per
 * block (zero-filled and page-faulted on first touch: ~2.5 ns per pixel in a micro-benchmark on this VM). Safe with
 * several blocks in flight in one thread (each takes its own arrays).
 */
export class ScratchPool {
  private readonly bytes: Uint8Array[] = [];
  private readonly floats: Float32Array[] = [];

  uint8(n: number): Uint8Array {
    const a = this.bytes.pop();
    return a && a.length === n ? a : new Uint8Array(n);
  }

  float32(n: number): Float32Array {
    const a = this.floats.pop();
    return a && a.length === n ? a : new Float32Array(n);
  }

  give(bytes: Uint8Array, floats: Float32Array): void {
    if (this.bytes.length < 8) this.bytes.push(bytes);
    if (this.floats.length < 8) this.floats.push(floats);
  }
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
    scratch: new ScratchPool(),
    async close() {
      await after.close();
      await before?.close();
    },
  };
}

/**
 * A band's values on a block, with the radiometry that turns them into reflectance: reflectance =
 * fround((value + offset) × scale), NaN where value is NaN or equals `nodata`. Bands read on their own grid keep
 * their stored uint16 DNs (the fused pass converts them in its loop, no float copy); resampled or other bands carry
 * physical float32 values with scale 1, offset 0, nodata NaN, for which the same formula is the identity.
 */
export interface BlockSamples {
  values: Uint16Array | Float32Array;
  scale: number;
  offset: number;
  nodata: number;
  /**
   * Row length when `values` are still differenced along each row (TIFF predictor 2, left for the fused kernel to
   * undo in its conversion pass), else 0.
   */
  predictedRow: number;
}

/**
 * A band on the block grid. When the band's pixels coincide with the block's (10 m band on a 10 m target) only the
 * block's own window is read; otherwise `readOnGrid` reads the window plus its interpolation halo and resamples
 * exactly as the whole-array path does.
 */
async function readSamples(ref: BandRef, grid: Grid): Promise<BlockSamples> {
  if (sameCrs(ref.grid.crs, grid.crs)) {
    const w = boundsToWindow(ref.grid, gridBounds(grid));
    if (w && w.width === grid.width && w.height === grid.height && sameGrid(windowGrid(ref.grid, w), grid)) {
      const tile = await ref.readStoredTile?.(w) ?? null;
      const stored = tile?.data ?? await ref.readStored(w);
      if (stored instanceof Uint16Array && ref.kind !== 'class') {
        const { scale, offset, nodata } = ref.radiometry;
        // -1: no uint16 value matches, so no pixel is nodata.
        return { values: stored, scale, offset, nodata: nodata !== null && !Number.isNaN(nodata) ? nodata : -1,
          predictedRow: tile?.predicted ? w.width : 0 };
      }
      if (tile?.predicted) undoRowDifferences(stored, w.width);
      return physicalSamples(toPhysical(stored, ref));
    }
  }
  return physicalSamples(await readOnGrid(ref, grid));
}

function physicalSamples(values: Float32Array): BlockSamples {
  return { values, scale: 1, offset: 0, nodata: NaN, predictedRow: 0 };
}

/** Undo TIFF predictor 2 in place on one-sample rows of `row` values. */
function undoRowDifferences(values: SampleArray, row: number): void {
  const bytes = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  undoHorizontal(bytes, values.BYTES_PER_ELEMENT, values.length / row, row, 1);
}

/**
 * Reflectance of a band's samples, as `toPhysical` gives it on the whole-array path. Row differences still in the
 * DNs are summed back in place first (and `predictedRow` cleared), so the kernel and this agree in either order.
 */
function physical(s: BlockSamples): Float32Array {
  if (s.values instanceof Float32Array) return s.values;
  if (s.predictedRow) {
    undoRowDifferences(s.values, s.predictedRow);
    s.predictedRow = 0;
  }
  return toPhysical(s.values, { radiometry: { scale: s.scale, offset: s.offset, nodata: s.nodata < 0 ? null : s.nodata, source: '' }, kind: 'reflectance' });
}

/** A band's reflectance on `grid`, exactly as `detect()` reads it there (the block reader's fast path when it can). */
export async function readReflectance(ref: BandRef, grid: Grid): Promise<Float32Array> {
  return physical(await readSamples(ref, grid));
}

/** Run one task. */
export async function runTask(ctx: EngineContext, task: EngineTask): Promise<EngineResult> {
  if (task.kind === 'hash') return { kind: 'hash', sha256: await sha256OfFile(task.path, task.size) };
  if (task.kind === 'overview-rgb') return runOverviewRgb(ctx, task);
  if (task.kind === 'min-area') return runMinAreaTask(ctx, task);
  if (task.kind === 'scene') return runSceneTask(ctx, task);
  if (task.kind === 'block' && task.fitted) return classifyFitted(ctx, task, task.fitted);
  return task.kind === 'block' ? runBlock(ctx, task) : runTile(ctx, task);
}

/** What a task returns. */
export type EngineResult = BlockResult | TileResult | HashResult | OverviewRgbResult;

async function runOverviewRgb(ctx: EngineContext, t: Extract<EngineTask, { kind: 'overview-rgb' }>): Promise<OverviewRgbResult> {
  const q = ctx.config.quicklook;
  const scene = t.role === 'after' ? ctx.after : ctx.before;
  const layers = t.role === 'after' ? q?.afterOverviewRgb : q?.beforeOverviewRgb;
  const refs = q && scene && layers ? rgbOverviews(scene, layers, ctx.config.target, q.factor) : null;
  const ref = refs?.[t.layer];
  if (!ref) throw new Error(`internal: no overview planned for layer ${t.layer} of the ${t.role} quicklook`);
  return { kind: 'overview-rgb', values: await readQuicklookLayer(ref, ctx.config.target, q!.factor) };
}

function runTile(ctx: EngineContext, t: Extract<EngineTask, { kind: 'tile' }>): TileResult {
  const classes = t.output === 'classes';
  const encode = classes ? ctx.encodeClasses : ctx.encodeProduct;
  if (!encode) throw new Error('internal: product tile requested but no product is written');
  const bytes = encode(t.level, t.row, t.col, [t.data]);
  const header = classes ? ctx.config.classesHeader : ctx.config.productHeader!;
  const piece = t.reduce ? reduceBand(t.data, t.width, t.height, classes ? 'nearest' : 'average', header.nodata ?? null) : null;
  release(t.data); // this worker's copy (in-process: the main thread's tile, which it no longer needs either)
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

  // Bands of a date (physical values only where a path needs them) and its dilated cloud mask.
  const readDate = async (scene: Scene) => {
    const samples: Partial<Record<BandName, BlockSamples>> = {};
    for (const band of bands) {
      const v = await readSamples(scene.bands.get(band)!, grid);
      samples[band] = v;
      valuesRead += v.values.length;
    }
    const cloud = await cloudMask(ctx, scene, win);
    valuesRead += cloud?.valuesRead ?? 0;
    return { samples, cloudMask: cloud?.mask ?? null };
  };
  const a = await readDate(ctx.after);
  const b = ctx.before ? await readDate(ctx.before) : null;

  // Two-date normalized-difference presets on two bands: one fused pass does radiometry counts, validity, the
  // math, the classes and the class areas, with exactly the results of the whole-array path.
  const fused = FUSED[preset.name];
  if (fused && b && bands.length === 2) {
    const [p, q] = fused.pair(bands);
    const classes = ctx.scratch.uint8(n);
    const product = ctx.scratch.float32(n);
    try {
      const inputs = [a.samples[p]!, a.samples[q]!, b.samples[p]!, b.samples[q]!] as const;
      const k = runFusedKernel(...inputs, a.cloudMask, b.cloudMask, fused.afterMinusBefore, fused.rules(t.threshold), win.width,
        win.height, { change: product, classes });
      const classPixels = new Float64Array(256);
      const classM2 = new Float64Array(256);
      const pixelArea = projectedPixelArea(target, win.y);
      if (pixelArea !== null) addClassCounts(k.classCounts, pixelArea, classPixels, classM2); // counted by the kernel
      else accumulateClassAreas(classes, win.width, win.height, target, win.y, classPixels, classM2);
      // Bands the kernel converted from DNs come counted; resampled (physical) ones are counted here.
      const counted = k.radiometry.map((c, j) => c ?? countRadiometry(physical(inputs[j]!)));
      const r = { classPixels, classM2, nodata: k.nodata, cloud: k.cloud, product, classes, radiometry: counted, indexUndefined: k.indexUndefined };
      const [after0, after1, before0, before1] = p === bands[0] ? [0, 1, 2, 3] : [1, 0, 3, 2];
      radiometry[`after:${bands[0]}`] = r.radiometry[after0]!;
      radiometry[`after:${bands[1]}`] = r.radiometry[after1]!;
      radiometry[`before:${bands[0]}`] = r.radiometry[before0]!;
      radiometry[`before:${bands[1]}`] = r.radiometry[before1]!;
      if (t.mode === 'histogram') {
        // The product is NaN exactly where the whole-array path skips a pixel (invalid, or no defined index).
        return { kind: 'block', row: t.row, col: t.col, classBytes: null, productBytes: null, classPiece: null, productPiece: null,
          classPixels: r.classPixels, classM2: r.classM2, nodata: r.nodata, cloud: r.cloud, radiometry,
          histogram: otsuHistogram(config.otsu!, r.product, null), valuesRead };
      }
      // Handed on as read (the kernel worked on copies): the quicklook converts their DNs in the kernel too.
      const samplesOf = (d: typeof a) => (band: BandName) => d.samples[band];
      return { ...await finishClassify(ctx, t, samplesOf(a), samplesOf(b), r.classes, r.product, r.classPixels, r.classM2, r.nodata,
        r.cloud, radiometry, valuesRead), indexUndefined: r.indexUndefined };
    } finally {
      ctx.scratch.give(classes, product);
      // The block's own reads (readStored's arrays are the caller's) and masks are dead: their memory goes back now,
      // not at the next collection (release.ts).
      for (const d of [a, b]) release(d.cloudMask, ...Object.values(d.samples).map((v) => v?.values));
    }
  }

  const toArrays = (d: typeof a, role: string) => {
    const arrays: BandArrays = {};
    for (const band of bands) {
      const values = physical(d.samples[band]!);
      arrays[band] = values;
      radiometry[`${role}:${band}`] = countRadiometry(values);
    }
    return { arrays, cloudMask: d.cloudMask };
  };
  const after = toArrays(a, 'after');
  const before = b ? toArrays(b, 'before') : null;

  // Validity exactly as the whole-array path: nodata on any used band of either date, then cloud/shadow/snow.
  const valid = new Uint8Array(n).fill(1);
  let nodata = 0;
  let cloud = 0;
  for (const d of [after, before]) {
    if (!d) continue;
    for (const arr of Object.values(d.arrays)) for (let i = 0; i < n; i++) if (valid[i] && arr![i] !== arr![i]) { valid[i] = 0; nodata++; }
  }
  for (const d of [after, before]) {
    if (!d?.cloudMask) continue;
    const m = d.cloudMask;
    for (let i = 0; i < n; i++) if (valid[i] && m[i]) { valid[i] = 0; cloud++; }
  }

  // The preset's own rules on this block, with the scene-wide threshold fixed.
  const options: PresetOptions = { ...config.options, threshold: t.threshold };
  const result = preset.run({ width: win.width, height: win.height, before: before?.arrays, after: after.arrays, valid, options });
  const classes = result.classes;
  const product = result.products[0]?.values ?? null;

  const classPixels = new Float64Array(256);
  const classM2 = new Float64Array(256);
  if (t.mode === 'histogram') {
    if (!product) throw new Error(`internal: preset ${preset.name} has no product to threshold`);
    return { kind: 'block', row: t.row, col: t.col, classBytes: null, productBytes: null, classPiece: null, productPiece: null,
      classPixels, classM2, nodata, cloud, radiometry, histogram: otsuHistogram(config.otsu!, product, valid), valuesRead };
  }
  // A pixel whose index is not finite is invalid, as on the whole-array path.
  const indexUndefined = product ? maskUndefinedIndex(classes, product) : 0;
  accumulateClassAreas(classes, win.width, win.height, target, win.y, classPixels, classM2);
  return { ...await finishClassify(ctx, t, (band) => after.arrays[band], (band) => before?.arrays[band], classes, product, classPixels,
    classM2, nodata, cloud, radiometry, valuesRead), indexUndefined };
}

/** Counts of the Otsu pass's histogram: the finite (and, if given, valid) values of `product`, clamped into range. */
function otsuHistogram(o: OtsuPlan, product: Float32Array, valid: Uint8Array | null): Float64Array {
  const histogram = new Float64Array(o.bins);
  const scale = o.bins / (o.max - o.min);
  for (let i = 0; i < product.length; i++) {
    if (valid && !valid[i]) continue;
    let v = product[i]!;
    if (v - v !== 0) continue; // NaN or ±Infinity: no defined index
    if (o.abs) v = Math.abs(v);
    let k = Math.floor((v - o.min) * scale);
    if (k < 0) k = 0;
    else if (k >= o.bins) k = o.bins - 1;
    histogram[k]!++;
  }
  return histogram;
}

/** [negative, finite] counts of one band's reflectances. */
export function countRadiometry(a: Float32Array): [number, number] {
  let neg = 0;
  let finite = 0;
  for (let i = 0; i < a.length; i++) {
    const v = a[i]!;
    if (v === v) { finite++; if (v < 0) neg++; }
  }
  return [neg, finite];
}

/** A quicklook layer of a block: reflectance, or a band's samples (stored DNs are converted in the kernel). */
type QuicklookLayer = Float32Array | BlockSamples;

/** A band already read for this block (its reflectance, or its samples untouched by `physical`), or undefined. */
type BandLookup = (band: BandName) => QuicklookLayer | undefined;

/** Classify mode, after the classes and product are known: encode tiles, overview pieces and quicklook cells. */
export async function finishClassify(ctx: EngineContext, t: Extract<EngineTask, { kind: 'block' }>, afterBand: BandLookup,
  beforeBand: BandLookup, classes: Uint8Array, product: Float32Array | null, classPixels: Float64Array,
  classM2: Float64Array, nodata: number, cloud: number, radiometry: Record<string, [number, number]>, valuesRead: number): Promise<BlockResult> {
  const { config } = ctx;
  const { target } = config;
  const win = t.window;
  const grid = windowGrid(target, win);
  // With --min-area the classes are final only after the merge: held back here, encoded by the filter pass.
  const minArea = hasMinArea(config) ? deferClasses(classes, win, config) : null;
  const classBytes = minArea ? null : ctx.encodeClasses(0, t.row, t.col, [classes]);
  let productBytes: Uint8Array | null = null;
  let productPiece: Float32Array | null = null;
  if (ctx.encodeProduct && product) {
    productBytes = ctx.encodeProduct(0, t.row, t.col, [product]);
    if (config.overviews) productPiece = reduceBand(product, win.width, win.height, 'average', config.productHeader!.nodata ?? null);
  }
  const classPiece = config.overviews && !minArea ? reduceBand(classes, win.width, win.height, 'nearest', null) : null;
  let quicklook: QuicklookPiece | null = null;
  if (config.quicklook) {
    const q = config.quicklook;
    const layers: QuicklookLayer[] = [];
    const readHere: BlockSamples[] = [];
    for (const [scene, names, lookup] of [[ctx.after, q.afterRgb, afterBand], [ctx.before, q.beforeRgb, beforeBand]] as const) {
      if (!scene || !names) continue;
      for (const l of names) {
        const have = lookup(l as BandName);
        if (have) { layers.push(have); continue; }
        const v = await readSamples(scene.bands.get(l)!, grid);
        valuesRead += v.values.length;
        layers.push(v);
        readHere.push(v);
      }
    }
    if (product) layers.push(product);
    quicklook = reduceForQuicklook(layers, classes, win, target.width, target.height, q.factor);
    release(...readHere.map((v) => v.values));
  }
  // The product is NaN wherever the pixel is invalid (masked, nodata, undefined index): only valid pixels count.
  const indexHistogram = product ? addToIndexHistogram(product) : null;
  // Geographic grids: each bin's ground area too (the pixel area varies with the row).
  const indexHistogramM2 = product && isGeographic(target.crs) && isGeoreferenced(target.crs)
    ? addAreasToIndexHistogram(product, win.width, (r) => pixelAreaM2(target, win.y + r)) : null;
  return { kind: 'block', row: t.row, col: t.col, classBytes, productBytes, classPiece, productPiece,
    classPixels, classM2, nodata, cloud, radiometry, histogram: null, indexHistogram, indexHistogramM2, valuesRead, quicklook, minArea };
}

/**
 * The quicklook cells a block touches: per layer the sum and count of finite values per cell, and the class of
 * each cell whose centre pixel (as in `blockNearest`) lies in the block.
 */
export function reduceForQuicklook(layers: QuicklookLayer[], classes: Uint8Array, win: Window, width: number, height: number,
  factor: number): QuicklookPiece {
  const f = factor;
  const cx = Math.floor(win.x / f);
  const cy = Math.floor(win.y / f);
  const cw = Math.floor((win.x + win.width - 1) / f) - cx + 1;
  const ch = Math.floor((win.y + win.height - 1) / f) - cy + 1;
  const cells = layers.map((v) => quicklookCellSums(v, win.width, win.height, f, win.x - cx * f, win.y - cy * f, cw, ch));
  const sums = cells.map((c) => c.sums);
  const counts = cells.map((c) => c.counts);
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
const FUSED: Record<string, { pair: (bands: BandName[]) => [BandName, BandName]; afterMinusBefore: boolean; rules: (t: number) => ClassRules }> = {
  // NDVI = (B08 − B04) / (B08 + B04); chooseBands gives [B04, B08]; ΔNDVI = after − before.
  vegetation: { pair: (b) => [b[1]!, b[0]!], afterMinusBefore: true, rules: vegetationRules },
  // NBR = (NIR − B12) / (NIR + B12) with NIR = B08 or B8A; chooseBands gives [NIR, B12]; dNBR = before − after.
  wildfire: { pair: (b) => [b[0]!, b[1]!], afterMinusBefore: false, rules: severityRules },
};

/**
 * The date's cloud/shadow/snow mask on window `win`: SCL read with a halo as wide as the cloud buffer, so the
 * dilation equals the whole-array mask at the window's edges. Used by every block-engine path.
 */
export async function cloudMask(ctx: EngineContext, scene: Scene, win: Window): Promise<{ mask: Uint8Array; valuesRead: number } | null> {
  const scl = scene.bands.get('SCL');
  if (!scl) return null;
  const { target, cloudBuffer } = ctx.config;
  const big = growWindow(win, cloudBuffer, target.width, target.height);
  const values = await readOnGrid(scl, windowGrid(target, big));
  const valuesRead = values.length;
  const dilated = sclCloudMask(values, big.width, big.height, cloudBuffer);
  const mask = crop(dilated, big, win);
  release(values, mask === dilated ? null : dilated);
  return { mask, valuesRead };
}

/** The part of `a` (laid out on window `from`) on window `to`, inside it; `a` itself when they are the same. */
export function crop<T extends Float32Array | Uint8Array>(a: T, from: Window, to: Window): T {
  if (from.x === to.x && from.y === to.y && from.width === to.width && from.height === to.height) return a;
  const out = new (a.constructor as new (n: number) => T)(to.width * to.height);
  for (let y = 0; y < to.height; y++) {
    const s = (to.y - from.y + y) * from.width + to.x - from.x;
    out.set(a.subarray(s, s + to.width), y * to.width);
  }
  return out;
}
