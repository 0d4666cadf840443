/**
 * The generic and urban presets in the block engine. Their methods need statistics of the whole scene; these are
 * gathered in streaming passes over the blocks before the classify pass (each pass reads the inputs again), so
 * that the outputs equal the whole-array path's (`runCva`, urban's ΔBSI rule, `runMultivariate`) exactly:
 *
 * - CVA magnitude or ΔBSI with Otsu (methods otsu and cva without --threshold): pass "range" gathers the finite
 *   min/max of the decision value over the valid pixels, pass "histogram" Otsu's histogram over that range (the
 *   bins `otsuThreshold` uses), so Otsu's threshold is the one of the whole array; the classify pass is then the
 *   general per-pixel path of `block-task.ts` with that threshold. A fixed or user threshold needs no pass.
 * - IR-MAD: pass "scan" counts the pixels the fit may use (this fixes the sampling rate) and checks whether the
 *   dates differ at all; pass "sample" returns the seeded sample's rows with their global pixel indices; the main
 *   thread puts them in pixel order, fits once (`fitIrmadSample`) and sends the model with each classify task.
 * - PCA-k-means: pass "scan" runs on `PCA_SCAN_TILE` tiles (whatever the output block size), accumulating the
 *   h × h block covariance tile by tile as `accumulateBlocks` does, and counts valid pixels; pass "sample" returns
 *   the PCA features of the seeded sample; the main thread fits k-means once. Features look at an h × h
 *   neighbourhood, so PCA-k-means reads every block with a halo of h pixels.
 * - The learned urban model ('learned'): pass "urban-sample" returns the seeded sample's rows (both dates' bands)
 *   with their global pixel indices and whether the dates differ; the main thread puts them in pixel order and
 *   computes the scene statistics once (`urban-inference.ts`, as the whole-array path does); each classify task
 *   reads its block with the model's halo (+1 for the majority filter), computes features, probabilities and the
 *   majority filter, and keeps its block. The minimum object size runs in the `--min-area` merge (`min-area.ts`).
 * The method "supervised" stays on the whole-array path.
 */
import { UsageError } from '../errors.js';
import type { BandName } from '../indices/bands.js';
import type { BandArrays } from '../indices/registry.js';
import { CovarianceAccumulator, type CovarianceState } from '../change/covariance.js';
import { differenceImage } from '../change/pca-kmeans.js';
import { finiteRange, mergeRanges } from '../change/histogram.js';
import { applyMad, fitIrmadSample, irmadChangeMask, IRMAD_SAMPLING, jointRow, madPixelUsable, type MadModel } from '../change/irmad.js';
import { otsuHistogram } from '../change/otsu.js';
import {
  accumulateBlocksIn, applyPcaKmeans, PCA_KMEANS_DEFAULTS, PCA_SCAN_TILE, pcaFromBlocks, pcaKmeansFromSample, pixelFeature,
  requireFittableBlocks, type Pca, type PcaKmeansModel,
} from '../change/pca-kmeans.js';
import { keepSample, sampleRate } from '../change/sampling.js';
import { applyNodata, maskUndefinedIndex, otsuOrFixed, usesOtsu } from '../change/presets/common.js';
import {
  identicalDates, identicalOutcome, irmadMinPChange, irmadOutcome, isMultivariate, pcaKmeansOutcome, pcaKmeansProduct,
  isMad, madFitOptions,
} from '../change/presets/multivariate.js';
import type { ChangeMethod, Preset, PresetOptions, PresetResult, ThresholdUsed } from '../change/presets/types.js';
import { accumulateClassAreas } from '../raster/class-areas.js';
import { windowGrid, type Grid, type Window } from '../raster/grid.js';
import type { Scene } from '../io/scene.js';
import { checkValidShare } from '../pipeline/detect.js';
import { LEARNED_PRODUCT, learnedFormula, learnedThresholds } from '../change/presets/urban.js';
import type { UrbanSceneStats } from '../change/urban-features.js';
import { inUrbanStatsSample, urbanBlockHalo, urbanBlockPostFilter, urbanStatsFromRows, urbanStatsRate } from '../change/urban-inference.js';
import { applyUrbanModel, type UrbanModel } from '../change/urban-model.js';
import { cloudMask, countRadiometry, crop, finishClassify, readReflectance, type BlockResult, type EngineContext, type EngineTask } from './block-task.js';
import { growWindow, planBlocks, type Block } from './plan.js';

