/**
 * Supervised change classifier: a random forest (Breiman 2001, Machine Learning 45:5–32; implementation
 * `ml-random-forest` of the mljs project, CART trees of `ml-cart`) on per-pixel features of both dates. Pure.
 *
 * Features of a pixel (see {@link featureNames} for the exact list and order):
 * - each band's reflectance before, after, and after − before;
 * - each spectral index (NDVI, NDWI, MNDWI, NBR, NDBI, BSI — those the bands allow) before, after, after − before;
 * - the CVA magnitude ‖after − before‖ over the bands;
 * - neighbourhood context: the mean CVA magnitude over (2r+1)² windows for each radius r in `spec.context`, and
 *   the 3 × 3 mean of every index difference. Window means use only valid pixels and are clipped at the edges.
 *
 * Training uses a balanced, seeded pixel sample (equal numbers of change and no-change pixels when available);
 * each tree sees a bootstrap of `maxSamples` of them (the CART split search is quadratic in its sample size).
 * A pixel's change probability is the fraction of trees voting "change"; change where it is ≥ `model.threshold`.
 * With `model.smoothing` = 'majority3x3' (the default for new models) the class map is then cleaned by a 3 × 3
 * majority filter ({@link majorityFilter}), which removes isolated change pixels (speckle).
 * The model is plain JSON (feature spec + forest), so it can be saved, shipped and reloaded with {@link loadForest}.
 */
import { RandomForestClassifier } from 'ml-random-forest';
import { MissingBandError, UsageError } from '../errors.js';
import type { BandName } from '../indices/bands.js';
import { getIndex, type BandArrays } from '../indices/registry.js';
import { hashUnit } from './sampling.js';
import { majorityFilter } from '../raster/majority-filter.js';

/** Which features to compute: the bands (same order both dates), index names, and context radii. */
export interface FeatureSpec {
  bands: BandName[];
  indices: string[];
  /** Radii r of the (2r+1)² mean-CVA-magnitude context windows. */
  context: number[];
  /**
   * 'scene': every feature is standardised to mean 0, standard deviation 1 over the valid pixels of the scene it
   * comes from (an unsupervised per-scene normalisation that helps transfer between cities and dates). Default none.
   */
  normalize?: 'none' | 'scene';
}

/** Indices tried, in feature order, when their bands are available. */
export const CANDIDATE_INDICES = ['NDVI', 'NDWI', 'MNDWI', 'NBR', 'NDBI', 'BSI'] as const;

/** 10 and 20 m bands used by default when present (60 m atmospheric bands are left out). */
export const DEFAULT_FEATURE_BANDS: readonly BandName[] = ['B02', 'B03', 'B04', 'B05', 'B06', 'B07', 'B08', 'B8A', 'B11', 'B12'];

/** The default feature spec for the bands both dates offer. */
export function defaultFeatureSpec(available: ReadonlySet<BandName>): FeatureSpec {
  const bands = DEFAULT_FEATURE_BANDS.filter((b) => available.has(b));
  if (bands.length < 2) {
    throw new MissingBandError('the supervised classifier needs at least 2 bands on both dates', {
      input: 'supervised features', expected: `two or more of ${DEFAULT_FEATURE_BANDS.join(',')}`,
      found: [...available].sort().join(',') || 'none', fix: 'Provide more bands, or name a multi-band file\'s bands with --bands',
    });
  }
  const indices = CANDIDATE_INDICES.filter((n) => getIndex(n)!.bands.every((b) => bands.includes(b)));
  return { bands, indices: [...indices], context: [1, 2], normalize: 'scene' };
}

/** Feature names in column order, e.g. "B04_before", "NDVI_diff", "cva_mean5x5". */
export function featureNames(spec: FeatureSpec): string[] {
  const names: string[] = [];
  for (const b of spec.bands) names.push(`${b}_before`, `${b}_after`, `${b}_diff`);
  for (const i of spec.indices) names.push(`${i}_before`, `${i}_after`, `${i}_diff`);
  names.push('cva');
  for (const r of spec.context) names.push(`cva_mean${2 * r + 1}x${2 * r + 1}`);
  for (const i of spec.indices) names.push(`${i}_diff_mean3x3`);
  return names;
}

/**
 * Mean of the finite values of `v` (width × height) in the (2r+1)² window around each pixel, clipped at the
 * image edges; NaN where the window holds no finite value. Summed-area tables make it O(n) for any r.
 */
