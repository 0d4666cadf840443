/**
 * The multi-band change methods shared by the `generic` and `urban` presets: CVA magnitude with a threshold
 * (Malila 1980), PCA-k-means (Celik 2009), IR-MAD with a χ² change probability (Nielsen 2007) and the supervised
 * random forest. Pure.
 * Output classes: 1 change, 0 no change, 255 nodata.
 */
import type { BandName } from '../../indices/bands.js';
import { UsageError } from '../../errors.js';
import { irmad, irmadChangeMask } from '../irmad.js';
import { pcaKmeans } from '../pca-kmeans.js';
import { predictSupervised } from '../supervised.js';
import { changeVector } from '../cva.js';
import { applyNodata, chooseThreshold, firstAvailable, maskProduct } from './common.js';
import type { ChangeMethod, PresetInput, PresetOptions, PresetResult } from './types.js';

/** Methods handled here. */
export const MULTIVARIATE_METHODS: readonly ChangeMethod[] = ['pca-kmeans', 'irmad', 'supervised'];

/** True for 'pca-kmeans' | 'irmad' | 'supervised'. */
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

function identical(x: readonly Float32Array[], y: readonly Float32Array[], valid: Uint8Array): boolean {
  for (let b = 0; b < x.length; b++) {
    const p = x[b]!;
    const q = y[b]!;
    if (p === q) continue;
    for (let i = 0; i < p.length; i++) if (valid[i] && p[i] !== q[i]) return false;
  }
  return true;
}

/** Run PCA-k-means, IR-MAD or the supervised model on the given bands (identical dates: all "no change"). */
export function runMultivariate(preset: string, method: ChangeMethod, bands: readonly BandName[], before: NonNullable<PresetInput['before']>, input: PresetInput): PresetResult {
  const { width, height, valid } = input;
  const n = width * height;
  const x = bands.map((b) => before[b]!);
  const y = bands.map((b) => input.after[b]!);
  const notes: string[] = [];
  const list = bands.join(',');
  if (identical(x, y, valid)) {
    // No difference vector anywhere: nothing to cluster, no CCA to fit (IR-MAD would be singular), nothing to classify.
    notes.push('The two dates are identical on every valid pixel: no change.');
    return {
      classes: applyNodata(new Uint8Array(n), valid), method, notes, thresholds: [],
      formula: `${method} over ${list}: the dates are identical, so no pixel changed`, products: [],
    };
  }
  if (method === 'pca-kmeans') {
    const r = pcaKmeans(x, y, width, height, { valid });
    if (r.model.degenerate) notes.push('PCA-k-means: the difference image has no variance; everything is "no change".');
    return {
      classes: applyNodata(r.change, valid), method, notes, thresholds: [],
      formula: `PCA-k-means (Celik 2009): ${r.model.pca.blockSize}×${r.model.pca.blockSize} neighbourhoods of the CVA magnitude over ${list}, ${r.model.pca.dims} principal components, k-means k = 2`,
      products: [{ name: 'cva_magnitude', description: `CVA magnitude over ${list}`, values: r.difference }],
    };
  }
  if (method === 'irmad') {
    const r = irmad(x, y, n, { valid, regularization: 1e-6 });
    const minP = input.options.threshold ?? 0.99;
    const m = irmadChangeMask(r, { method: 'probability', minPChange: minP });
    return {
      classes: applyNodata(m.mask, valid), method, notes,
      thresholds: [{ name: 'IR-MAD χ² statistic Z', value: m.chi2Threshold, source: `χ²(${r.model.dof}) quantile for P(change) > ${minP}${input.options.threshold !== undefined ? ' (user --threshold)' : ''}` }],
      formula: `IR-MAD (Nielsen 2007) over ${list}: Z = Σ (MAD_k/σ_k)², change where P(change) = F_χ²(Z; ${r.model.dof}) > ${minP}`,
      products: [{ name: 'irmad_chi2', description: `IR-MAD χ² statistic over ${list}`, values: r.chi2 }],
    };
  }
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