/** Presets whose block-engine runs go through this module. */
export const SCENE_WIDE_PRESETS: readonly string[] = ['generic', 'urban'];

/** Why the block engine cannot run `method` of a generic/urban preset (null: it can). */
export function sceneWideRefusal(preset: Preset, method: ChangeMethod): UsageError | null {
  if (method !== 'supervised') return null;
  return new UsageError('method "supervised" is not available in the block engine', {
    input: `--preset ${preset.name} --method supervised --engine blocks`,
    expected: `${preset.methods.filter((m) => m !== 'supervised').join(' | ')} with --engine blocks`,
    found: 'a random forest on neighbourhood features, run on the whole array only',
    fix: 'Use --engine whole (or --engine auto) on a smaller area with --bbox',
  });
}

/** The model a classify task applies to its block (irmad, pca-kmeans), or the identical-dates case. */
export type FittedModel =
  | { method: 'irmad'; model: MadModel; minPChange: number }
  /** The learned urban model (sent once in the run's options) and the scene statistics it standardises with. */
  | { method: 'learned'; stats: UrbanSceneStats }
  | { method: 'pca-kmeans'; model: PcaKmeansModel }
  | { method: 'identical' };

/** One block of a statistics pass. */
export type ScenePass =
  | { name: 'range' }
  | { name: 'histogram'; range: [number, number] }
  | { name: 'irmad-scan' }
  | { name: 'irmad-sample'; rate: number; seed: number }
  | { name: 'pca-scan'; blockSize: number }
  | { name: 'pca-sample'; pca: Pca; rate: number; seed: number }
  | { name: 'urban-sample'; rate: number };

export interface SceneTask {
  kind: 'scene';
  row: number;
  col: number;
  window: Window;
  pass: ScenePass;
}

/** Sampled pixels of a block: their global indices (ascending) and `width` values per pixel, row-major. */
export interface SampleRows {
  indices: Float64Array;
  values: Float64Array;
  width: number;
}

/** What a block contributes to a statistics pass (`BlockResult.scene`). */
export interface SceneBlockStats {
  /** Finite [min, max] of the decision value over valid pixels ([NaN, NaN]: none). */
  range?: [number, number];
  /** Otsu histogram counts over the pass's range. */
  histogram?: Float64Array;
  /** Pixels that count for the sampling rate. */
  usable?: number;
  /** Both dates equal at every valid pixel of the block. */
  identical?: boolean;
  /** PCA-k-means: the block covariance of the tile. */
  blocks?: CovarianceState;
  sample?: SampleRows;
}

// ---------------------------------------------------------------------------------------------------------------
// Main thread

/** A generic/urban run as planned before any pixel is read. */
export interface SceneWidePlan {
  preset: Preset;
  method: ChangeMethod;
  bands: BandName[];
  options: PresetOptions;
  /** The float product, as far as it is known before the passes (identical dates drop it). */
  product: { name: string; description: string } | null;
}

/** What the passes found: what the run reports, and what each classify task gets. */
export interface SceneWideOutcome {
  method: ChangeMethod;
  thresholds: ThresholdUsed[];
  formula: string;
  notes: string[];
  product: { name: string; description: string } | null;
  /** Threshold of the per-pixel rules (CVA, ΔBSI); NaN with a fitted model. */
  threshold: number;
  fitted: FittedModel | null;
}

/** How `gatherSceneWide` runs passes: `detectBlocks` supplies its task runner, bounded concurrency and progress. */
export interface ScenePasses {
  /** Run a task per block; `each` gets every result (in any order). */
  run(label: string, blocks: readonly Block[], task: (blk: Block) => SceneTask, each: (r: BlockResult, blk: Block) => void): Promise<void>;
  /** The output blocks. */
  blocks: readonly Block[];
  target: Grid;
  /** The inputs, as a NothingValidError names them. */
  inputs: string;
}

