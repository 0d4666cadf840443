/**
 * The learned urban (construction) change model: its file format and how it is applied to a whole array. Pure.
 *
 * A model file is JSON, versioned and self-describing ({@link UrbanModel}): the feature spec (bands, indices,
 * context windows) and halo, the radiometry the bands must be in, the learner (gradient-boosted trees,
 * src/change/gbdt.ts), the decision threshold and how it was chosen (inner cross-validation on the training
 * cities only), the post-filter, what it was trained on, its leave-one-city-out scores, and the licence of the
 * labels it learnt from. {@link checkUrbanModel} refuses anything else with a {@link ModelError}, and
 * {@link checkModelFitsInput} refuses a model whose bands the input lacks.
 *
 * Applying ({@link applyUrbanModel}): features ({@link urbanFeatures}) with the scene's statistics → probability
 * of change → change where probability ≥ threshold → 3 × 3 majority filter (optional) → change objects smaller
 * than `minPixels` (8-connected) removed. Classes: 1 change, 0 no change, 255 invalid.
 *
 * Block inference (the block engine) must reproduce this: features of a block need {@link UrbanModel.halo}
 * pixels of context around it and the *whole scene's* statistics; the majority filter needs one more pixel;
 * the minimum object size is a whole-map operation (objects cross block borders).
 */
import { ModelError, RadiometryError } from '../errors.js';
import type { BandName } from '../indices/bands.js';
import type { BandArrays } from '../indices/registry.js';
import { removeSmallComponents } from '../raster/components.js';
import { majorityFilter } from '../raster/majority-filter.js';
import { predictPlanes, type GbdtModel } from './gbdt.js';
import {
  requiredBands, sceneStatistics, URBAN_INDICES, urbanFeatureNames, urbanFeatures, urbanHalo,
  type UrbanFeatureSpec, type UrbanSceneStats,
} from './urban-features.js';

export const URBAN_MODEL_FORMAT = 's2change-urban-model';
export const URBAN_MODEL_VERSION = 1;

export const OSCD_LABEL_LICENCE = 'OSCD change labels: Creative Commons BY-NC-SA (Daudt et al. 2018, IGARSS). '
  + 'A model trained on them is a derivative of the labels: non-commercial, share-alike, with attribution. '
  + 'Do not redistribute it under other terms.';

/** Reflectance the model expects its bands in: value = (DN + offset) × scale, as s2change reads scenes. */
export interface ModelRadiometry {
  quantity: string;
  scale: number;
  offset: number;
}

export interface PostFilter {
  /** 3 × 3 majority filter of the class map before removing small objects. */
  majority: boolean;
  /** Change objects (8-connected) smaller than this many pixels become no change; 0 = keep all. */
  minPixels: number;
}

/** Precision, recall, F1 and confusion counts of one city or pooled. */
export interface CityScore {
  city: string;
  tp: number;
  fp: number;
  fn: number;
  precision: number;
  recall: number;
  f1: number;
}

export interface UrbanModel {
  format: typeof URBAN_MODEL_FORMAT;
  version: typeof URBAN_MODEL_VERSION;
  /** s2change version that wrote it. */
  createdBy: string;
  createdAt: string;
  /** What class 1 means. */
  task: 'urban-change';
  features: UrbanFeatureSpec;
  /** Column order the learner was trained on (checked against the spec's). */
  featureNames: string[];
  /** Bands needed on both dates. */
  bands: BandName[];
  radiometry: ModelRadiometry;
  /** Context pixels a block needs around it for its features (the largest window radius). */
  halo: number;
  learner: GbdtModel;
  /** Change where the probability is ≥ threshold. */
  threshold: number;
  thresholdSelection: { method: string; folds: number; f1: number };
  postFilter: PostFilter;
  training: { dataset: string; cities: string[]; samplesPerCity: number; samples: number; seconds: number };
  /** Leave-one-city-out scores over the training cities (when computed). */
  scores?: { protocol: string; pooled: CityScore; perCity: CityScore[] };
  labelLicence: string;
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Parse a model file's text; malformed JSON is a ModelError naming the file. */
export function parseUrbanModel(text: string, source: string): UrbanModel {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new ModelError('the model file is not valid JSON', {
      input: source, expected: `a ${URBAN_MODEL_FORMAT} JSON file written by "s2change bench accuracy --dataset oscd --train FILE"`,
      found: (err as Error).message, fix: 'Train the model again with bench accuracy --train', cause: err,
    });
  }
  return checkUrbanModel(value, source);
}

