/**
 * The multi-band change methods shared by the `generic` and `urban` presets: CVA magnitude with a threshold
 * (Malila 1980), PCA-k-means (Celik 2009), MAD (one CCA fit, Nielsen et al. 1998) and IR-MAD (Nielsen 2007) with a
 * χ² change probability, and the supervised random forest. Pure.
 * Output classes: 1 change, 0 no change, 255 nodata.
 */
import type { BandName } from '../../indices/bands.js';
import { UsageError } from '../../errors.js';
import { irmad, irmadChangeMask, irmadChi2Threshold, IRMAD_MIN_NO_CHANGE_SHARE, type MadFitOptions } from '../irmad.js';
import { pcaKmeans, type PcaKmeansModel } from '../pca-kmeans.js';
import { predictSupervised } from '../supervised.js';
import { changeVector } from '../cva.js';
import { applyNodata, chooseThreshold, firstAvailable, maskProduct } from './common.js';
import type { ChangeMethod, PresetInput, PresetOptions, PresetResult, ThresholdUsed } from './types.js';

/** Methods handled here. */
export const MULTIVARIATE_METHODS: readonly ChangeMethod[] = ['pca-kmeans', 'mad', 'irmad', 'supervised'];

/** True for 'pca-kmeans' | 'mad' | 'irmad' | 'supervised'. */
export function isMultivariate(method: ChangeMethod | undefined): boolean {
  return !!method && MULTIVARIATE_METHODS.includes(method);
}

/** Bands for the multi-band methods: the model's bands for 'supervised', else the preset's CVA bands. */
export function multivariateBands(preset: string, available: ReadonlySet<BandName>, opts: PresetOptions, cvaBands: readonly BandName[]): BandName[] {
  // Without a model the CVA bands are chosen; runMultivariate then reports the missing model (unless nothing changed).
  if (opts.method === 'supervised' && opts.supervisedModel) return firstAvailable(preset, available, [opts.supervisedModel.spec.bands]);
  const use = (opts.cvaBands ?? cvaBands).filter((b) => available.has(b));
  return firstAvailable(preset, available, [use.length >= 2 ? use : [...cvaBands]]);
}

function requireModel(preset: string, opts: PresetOptions) {
  if (!opts.supervisedModel) {
    throw new UsageError('method "supervised" needs a trained model', {
      input: `--preset ${preset} --method supervised`, expected: '--model FILE (JSON)', found: 'no model',
      fix: 'Train one with: s2change bench accuracy --dataset oscd --root DIR --train model.json, then pass --model model.json',
    });
  }
  return opts.supervisedModel;
}

/** True when both dates have the same value in every band at every valid pixel (x[b], y[b]: band b of each date). */
export function identicalDates(x: readonly Float32Array[], y: readonly Float32Array[], valid: Uint8Array): boolean {
  for (let b = 0; b < x.length; b++) {
    const p = x[b]!;
    const q = y[b]!;
    if (p === q) continue;
    for (let i = 0; i < p.length; i++) if (valid[i] && p[i] !== q[i]) return false;
  }
  return true;
}

/** The IR-MAD fit options of the presets: a small ridge, for (nearly) linearly dependent bands. */
export const PRESET_IRMAD = Object.freeze({ regularization: 1e-6 });

/** True for the two MAD methods: 'mad' (one CCA fit) and 'irmad' (reweighted). */
export function isMad(method: ChangeMethod | undefined): method is 'mad' | 'irmad' {
  return method === 'mad' || method === 'irmad';
}

/** The CCA fit options of a MAD method: plain MAD is IR-MAD stopped after its first, unweighted fit. */
export function madFitOptions(method: 'mad' | 'irmad'): MadFitOptions {
  return method === 'mad' ? { ...PRESET_IRMAD, maxIterations: 1 } : { ...PRESET_IRMAD };
}

/** What a multivariate method reports besides its classes (shared with the block engine, which fits on its own). */
export interface MultivariateOutcome {
  thresholds: ThresholdUsed[];
  formula: string;
  notes: string[];
  /** The float product, or null when there is none (identical dates). */
  product: { name: string; description: string } | null;
}

/** The dates are identical on every valid pixel: no difference vector to cluster and no CCA to fit; no change. */
export function identicalOutcome(method: ChangeMethod, bands: readonly BandName[]): MultivariateOutcome {
  return {
    thresholds: [], notes: ['The two dates are identical on every valid pixel: no change.'], product: null,
    formula: `${method} over ${bands.join(',')}: the dates are identical, so no pixel changed`,
  };
}

/** The P(change) an IR-MAD run thresholds at: --threshold, else 0.99. */
export function irmadMinPChange(options: PresetOptions): number {
  return options.threshold ?? 0.99;
}

/**
 * MAD's or IR-MAD's threshold on Z, formula and product, for a model with `dof` informative MAD variates.
 * `fit` (when known) says how the iterations ended, for the formula.
 */
export function irmadOutcome(bands: readonly BandName[], dof: number, options: PresetOptions, method: 'mad' | 'irmad' = 'irmad',
  fit?: { iterations: number; stopReason: string }): MultivariateOutcome {
  const list = bands.join(',');
  const minP = irmadMinPChange(options);
  const name = method === 'mad' ? 'MAD' : 'IR-MAD';
  const how = method === 'mad' ? 'MAD (Nielsen et al. 1998; one unweighted CCA fit)'
    : `IR-MAD (Nielsen 2007; reweighting stopped when the no-change share would fall under ${IRMAD_MIN_NO_CHANGE_SHARE}${fit ? `; ${fit.iterations} fits, ${fit.stopReason}` : ''})`;
  return {
    thresholds: [{ name: `${name} χ² statistic Z`, value: irmadChi2Threshold(minP, dof), source: `χ²(${dof}) quantile for P(change) > ${minP}${options.threshold !== undefined ? ' (user --threshold)' : ''}` }],
    formula: `${how} over ${list}: Z = Σ (MAD_k/σ_k)², change where P(change) = F_χ²(Z; ${dof}) > ${minP}`,
    notes: [],
    product: irmadProduct(bands, method),
  };
}