/** The plan of a generic/urban run (null for other presets). `options.method` is the method to run. */
export function planSceneWide(preset: Preset, options: PresetOptions & { method: ChangeMethod }, bands: BandName[]): SceneWidePlan | null {
  if (!SCENE_WIDE_PRESETS.includes(preset.name)) return null;
  const method = options.method;
  const plan = { preset, method, bands, options, product: null };
  let product: SceneWidePlan['product'];
  // IR-MAD's outcome for as many degrees of freedom as bands: its product, and an early check of --threshold.
  if (isMad(method)) product = irmadOutcome(bands, bands.length, options, method).product;
  else if (method === 'learned') product = { ...LEARNED_PRODUCT };
  else if (method === 'pca-kmeans') product = pcaKmeansProduct(bands);
  else {
    const p = onePixel(plan, options.threshold ?? 0).products[0];
    product = p ? { name: p.name, description: p.description } : null;
  }
  return { ...plan, product };
}

/**
 * The preset run on one pixel (0.1 on every band of both dates) with the given threshold: what it reports (names,
 * formula, product) for that threshold. Without a threshold, an Otsu method falls back to its fixed default there
 * (one pixel has no spread), which gives the default's value and source.
 */
function onePixel(plan: Pick<SceneWidePlan, 'preset' | 'bands' | 'options'>, threshold: number | undefined): PresetResult {
  const one: BandArrays = {};
  for (const b of plan.bands) one[b] = new Float32Array([0.1]);
  return plan.preset.run({ width: 1, height: 1, before: one, after: one, valid: new Uint8Array([1]), options: { ...plan.options, threshold } });
}

/** Run the statistics passes `plan` needs and fit its model. */
export async function gatherSceneWide(plan: SceneWidePlan, passes: ScenePasses): Promise<SceneWideOutcome> {
  if (isMad(plan.method)) return gatherIrmad(plan, plan.method, passes);
  if (plan.method === 'pca-kmeans') return gatherPcaKmeans(plan, passes);
  if (plan.method === 'learned') return gatherLearned(plan, passes);
  if (isMultivariate(plan.method)) throw new Error(`internal: method ${plan.method} has no block-engine plan`);
  return gatherOtsu(plan, passes);
}

function task(blk: Block, pass: ScenePass): SceneTask {
  return { kind: 'scene', row: blk.row, col: blk.col, window: blk.window, pass };
}

/** Masked-pixel totals of a pass, checked as `detect()` checks them before running the preset. */
class MaskTotals {
  nodata = 0;
  cloud = 0;
  add(r: BlockResult): void {
    this.nodata += r.nodata;
    this.cloud += r.cloud;
  }
  check(passes: ScenePasses): void {
    checkValidShare(passes.target.width * passes.target.height, this.nodata, this.cloud, passes.inputs, []);
  }
}

/** CVA magnitude / ΔBSI: Otsu's threshold over the data range, from two passes, or the fixed/user threshold. */
async function gatherOtsu(plan: SceneWidePlan, passes: ScenePasses): Promise<SceneWideOutcome> {
  const finish = (threshold: ThresholdUsed, notes: string[]): SceneWideOutcome => {
    const r = onePixel(plan, threshold.value);
    const p = r.products[0];
    return { method: r.method, thresholds: [threshold], formula: r.formula, notes, product: p ? { name: p.name, description: p.description } : null,
      threshold: threshold.value, fitted: null };
  };
  if (!usesOtsu(plan.method, plan.options)) return finish(onePixel(plan, plan.options.threshold).thresholds[0]!, []);
  // Pass 1: the finite range of the decision value over the valid pixels (Otsu's histogram spans it).
  let range: [number, number] = [NaN, NaN];
  const masks = new MaskTotals();
  await passes.run('range', passes.blocks, (blk) => task(blk, { name: 'range' }), (r) => {
    range = mergeRanges(range, r.scene!.range!);
    masks.add(r);
  });
  masks.check(passes);
  // Pass 2: Otsu's histogram over that range.
  const hist = otsuHistogram(range);
  if (hist) {
    const over: [number, number] = [range[0], range[1]];
    await passes.run('histogram', passes.blocks, (blk) => task(blk, { name: 'histogram', range: over }), (r) => hist.addCounts(r.scene!.histogram!));
  }
  const fallback = onePixel(plan, undefined).thresholds[0]!;
  const notes: string[] = [];
  return finish(otsuOrFixed(fallback.name, hist ? hist.otsu() : NaN, fallback.value, fallback.source, notes), notes);
}