/** Check that a parsed value is an urban model of this version, internally consistent; ModelError otherwise. */
export function checkUrbanModel(value: unknown, source: string): UrbanModel {
  const fail = (expected: string, found: string): never => {
    throw new ModelError('not a usable urban model', { input: source, expected, found, fix: 'Train the model again with "s2change bench accuracy --dataset oscd --root … --train FILE"' });
  };
  if (!isObj(value)) return fail(`a ${URBAN_MODEL_FORMAT} JSON object`, Array.isArray(value) ? 'an array' : typeof value);
  if (value.format !== URBAN_MODEL_FORMAT) return fail(`format "${URBAN_MODEL_FORMAT}"`, value.format === undefined ? 'no format field' : `format ${JSON.stringify(value.format)}`);
  if (value.version !== URBAN_MODEL_VERSION) {
    return fail(`version ${URBAN_MODEL_VERSION} (this s2change reads only that)`, `version ${JSON.stringify(value.version)}`);
  }
  const f = value.features;
  if (!isObj(f) || f.version !== 1 || !Array.isArray(f.bands) || !Array.isArray(f.indices) || !Array.isArray(f.context) || !Array.isArray(f.radii)) {
    return fail('features {version 1, bands, indices, context, radii}', 'a missing or malformed feature spec');
  }
  const spec = f as unknown as UrbanFeatureSpec;
  for (const i of spec.indices) if (!(URBAN_INDICES as readonly string[]).includes(i)) fail(`indices among ${URBAN_INDICES.join(', ')}`, `index ${JSON.stringify(i)}`);
  if (spec.radii.some((r) => !Number.isInteger(r) || r < 0)) fail('non-negative integer window radii', JSON.stringify(spec.radii));
  const names = urbanFeatureNames(spec);
  if (!Array.isArray(value.featureNames) || value.featureNames.join(',') !== names.join(',')) {
    return fail(`featureNames equal to the spec's ${names.length} features`, Array.isArray(value.featureNames) ? `${value.featureNames.length} other names` : 'none');
  }
  const l = value.learner;
  if (!isObj(l) || l.kind !== 'gbdt-binary-logistic' || l.nFeatures !== names.length || !Array.isArray(l.trees) || typeof l.baseScore !== 'number') {
    return fail(`a gbdt-binary-logistic learner over ${names.length} features`, isObj(l) ? `kind ${JSON.stringify(l.kind)}, ${String(l.nFeatures)} features` : 'no learner');
  }
  for (const [k, t] of (l.trees as unknown[]).entries()) {
    if (!isObj(t) || !['feature', 'threshold', 'left', 'right', 'value'].every((x) => Array.isArray(t[x]) && (t[x] as unknown[]).length === (t.feature as unknown[]).length)) {
      fail('trees of equal-length arrays feature, threshold, left, right, value', `tree ${k} malformed`);
    }
    const tt = t as unknown as GbdtModel['trees'][number];
    const m = tt.feature.length;
    for (let i = 0; i < m; i++) {
      if (tt.feature[i]! >= names.length) fail(`split features < ${names.length}`, `tree ${k} node ${i} splits on ${tt.feature[i]}`);
      if (tt.feature[i]! >= 0 && !(tt.left[i]! > i && tt.left[i]! < m && tt.right[i]! > i && tt.right[i]! < m)) fail('children after their parent', `tree ${k} node ${i}`);
      if (tt.threshold[i] === null) tt.threshold[i] = Infinity; // JSON writes Infinity as null
    }
  }
  if (typeof value.threshold !== 'number' || !(value.threshold >= 0 && value.threshold <= 1)) return fail('a threshold in [0, 1]', String(value.threshold));
  const pf = value.postFilter;
  if (!isObj(pf) || typeof pf.majority !== 'boolean' || typeof pf.minPixels !== 'number') return fail('postFilter {majority, minPixels}', JSON.stringify(pf));
  if (typeof value.halo !== 'number' || value.halo !== urbanHalo(spec)) return fail(`halo ${urbanHalo(spec)} (the largest window radius)`, String(value.halo));
  const r = value.radiometry;
  if (!isObj(r) || typeof r.scale !== 'number' || typeof r.offset !== 'number') return fail('radiometry {quantity, scale, offset}', JSON.stringify(r));
  if (!Array.isArray(value.bands)) return fail('bands', 'none');
  return value as unknown as UrbanModel;
}