/** PCA-k-means' formula, notes and product for a fitted model. */
export function pcaKmeansOutcome(bands: readonly BandName[], model: PcaKmeansModel): MultivariateOutcome {
  const list = bands.join(',');
  return {
    thresholds: [],
    notes: model.degenerate ? ['PCA-k-means: the difference image has no variance; everything is "no change".'] : [],
    formula: `PCA-k-means (Celik 2009): ${model.pca.blockSize}×${model.pca.blockSize} neighbourhoods of the CVA magnitude over ${list}, ${model.pca.dims} principal components, k-means k = 2`,
    product: pcaKmeansProduct(bands),
  };
}

/** MAD's or IR-MAD's float product: the χ² statistic Z. */
export function irmadProduct(bands: readonly BandName[], method: 'mad' | 'irmad' = 'irmad'): { name: string; description: string } {
  return method === 'mad' ? { name: 'mad_chi2', description: `MAD χ² statistic over ${bands.join(',')}` }
    : { name: 'irmad_chi2', description: `IR-MAD χ² statistic over ${bands.join(',')}` };
}

/** PCA-k-means' float product: the difference image it clusters, the CVA magnitude. */
export function pcaKmeansProduct(bands: readonly BandName[]): { name: string; description: string } {
  return { name: 'cva_magnitude', description: `CVA magnitude over ${bands.join(',')}` };
}

/** A PresetResult from an outcome, its classes and its product values. */
function result(method: ChangeMethod, o: MultivariateOutcome, classes: Uint8Array, values: Float32Array | null): PresetResult {
  return {
    classes, method, notes: o.notes, thresholds: o.thresholds, formula: o.formula,
    products: o.product && values ? [{ ...o.product, values }] : [],
  };
}

/** Run PCA-k-means, IR-MAD or the supervised model on the given bands (identical dates: all "no change"). */
export function runMultivariate(preset: string, method: ChangeMethod, bands: readonly BandName[], before: NonNullable<PresetInput['before']>, input: PresetInput): PresetResult {
  const { width, height, valid } = input;
  const n = width * height;
  const x = bands.map((b) => before[b]!);
  const y = bands.map((b) => input.after[b]!);
  const list = bands.join(',');
  if (identicalDates(x, y, valid)) return result(method, identicalOutcome(method, bands), applyNodata(new Uint8Array(n), valid), null);
  if (method === 'pca-kmeans') {
    const r = pcaKmeans(x, y, width, height, { valid });
    return result(method, pcaKmeansOutcome(bands, r.model), applyNodata(r.change, valid), r.difference);
  }
  if (isMad(method)) {
    const r = irmad(x, y, n, { valid, ...madFitOptions(method) });
    const m = irmadChangeMask(r, { method: 'probability', minPChange: irmadMinPChange(input.options) });
    return result(method, irmadOutcome(bands, r.model.dof, input.options, method, r), applyNodata(m.mask, valid), r.chi2);
  }
  const notes: string[] = [];
  const model = requireModel(preset, input.options);
  const p = predictSupervised(model, before, input.after, width, height, valid);
  return {
    classes: applyNodata(p.classes, valid), method, notes,
    thresholds: [{ name: 'random-forest change probability', value: model.threshold, source: 'the model\'s vote-fraction threshold' }],
    formula: `random forest (${model.training.trees} trees, ml-random-forest) on ${model.featureNames.length} features of ${list}; change where the fraction of trees voting change ≥ ${model.threshold}`,
    products: [{ name: 'change_probability', description: 'fraction of trees voting change', values: p.probability }],
  };
}

/**
 * CVA: change where the magnitude of the difference vector over `bands` reaches the threshold (Otsu, fixed 0.1
 * reflectance, or --threshold). Class 1 = change.
 */
export function runCva(bands: readonly BandName[], before: NonNullable<PresetInput['before']>, input: PresetInput,
  method: ChangeMethod): PresetResult {
  const notes: string[] = [];
  const { magnitude } = changeVector(bands.map((b) => before[b]!), bands.map((b) => input.after[b]!), input.width * input.height);
  maskProduct(magnitude, input.valid);
  const t = chooseThreshold({
    name: 'CVA magnitude', method, options: input.options, values: magnitude, valid: input.valid,
    fixed: 0.1, fixedSource: 'fixed reflectance distance 0.1', notes,
  });
  const classes = new Uint8Array(magnitude.length);
  for (let i = 0; i < classes.length; i++) classes[i] = magnitude[i]! >= t.value ? 1 : 0;
  applyNodata(classes, input.valid);
  const list = bands.join(',');
  return {
    classes, method: method === 'threshold' ? 'threshold' : 'cva', thresholds: [t], notes,
    formula: `CVA magnitude = ‖after − before‖ (Euclidean, reflectance) over ${list}; change where magnitude ≥ ${t.value.toFixed(4)}`,
    products: [{ name: 'cva_magnitude', description: `CVA magnitude over ${list}`, values: magnitude }],
  };
}