export function windowMean(v: Float32Array, width: number, height: number, r: number): Float32Array {
  const W = width + 1;
  const sum = new Float64Array(W * (height + 1));
  const cnt = new Float64Array(W * (height + 1));
  for (let y = 0; y < height; y++) {
    let rs = 0;
    let rc = 0;
    for (let x = 0; x < width; x++) {
      const a = v[y * width + x]!;
      if (a === a) { rs += a; rc++; }
      sum[(y + 1) * W + x + 1] = sum[y * W + x + 1]! + rs;
      cnt[(y + 1) * W + x + 1] = cnt[y * W + x + 1]! + rc;
    }
  }
  const out = new Float32Array(width * height);
  for (let y = 0; y < height; y++) {
    const y0 = Math.max(0, y - r);
    const y1 = Math.min(height, y + r + 1);
    for (let x = 0; x < width; x++) {
      const x0 = Math.max(0, x - r);
      const x1 = Math.min(width, x + r + 1);
      const s = sum[y1 * W + x1]! - sum[y0 * W + x1]! - sum[y1 * W + x0]! + sum[y0 * W + x0]!;
      const c = cnt[y1 * W + x1]! - cnt[y0 * W + x1]! - cnt[y1 * W + x0]! + cnt[y0 * W + x0]!;
      out[y * width + x] = c > 0 ? s / c : NaN;
    }
  }
  return out;
}

/** In place: (v − mean) / sd over the finite values (sd 0 → values become 0). */
export function standardize(v: Float32Array): Float32Array {
  let m = 0;
  let k = 0;
  for (let i = 0; i < v.length; i++) { const x = v[i]!; if (x === x) { k++; m += (x - m) / k; } }
  let ss = 0;
  for (let i = 0; i < v.length; i++) { const x = v[i]!; if (x === x) ss += (x - m) * (x - m); }
  const sd = k > 1 ? Math.sqrt(ss / (k - 1)) : 0;
  for (let i = 0; i < v.length; i++) { const x = v[i]!; if (x === x) v[i] = sd > 0 ? (x - m) / sd : 0; }
  return v;
}

export interface Features {
  /** One Float32Array of width × height values per feature, in {@link featureNames} order. */
  columns: Float32Array[];
  names: string[];
  /** 1 where every feature is finite and the input mask (if any) says valid. */
  valid: Uint8Array;
  /** Raster size the columns were computed on (needed by spatial post-processing). */
  width?: number;
  height?: number;
}

/** Compute the features of every pixel of a width × height pair of band stacks. Invalid pixels: NaN features. */
export function extractFeatures(spec: FeatureSpec, before: BandArrays, after: BandArrays, width: number, height: number, valid?: Uint8Array): Features {
  const n = width * height;
  const missing = spec.bands.filter((b) => !before[b] || !after[b]);
  if (missing.length) {
    throw new MissingBandError('bands needed by the supervised model are missing', {
      input: 'supervised features', expected: spec.bands.join(','), found: `missing ${missing.join(',')}`,
      fix: 'Use scenes with the bands the model was trained on (see the model JSON "spec.bands")',
    });
  }
  const columns: Float32Array[] = [];
  const cva = new Float32Array(n);
  for (const b of spec.bands) {
    const x = before[b]!;
    const y = after[b]!;
    const d = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      d[i] = y[i]! - x[i]!;
      cva[i]! += d[i]! * d[i]!;
    }
    columns.push(x, y, d);
  }
  for (let i = 0; i < n; i++) cva[i] = Math.sqrt(cva[i]!);
  const indexDiffs: Float32Array[] = [];
  for (const name of spec.indices) {
    const idx = getIndex(name);
    if (!idx) throw new UsageError('unknown index in the supervised feature spec', { input: 'model spec.indices', expected: CANDIDATE_INDICES.join(', '), found: name });
    const a = idx.compute(before);
    const b = idx.compute(after);
    const d = new Float32Array(n);
    for (let i = 0; i < n; i++) d[i] = b[i]! - a[i]!;
    columns.push(a, b, d);
    indexDiffs.push(d);
  }
  const ok = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    let good = !valid || valid[i] === 1;
    for (let c = 0; c < columns.length && good; c++) if (columns[c]![i] !== columns[c]![i]) good = false;
    ok[i] = good ? 1 : 0;
  }
  // Context means only over valid pixels, so nodata never leaks into its neighbours.
  const maskOut = (v: Float32Array) => v.map((x, i) => (ok[i] ? x : NaN));
  const cvaValid = maskOut(cva);
  columns.push(cva);
  for (const r of spec.context) columns.push(windowMean(cvaValid, width, height, r));
  for (const d of indexDiffs) columns.push(windowMean(maskOut(d), width, height, 1));
  for (const c of columns) for (let i = 0; i < n; i++) if (!ok[i]) c[i] = NaN;
  if (spec.normalize === 'scene') for (const c of columns) standardize(c);
  return { columns, names: featureNames(spec), valid: ok, width, height };
}