/**
 * Refuse a model the input does not fit: a band the model needs missing on either date (ModelError naming the
 * bands), or bands not in reflectance (median of a needed band above 1.5: DN not converted; RadiometryError).
 */
export function checkModelFitsInput(model: UrbanModel, before: BandArrays, after: BandArrays, source = 'urban model'): void {
  const need = requiredBands(model.features);
  for (const [date, arrays] of [['before', before], ['after', after]] as const) {
    const missing = need.filter((b) => !arrays[b]);
    if (missing.length) {
      throw new ModelError('the input lacks bands the model was trained on', {
        input: source, expected: `bands ${need.join(',')} on both dates`, found: `${date} scene without ${missing.join(',')}`,
        fix: 'Give scenes with every 10 and 20 m band, or train a model on the bands you have',
      });
    }
    for (const b of need) {
      const a = arrays[b]!;
      const step = Math.max(1, Math.floor(a.length / 2001));
      const s: number[] = [];
      for (let i = 0; i < a.length; i += step) if (a[i] === a[i]) s.push(a[i]!);
      s.sort((x, y) => x - y);
      const med = s[s.length >> 1];
      if (med !== undefined && med > 1.5) {
        throw new RadiometryError('band values are not reflectance', {
          input: `${date} ${b}`, expected: `${model.radiometry.quantity} (DN × ${model.radiometry.scale}), median well below 1`, found: `median ${med}`,
          fix: 'Read scenes with their radiometry (or --scale 0.0001)',
        });
      }
    }
  }
}

/** Majority filter and minimum object size of a class map (1 change, 0 no change, 255 invalid). */
export function postFilterClasses(classes: Uint8Array, width: number, height: number, pf: PostFilter): Uint8Array {
  let c = pf.majority ? majorityFilter(classes, width, height) : classes;
  if (pf.minPixels > 1) c = removeSmallComponents(c, width, height, { minPixels: pf.minPixels, connectivity: 8 }).classes;
  return c;
}

/** Classes from probabilities: 255 where NaN, 1 where ≥ threshold, else 0. */
export function thresholdProbability(probability: Float32Array, threshold: number): Uint8Array {
  const out = new Uint8Array(probability.length);
  for (let i = 0; i < out.length; i++) { const p = probability[i]!; out[i] = p !== p ? 255 : p >= threshold ? 1 : 0; }
  return out;
}

export interface UrbanPrediction {
  /** 1 change, 0 no change, 255 invalid (after the post-filter). */
  classes: Uint8Array;
  /** Probability of change (NaN where invalid). */
  probability: Float32Array;
  stats: UrbanSceneStats;
}

/**
 * Apply a model to a whole scene pair (width × height, reflectance bands of both dates): checks the input fits,
 * computes the scene statistics (unless given), features, probabilities, threshold and post-filter.
 */
export function applyUrbanModel(model: UrbanModel, before: BandArrays, after: BandArrays, width: number, height: number,
  valid?: Uint8Array, opts: { stats?: UrbanSceneStats; source?: string } = {}): UrbanPrediction {
  checkModelFitsInput(model, before, after, opts.source);
  const stats = opts.stats ?? sceneStatistics(model.features, before, after, width, height, valid);
  const f = urbanFeatures(model.features, before, after, width, height, valid, stats);
  const mask = new Uint8Array(width * height);
  for (let i = 0; i < mask.length; i++) mask[i] = f.planes[0]![i] === f.planes[0]![i] && (!valid || valid[i]) ? 1 : 0;
  const probability = predictPlanes(model.learner, f.planes, mask);
  const classes = postFilterClasses(thresholdProbability(probability, model.threshold), width, height, model.postFilter);
  return { classes, probability, stats };
}
