/**
 * Training the urban change model from labelled scenes. Pure: the caller reads the scenes (src/pipeline).
 *
 * - Each city contributes a seeded sample of its labelled valid pixels: up to `perClass` change and `perClass`
 *   no-change pixels ({@link sampleCity}). Each sampled pixel carries a weight (pixels of its class in the city /
 *   sampled pixels of its class), so that weighted counts over samples estimate counts over whole cities.
 * - The decision threshold is chosen by inner cross-validation over the *training cities only*
 *   ({@link trainUrbanLearner}): cities are split into `innerFolds` groups, a model trained without each group
 *   predicts its samples, and the threshold that maximises the weighted (whole-city) pooled F1 of those
 *   out-of-fold predictions is kept. The final learner is then trained on every training city.
 */
import { VERSION } from '../version.js';
import { trainGbdt, predictMatrix, DEFAULT_GBDT_PARAMS, type GbdtParams, type Matrix } from './gbdt.js';
import { seededRandom } from './sampling.js';
import { urbanFeatureNames, urbanHalo, requiredBands, type UrbanFeatureSpec, type UrbanFeatures } from './urban-features.js';
import { OSCD_LABEL_LICENCE, URBAN_MODEL_FORMAT, URBAN_MODEL_VERSION, type CityScore, type PostFilter, type UrbanModel } from './urban-model.js';

/** A city's sampled pixels: row-major features, labels (1 change, 0 no change) and whole-city weights. */
export interface CitySample {
  city: string;
  x: Matrix;
  y: Uint8Array;
  w: Float64Array;
}

/**
 * Sample a city: up to `perClass` pixels of each class among pixels with truth 0 or 1 and finite features
 * (truth codes: 0 no change, 1 change, 2 ignored, 3 outside). Seeded; deterministic.
 */
export function sampleCity(city: string, f: UrbanFeatures, truth: Uint8Array, perClass: number, seed = 1): CitySample {
  const n = f.width * f.height;
  const F = f.planes.length;
  const pools: number[][] = [[], []];
  const p0 = f.planes[0]!;
  for (let i = 0; i < n; i++) { const t = truth[i]!; if (t <= 1 && p0[i] === p0[i]) pools[t]!.push(i); }
  const rnd = seededRandom(seed);
  const picked: number[] = [];
  const y: number[] = [];
  const w: number[] = [];
  for (const cls of [0, 1]) {
    const pool = pools[cls]!;
    const m = Math.min(perClass, pool.length);
    // partial Fisher-Yates
    for (let k = 0; k < m; k++) {
      const j = k + Math.floor(rnd() * (pool.length - k));
      const t = pool[k]!; pool[k] = pool[j]!; pool[j] = t;
      picked.push(pool[k]!); y.push(cls); w.push(pool.length / m);
    }
  }
  const data = new Float32Array(picked.length * F);
  for (let f0 = 0; f0 < F; f0++) {
    const p = f.planes[f0]!;
    for (let r = 0; r < picked.length; r++) data[r * F + f0] = p[picked[r]!]!;
  }
  return { city, x: { data, rows: picked.length, nFeatures: F }, y: Uint8Array.from(y), w: Float64Array.from(w) };
}

/** Stack city samples into one matrix. */
export function stackSamples(samples: readonly CitySample[]): CitySample {
  const F = samples[0]?.x.nFeatures ?? 0;
  const rows = samples.reduce((s, c) => s + c.x.rows, 0);
  const data = new Float32Array(rows * F);
  const y = new Uint8Array(rows);
  const w = new Float64Array(rows);
  let o = 0;
  for (const s of samples) {
    data.set(s.x.data, o * F); y.set(s.y, o); w.set(s.w, o);
    o += s.x.rows;
  }
  return { city: samples.map((s) => s.city).join('+'), x: { data, rows, nFeatures: F }, y, w };
}

/**
 * Threshold in [0.05, 0.95] (steps of 0.01) that maximises the weighted F1 of `prob` against `y`, and that F1.
 * Ties go to the smallest threshold.
 */
export function chooseThreshold(prob: Float32Array, y: Uint8Array, w: Float64Array): { threshold: number; f1: number } {
  const steps = 91;
  const tpAt = new Float64Array(steps), fpAt = new Float64Array(steps);
  let pos = 0;
  for (let i = 0; i < prob.length; i++) {
    if (y[i]) pos += w[i]!;
    // counts for every threshold t_k = 0.05 + 0.01 k with prob ≥ t_k
    const k = Math.min(steps - 1, Math.floor((prob[i]! - 0.05) / 0.01 + 1e-9));
    if (k < 0) continue;
    if (y[i]) tpAt[k]! += w[i]!; else fpAt[k]! += w[i]!;
  }
  let tp = 0, fp = 0, best = -1, bestT = 0.5;
  const f1s: number[] = new Array(steps);
  for (let k = steps - 1; k >= 0; k--) {
    tp += tpAt[k]!; fp += fpAt[k]!;
    const fn = pos - tp;
    f1s[k] = tp > 0 ? (2 * tp) / (2 * tp + fp + fn) : 0;
  }
  for (let k = 0; k < steps; k++) if (f1s[k]! > best + 1e-12) { best = f1s[k]!; bestT = Math.round((0.05 + 0.01 * k) * 100) / 100; }
  return { threshold: bestT, f1: Math.max(0, best) };
}