/** Labelled pixels of one training scene: its features and per-pixel codes (0 no change, 1 change, other = unlabelled). */
export interface TrainingScene {
  features: Features;
  labels: Uint8Array;
}

export interface TrainOptions {
  /** Pixels sampled per class over all scenes (default 3000). */
  perClass?: number;
  /** Trees (default 20). */
  trees?: number;
  /** Samples each tree is grown on (bootstrap, default 600). */
  samplesPerTree?: number;
  /** Fraction of features each tree may use (default 0.5). */
  maxFeatures?: number;
  /** Maximum tree depth (default 10). */
  maxDepth?: number;
  /** Vote fraction at or above which a pixel is change (default 0.5). */
  threshold?: number;
  /** Post-processing of the class map (default 'majority3x3'). */
  smoothing?: Smoothing;
  seed?: number;
  /** Free text kept in the model (e.g. the training scenes). */
  trainedOn?: string[];
}

/** Class-map post-processing: none, or a 3 × 3 majority filter ({@link majorityFilter}). */
export type Smoothing = 'none' | 'majority3x3';

/** A trained, JSON-serialisable supervised change model. */
export interface SupervisedModel {
  format: 's2change-random-forest';
  version: 1;
  spec: FeatureSpec;
  featureNames: string[];
  /** Change where the fraction of trees voting change is ≥ this. */
  threshold: number;
  /** Post-processing of the class map; absent (models written before it existed) means 'none'. */
  smoothing?: Smoothing;
  training: { samples: { change: number; noChange: number }; trees: number; samplesPerTree: number; maxDepth: number; maxFeatures: number; seed: number; trainedOn: string[] };
  /** `RandomForestClassifier#toJSON()` of ml-random-forest. */
  forest: unknown;
}

/**
 * A balanced seeded sample: up to `perClass` valid pixels of each class over all scenes. Selection by a hash of
 * (scene, pixel, seed), so it does not depend on the order of the scenes' pixels.
 */
export function sampleBalanced(scenes: readonly TrainingScene[], perClass: number, seed: number): { rows: number[][]; labels: number[]; counts: [number, number] } {
  const totals = [0, 0];
  for (const s of scenes) for (let i = 0; i < s.labels.length; i++) { const l = s.labels[i]!; if (l <= 1 && s.features.valid[i]) totals[l]!++; }
  const rate = totals.map((t) => (t <= perClass ? 1 : perClass / t));
  const rows: number[][] = [];
  const labels: number[] = [];
  const counts: [number, number] = [0, 0];
  scenes.forEach((s, k) => {
    for (let i = 0; i < s.labels.length; i++) {
      const l = s.labels[i]!;
      if (l > 1 || !s.features.valid[i]) continue;
      if (rate[l]! < 1 && hashUnit(i * 64 + k, seed + l) >= rate[l]!) continue;
      rows.push(s.features.columns.map((c) => c[i]!));
      labels.push(l);
      counts[l]!++;
    }
  });
  return { rows, labels, counts };
}