/** The dates are identical on every valid pixel: no change anywhere, no product (as `runMultivariate`). */
function identical(plan: SceneWidePlan): SceneWideOutcome {
  return { ...identicalOutcome(plan.method, plan.bands), method: plan.method, threshold: NaN, fitted: { method: 'identical' } };
}

/** MAD / IR-MAD: count usable pixels, gather the seeded sample in pixel order, fit once. */
async function gatherIrmad(plan: SceneWidePlan, method: 'mad' | 'irmad', passes: ScenePasses): Promise<SceneWideOutcome> {
  let usable = 0;
  let same = true;
  const masks = new MaskTotals();
  await passes.run('IR-MAD scan', passes.blocks, (blk) => task(blk, { name: 'irmad-scan' }), (r) => {
    usable += r.scene!.usable!;
    same &&= r.scene!.identical!;
    masks.add(r);
  });
  masks.check(passes);
  if (same) return identical(plan);
  const rate = sampleRate(usable, IRMAD_SAMPLING.maxSamples);
  const pieces: SampleRows[] = [];
  await passes.run('IR-MAD sample', passes.blocks, (blk) => task(blk, { name: 'irmad-sample', rate, seed: IRMAD_SAMPLING.seed }),
    (r) => pieces.push(r.scene!.sample!));
  const fit = fitIrmadSample(inPixelOrder(pieces, 2 * plan.bands.length), plan.bands.length, madFitOptions(method));
  const outcome = irmadOutcome(plan.bands, fit.model.dof, plan.options, method, fit);
  return { ...outcome, method: plan.method, threshold: NaN,
    fitted: { method: 'irmad', model: fit.model, minPChange: irmadMinPChange(plan.options) } };
}

/** PCA-k-means: block covariance tile by tile, PCA, then k-means on the seeded sample's features. */
async function gatherPcaKmeans(plan: SceneWidePlan, passes: ScenePasses): Promise<SceneWideOutcome> {
  const { blockSize: h, varianceKept, maxSamples, seed } = PCA_KMEANS_DEFAULTS;
  const { width, height } = passes.target;
  const tiles = planBlocks(width, height, PCA_SCAN_TILE);
  const states: CovarianceState[] = new Array(tiles.length);
  let usable = 0;
  let same = true;
  const masks = new MaskTotals();
  await passes.run('PCA-k-means scan', tiles, (blk) => task(blk, { name: 'pca-scan', blockSize: h }), (r, blk) => {
    states[blk.index] = r.scene!.blocks!;
    usable += r.scene!.usable!;
    same &&= r.scene!.identical!;
    masks.add(r);
  });
  masks.check(passes);
  if (same) return identical(plan);
  // Merged in tile order, as `accumulateBlocks` merges its tiles.
  const acc = new CovarianceAccumulator(h * h);
  for (const s of states) acc.merge(CovarianceAccumulator.fromState(s));
  requireFittableBlocks(acc, usable, h, width, height);
  const pca = pcaFromBlocks(acc, h, varianceKept);
  const rate = sampleRate(usable, maxSamples);
  const pieces: SampleRows[] = [];
  await passes.run('PCA-k-means sample', passes.blocks, (blk) => task(blk, { name: 'pca-sample', pca, rate, seed }),
    (r) => pieces.push(r.scene!.sample!));
  // Rows are [difference, feature...].
  const d = pca.dims;
  const rows = inPixelOrder(pieces, d + 1);
  const m = rows.length / (d + 1);
  const feats = new Float64Array(m * d);
  const diffs = new Float64Array(m);
  for (let k = 0; k < m; k++) {
    diffs[k] = rows[k * (d + 1)]!;
    feats.set(rows.subarray(k * (d + 1) + 1, (k + 1) * (d + 1)), k * d);
  }
  const model = pcaKmeansFromSample(pca, feats, diffs, seed);
  return { ...pcaKmeansOutcome(plan.bands, model), method: plan.method, threshold: NaN, fitted: { method: 'pca-kmeans', model } };
}