export interface LearnerOptions {
  gbdt?: Partial<GbdtParams>;
  /** City groups of the inner cross-validation that chooses the threshold (default 2; ≥ 2; fewer cities → one per group). */
  innerFolds?: number;
  /** Called after each tree of each model trained (inner folds first, then the final model). */
  onTree?: (done: number, total: number) => void;
}

/** Train the learner on the training cities and choose its threshold by inner grouped cross-validation. */
export function trainUrbanLearner(cities: readonly CitySample[], opts: LearnerOptions = {}) {
  const params = { ...DEFAULT_GBDT_PARAMS, ...opts.gbdt };
  const k = Math.max(2, Math.min(opts.innerFolds ?? 2, cities.length));
  const total = params.trees * (cities.length >= 2 ? k + 1 : 1);
  let done = 0;
  const tick = () => opts.onTree?.(++done, total);
  let threshold = 0.5;
  let innerF1 = NaN;
  if (cities.length >= 2) {
    const order = [...cities].sort((a, b) => a.city.localeCompare(b.city));
    const probs: Float32Array[] = [];
    const held: CitySample[] = [];
    for (let fold = 0; fold < k; fold++) {
      const test = order.filter((_, i) => i % k === fold);
      const train = stackSamples(order.filter((_, i) => i % k !== fold));
      const m = trainGbdt(train.x, train.y, params, tick);
      for (const t of test) { probs.push(predictMatrix(m, t.x)); held.push(t); }
    }
    const all = stackSamples(held);
    const p = new Float32Array(all.x.rows);
    let o = 0;
    for (const q of probs) { p.set(q, o); o += q.length; }
    const c = chooseThreshold(p, all.y, all.w);
    threshold = c.threshold;
    innerF1 = c.f1;
  }
  const all = stackSamples(cities);
  const learner = trainGbdt(all.x, all.y, params, tick);
  return { learner, threshold, innerF1, innerFolds: cities.length >= 2 ? k : 0, samples: all.x.rows };
}

export const DEFAULT_POST_FILTER: PostFilter = { majority: true, minPixels: 4 };

/** Assemble a model file from a trained learner. */
export function buildUrbanModel(spec: UrbanFeatureSpec, trained: ReturnType<typeof trainUrbanLearner>, info: {
  dataset: string; cities: string[]; samplesPerCity: number; seconds: number; postFilter?: PostFilter;
  scores?: UrbanModel['scores']; createdAt?: string;
}): UrbanModel {
  return {
    format: URBAN_MODEL_FORMAT,
    version: URBAN_MODEL_VERSION,
    createdBy: `s2change ${VERSION}`,
    createdAt: info.createdAt ?? new Date().toISOString(),
    task: 'urban-change',
    features: spec,
    featureNames: urbanFeatureNames(spec),
    bands: requiredBands(spec),
    radiometry: { quantity: 'Sentinel-2 reflectance (L1C top-of-atmosphere as in OSCD; L2A surface reflectance differs)', scale: 1e-4, offset: 0 },
    halo: urbanHalo(spec),
    learner: trained.learner,
    threshold: trained.threshold,
    thresholdSelection: { method: 'maximum pooled F1 (whole-city weighted) of out-of-fold predictions, inner grouped cross-validation over the training cities only', folds: trained.innerFolds, f1: trained.innerF1 },
    postFilter: info.postFilter ?? DEFAULT_POST_FILTER,
    training: { dataset: info.dataset, cities: info.cities, samplesPerCity: info.samplesPerCity, samples: trained.samples, seconds: info.seconds },
    ...(info.scores ? { scores: info.scores } : {}),
    labelLicence: OSCD_LABEL_LICENCE,
  };
}

/** Precision, recall and F1 from counts (NaN where undefined). */
export function cityScore(city: string, tp: number, fp: number, fn: number): CityScore {
  const precision = tp + fp ? tp / (tp + fp) : NaN;
  const recall = tp + fn ? tp / (tp + fn) : NaN;
  const f1 = 2 * tp + fp + fn ? (2 * tp) / (2 * tp + fp + fn) : NaN;
  return { city, tp, fp, fn, precision, recall, f1 };
}