/** Train a random forest on labelled scenes (features from {@link extractFeatures} with one spec). */
export function trainSupervised(spec: FeatureSpec, scenes: readonly TrainingScene[], opts: TrainOptions = {}): SupervisedModel {
  const seed = opts.seed ?? 1;
  const { rows, labels, counts } = sampleBalanced(scenes, opts.perClass ?? 3000, seed);
  if (counts[0] === 0 || counts[1] === 0) {
    throw new UsageError('training needs labelled pixels of both classes', {
      input: 'training labels', expected: 'some change and some no-change pixels', found: `${counts[1]} change, ${counts[0]} no-change`,
      fix: 'Add scenes whose labels contain change (and no change), or check the label coding',
    });
  }
  const trees = opts.trees ?? 20;
  const samplesPerTree = Math.min(rows.length, opts.samplesPerTree ?? 600);
  const maxDepth = opts.maxDepth ?? 10;
  const maxFeatures = opts.maxFeatures ?? 0.5;
  const rf = new RandomForestClassifier({
    nEstimators: trees, maxFeatures, replacement: false, seed, useSampleBagging: true, noOOB: true,
    maxSamples: samplesPerTree, treeOptions: { maxDepth, minNumSamples: 3 },
  } as ConstructorParameters<typeof RandomForestClassifier>[0]);
  rf.train(rows, labels);
  return {
    format: 's2change-random-forest', version: 1, spec, featureNames: featureNames(spec), threshold: opts.threshold ?? 0.5,
    smoothing: opts.smoothing ?? 'majority3x3',
    training: { samples: { change: counts[1], noChange: counts[0] }, trees, samplesPerTree, maxDepth, maxFeatures, seed, trainedOn: opts.trainedOn ?? [] },
    forest: rf.toJSON(),
  };
}

/** Check that a parsed JSON value is a supervised model; throws a UsageError naming `source` otherwise. */
export function checkModel(value: unknown, source: string): SupervisedModel {
  const m = value as Partial<SupervisedModel> | null;
  if (!m || m.format !== 's2change-random-forest' || m.version !== 1 || !m.spec || !Array.isArray(m.spec.bands) || !m.forest
    || (m.smoothing !== undefined && m.smoothing !== 'none' && m.smoothing !== 'majority3x3')) {
    throw new UsageError('not an s2change supervised model', {
      input: source, expected: 'JSON with format "s2change-random-forest", version 1, spec and forest',
      found: m && typeof m === 'object' ? `format ${JSON.stringify(m.format)}, version ${JSON.stringify(m.version)}, smoothing ${JSON.stringify(m.smoothing)}` : typeof value,
      fix: 'Train one with: s2change bench accuracy --dataset oscd --root DIR --train model.json',
    });
  }
  return m as SupervisedModel;
}

/** Rebuild the ml-random-forest classifier of a model. */
export function loadForest(model: SupervisedModel): RandomForestClassifier {
  return RandomForestClassifier.load(model.forest as Parameters<typeof RandomForestClassifier.load>[0]);
}

export { majorityFilter } from '../raster/majority-filter.js';

/**
 * Change probability (vote fraction) and class map (1 change, 0 no change, 255 invalid) of every pixel whose
 * features were computed with the model's spec: change where the vote fraction is ≥ `model.threshold`, then
 * `model.smoothing` (the probability is not smoothed). Predicts in chunks of `chunk` pixels to bound memory.
 */
export function classifyFeatures(model: SupervisedModel, f: Features, chunk = 50_000): { classes: Uint8Array; probability: Float32Array } {
  if (f.names.join(',') !== model.featureNames.join(',')) {
    throw new UsageError('features do not match the model', { input: 'supervised model', expected: model.featureNames.join(','), found: f.names.join(',') });
  }
  const rf = loadForest(model);
  const n = f.valid.length;
  const classes = new Uint8Array(n).fill(255);
  const probability = new Float32Array(n).fill(NaN);
  const idx: number[] = [];
  for (let i = 0; i < n; i++) if (f.valid[i]) idx.push(i);
  for (let s = 0; s < idx.length; s += chunk) {
    const part = idx.slice(s, s + chunk);
    const rows = part.map((i) => f.columns.map((c) => c[i]!));
    const p = rf.predictProbability(rows, 1);
    part.forEach((i, k) => {
      probability[i] = p[k]!;
      classes[i] = p[k]! >= model.threshold ? 1 : 0;
    });
  }
  if ((model.smoothing ?? 'none') === 'majority3x3') {
    if (f.width === undefined || f.height === undefined || f.width * f.height !== n) {
      throw new UsageError('the model smooths its map but the features carry no raster size', {
        input: 'supervised features', expected: `width × height = ${n}`, found: `${f.width} × ${f.height}`,
        fix: 'Compute the features with extractFeatures (which records the size)',
      });
    }
    return { classes: majorityFilter(classes, f.width, f.height), probability };
  }
  return { classes, probability };
}

/** {@link extractFeatures} with the model's spec, then {@link classifyFeatures}. */
export function predictSupervised(model: SupervisedModel, before: BandArrays, after: BandArrays, width: number, height: number,
  valid?: Uint8Array): { classes: Uint8Array; probability: Float32Array } {
  return classifyFeatures(model, extractFeatures(model.spec, before, after, width, height, valid));
}