/** The learned urban model: the statistics sample in pixel order (and whether the dates differ), statistics once. */
async function gatherLearned(plan: SceneWidePlan, passes: ScenePasses): Promise<SceneWideOutcome> {
  const model = learnedModel(plan.options);
  let same = true;
  const masks = new MaskTotals();
  const pieces: SampleRows[] = [];
  const rate = urbanStatsRate(passes.target.width, passes.target.height);
  await passes.run('urban statistics', passes.blocks, (blk) => task(blk, { name: 'urban-sample', rate }), (r) => {
    same &&= r.scene!.identical!;
    pieces.push(r.scene!.sample!);
    masks.add(r);
  });
  masks.check(passes);
  if (same) return identical(plan);
  const stats = urbanStatsFromRows(model, plan.bands, inPixelOrder(pieces, 2 * plan.bands.length));
  return {
    method: 'learned', thresholds: learnedThresholds(model), formula: learnedFormula(model), notes: [], product: { ...LEARNED_PRODUCT },
    threshold: NaN, fitted: { method: 'learned', stats },
  };
}

function learnedModel(options: PresetOptions): UrbanModel {
  if (!options.urbanModel) throw new Error('internal: method "learned" in the block engine without a model');
  return options.urbanModel;
}

/** The blocks' sampled rows (`width` values each) in global pixel order, as a whole-array pass visits them. */
function inPixelOrder(pieces: readonly SampleRows[], width: number): Float64Array {
  let m = 0;
  for (const p of pieces) m += p.indices.length;
  const index = new Float64Array(m);
  const values = new Float64Array(m * width);
  let o = 0;
  for (const p of pieces) {
    if (p.width !== width) throw new Error(`internal: sample rows of width ${p.width}, expected ${width}`);
    index.set(p.indices, o);
    values.set(p.values, o * width);
    o += p.indices.length;
  }
  const order = Array.from({ length: m }, (_, k) => k).sort((a, b) => index[a]! - index[b]!);
  const out = new Float64Array(m * width);
  order.forEach((k, j) => out.set(values.subarray(k * width, (k + 1) * width), j * width));
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Workers

/** A block's inputs on its window grown by a halo: the used bands of both dates, validity, and mask counts. */
interface BlockInputs {
  /** The window read: the block grown by the halo, clipped to the target grid. */
  read: Window;
  after: BandArrays;
  before: BandArrays;
  /** The used bands in band order, per date (on `read`). */
  x: Float32Array[];
  y: Float32Array[];
  /** 1 = valid on both dates, exactly as `detect()` decides it (on `read`). */
  valid: Uint8Array;
  /** Nodata and cloud/shadow/snow pixels of the block itself (not the halo). */
  nodata: number;
  cloud: number;
  valuesRead: number;
}

/**
 * Read a block grown by `halo` pixels: bands as `readReflectance` gives them, SCL cloud masks dilated with their
 * own halo, and validity as `detect()` computes it — nodata on any used band of either date first, then
 * cloud/shadow/snow on either date — so the halo's pixels are valid exactly where the whole array's are.
 */
async function readInputs(ctx: EngineContext, block: Window, halo: number): Promise<BlockInputs> {
  const { target, bands } = ctx.config;
  if (!ctx.before) throw new Error('internal: generic/urban blocks need a before scene');
  const read = growWindow(block, halo, target.width, target.height);
  const grid = windowGrid(target, read);
  const n = read.width * read.height;
  let valuesRead = 0;
  const date = async (scene: Scene) => {
    const arrays: BandArrays = {};
    for (const b of bands) {
      const v = await readReflectance(scene.bands.get(b)!, grid);
      arrays[b] = v;
      valuesRead += v.length;
    }
    const cloud = await cloudMask(ctx, scene, read);
    valuesRead += cloud?.valuesRead ?? 0;
    return { arrays, cloud: cloud?.mask ?? null };
  };
  const a = await date(ctx.after);
  const b = await date(ctx.before);
  const valid = new Uint8Array(n).fill(1);
  const why = new Uint8Array(n); // 1 nodata, 2 cloud
  for (const d of [a, b]) {
    for (const arr of Object.values(d.arrays)) for (let i = 0; i < n; i++) if (valid[i] && arr![i] !== arr![i]) { valid[i] = 0; why[i] = 1; }
  }
  for (const d of [a, b]) {
    const m = d.cloud;
    if (m) for (let i = 0; i < n; i++) if (valid[i] && m[i]) { valid[i] = 0; why[i] = 2; }
  }
  let nodata = 0;
  let cloud = 0;
  forEachBlockPixel(read, block, (i) => {
    if (why[i] === 1) nodata++;
    else if (why[i] === 2) cloud++;
  });
  return { read, after: a.arrays, before: b.arrays, x: bands.map((k) => b.arrays[k]!), y: bands.map((k) => a.arrays[k]!),
    valid, nodata, cloud, valuesRead };
}


/** Call `fn` with the index in `read` of every pixel of `block` (inside `read`), in row-major order. */
function forEachBlockPixel(read: Window, block: Window, fn: (i: number, globalX: number, globalY: number) => void): void {
  for (let y = block.y; y < block.y + block.height; y++) {
    const row = (y - read.y) * read.width - read.x;
    for (let x = block.x; x < block.x + block.width; x++) fn(row + x, x, y);
  }
}


/** The decision value of the per-pixel rules (CVA magnitude, ΔBSI): the preset's own product on the block. */
function decisionValues(ctx: EngineContext, inp: BlockInputs): Float32Array {
  const { read } = inp;
  const r = ctx.preset.run({ width: read.width, height: read.height, before: inp.before, after: inp.after, valid: inp.valid,
    options: { ...ctx.config.options, threshold: 0 } });
  const v = r.products[0]?.values;
  if (!v) throw new Error(`internal: preset ${ctx.preset.name} has no product to threshold`);
  return v;
}

/** A statistics pass on one block (worker). */
export async function runSceneTask(ctx: EngineContext, t: SceneTask): Promise<BlockResult> {
  const p = t.pass;
  const block = t.window;
  const { target } = ctx.config;
  const halo = p.name === 'pca-scan' ? p.blockSize : p.name === 'pca-sample' ? p.pca.blockSize : 0;
  const inp = await readInputs(ctx, block, halo);
  const { read, x, y, valid } = inp;
  const n = read.width * read.height;
  const scene: SceneBlockStats = {};
  const global = (gx: number, gy: number) => gy * target.width + gx;
  if (p.name === 'range') scene.range = finiteRange(decisionValues(ctx, inp), valid);
  else if (p.name === 'histogram') scene.histogram = otsuHistogram(p.range)!.add(decisionValues(ctx, inp), valid).counts;
  else if (p.name === 'irmad-scan') {
    let usable = 0;
    forEachBlockPixel(read, block, (i) => { if (madPixelUsable(x, y, valid, i)) usable++; });
    scene.usable = usable;
    scene.identical = identicalDates(x, y, valid);
  } else if (p.name === 'urban-sample') {
    // Valid pixels of the block in the statistics sample: before bands, then after bands (as urbanStatsRows).
    const kept: number[] = [];
    const indices: number[] = [];
    forEachBlockPixel(read, block, (i, gx, gy) => {
      if (valid[i] && inUrbanStatsSample(global(gx, gy), p.rate)) { kept.push(i); indices.push(global(gx, gy)); }
    });
    const k = x.length;
    const values = new Float64Array(kept.length * 2 * k);
    kept.forEach((i, r) => {
      for (let j = 0; j < k; j++) { values[r * 2 * k + j] = x[j]![i]!; values[r * 2 * k + k + j] = y[j]![i]!; }
    });
    scene.sample = { indices: Float64Array.from(indices), values, width: 2 * k };
    scene.identical = identicalDates(x, y, valid);
  } else if (p.name === 'irmad-sample') {
    const kept: number[] = [];
    const indices: number[] = [];
    forEachBlockPixel(read, block, (i, gx, gy) => {
      if (madPixelUsable(x, y, valid, i) && keepSample(global(gx, gy), p.rate, p.seed)) { kept.push(i); indices.push(global(gx, gy)); }
    });
    const width = 2 * x.length;
    const values = new Float64Array(kept.length * width);
    kept.forEach((i, k) => jointRow(x, y, i, values, k * width));
    scene.sample = { indices: Float64Array.from(indices), values, width };
  } else {
    const diff = differenceImage(x, y, n, valid);
    if (p.name === 'pca-scan') {
      let usable = 0;
      forEachBlockPixel(read, block, (i) => { if (diff[i] === diff[i]) usable++; });
      scene.usable = usable;
      scene.blocks = accumulateBlocksIn(diff, read, target.width, target.height, block, p.blockSize).state();
      scene.identical = identicalDates(x.map((v) => crop(v, read, block)), y.map((v) => crop(v, read, block)), crop(valid, read, block));
    } else {
      const { pca } = p;
      const d = pca.dims;
      const kept: number[] = [];
      const indices: number[] = [];
      forEachBlockPixel(read, block, (i, gx, gy) => {
        if (diff[i] === diff[i] && keepSample(global(gx, gy), p.rate, p.seed)) { kept.push(i); indices.push(global(gx, gy)); }
      });
      const values = new Float64Array(kept.length * (d + 1));
      kept.forEach((i, k) => {
        values[k * (d + 1)] = diff[i]!;
        pixelFeature(pca, diff, read.width, read.height, i % read.width, Math.floor(i / read.width), values, k * (d + 1) + 1);
      });
      scene.sample = { indices: Float64Array.from(indices), values, width: d + 1 };
    }
  }
  return { kind: 'block', row: t.row, col: t.col, classBytes: null, productBytes: null, classPiece: null, productPiece: null,
    classPixels: new Float64Array(256), classM2: new Float64Array(256), nodata: inp.nodata, cloud: inp.cloud, radiometry: {},
    histogram: null, valuesRead: inp.valuesRead, scene };
}

/** The classify pass of a block with a fitted model (worker): classes and product as `runMultivariate` makes them. */
export async function classifyFitted(ctx: EngineContext, t: Extract<EngineTask, { kind: 'block' }>, fitted: FittedModel): Promise<BlockResult> {
  const block = t.window;
  const { target, bands } = ctx.config;
  const model = fitted.method === 'learned' ? learnedModel(ctx.config.options) : null;
  const halo = fitted.method === 'pca-kmeans' ? fitted.model.pca.blockSize : model ? urbanBlockHalo(model) : 0;
  const inp = await readInputs(ctx, block, halo);
  const { read, x, y, valid } = inp;
  const n = read.width * read.height;
  let classes: Uint8Array;
  let product: Float32Array | null;
  if (fitted.method === 'identical') {
    classes = applyNodata(new Uint8Array(n), valid);
    product = null;
  } else if (fitted.method === 'irmad') {
    const { chi2 } = applyMad(fitted.model, x, y, n, { valid });
    classes = applyNodata(irmadChangeMask({ chi2, model: fitted.model }, { method: 'probability', minPChange: fitted.minPChange }).mask, valid);
    product = chi2;
  } else if (fitted.method === 'learned') {
    // Features, probability, threshold and majority filter on the block and its halo (the minimum object size is
    // merged across blocks by the min-area pass).
    const p = applyUrbanModel(urbanBlockPostFilter(model!), inp.before, inp.after, read.width, read.height, valid,
      { stats: fitted.stats, source: ctx.config.options.urbanModelSource });
    classes = applyNodata(p.classes, valid);
    product = p.probability;
  } else {
    product = differenceImage(x, y, n, valid);
    classes = applyNodata(applyPcaKmeans(fitted.model, product, read.width, read.height, valid), valid);
  }
  classes = crop(classes, read, block);
  if (product) product = crop(product, read, block);
  // A pixel whose change value is not finite is invalid, as on the whole-array path (crop may return the arrays
  // themselves: no halo; the block's own pixels are all that is counted either way).
  const indexUndefined = product ? maskUndefinedIndex(classes, product) : 0;
  const classPixels = new Float64Array(256);
  const classM2 = new Float64Array(256);
  accumulateClassAreas(classes, block.width, block.height, target, block.y, classPixels, classM2);
  const radiometry: Record<string, [number, number]> = {};
  for (const [role, arrays] of [['after', inp.after], ['before', inp.before]] as const) {
    for (const b of bands) radiometry[`${role}:${b}`] = countRadiometry(crop(arrays[b]!, read, block));
  }
  const lookup = (arrays: BandArrays) => (band: BandName) => (arrays[band] ? crop(arrays[band], read, block) : undefined);
  return { ...await finishClassify(ctx, t, lookup(inp.after), lookup(inp.before), classes, product, classPixels, classM2, inp.nodata, inp.cloud,
    radiometry, inp.valuesRead), indexUndefined };
}
