/**
 * Construction / urban growth: new built-up or bare surfaces. With a learned model (method 'learned', detect
 * --model FILE or the model in the cache directory) gradient-boosted trees on multi-scale context features decide
 * (`urban-model.ts`); without one, the best unsupervised method measured on OSCD ({@link URBAN_UNSUPERVISED_METHOD});
 * the ΔBSI rule (a rise of the Bare Soil Index together with a fall of NDVI) stays as a readable alternative. Pure.
 */
import { getIndex } from '../../indices/registry.js';
import { difference } from '../../indices/normalized-difference.js';
import type { BandName } from '../../indices/bands.js';
import { applyNodata, chooseThreshold, firstAvailable, maskProduct, requireBefore } from './common.js';
import { identicalDates, identicalOutcome, isMultivariate, multivariateBands, runCva, runMultivariate } from './multivariate.js';
import type { ChangeMethod, Preset, PresetInput, PresetResult } from './types.js';
import { ModelError } from '../../errors.js';
import { applyUrbanModel, type UrbanModel } from '../urban-model.js';
import { requiredBands } from '../urban-features.js';
import { urbanSceneStatistics } from '../urban-inference.js';

const CVA_BANDS: BandName[] = ['B02', 'B03', 'B04', 'B08', 'B11', 'B12'];

/**
 * The method `--preset urban` uses when no learned model is given or found: the best unsupervised method measured
 * on OSCD. One constant, so that the choice is switched in one place. Plain MAD (one CCA fit, χ² P(change) > 0.99):
 * issue 14's independent numpy reference put it first (pooled F1 0.30 on unseen cities), and s2change's own
 * (co-registered) run measured 44.3 % on the 10 OSCD test cities and 22.3 % on the 5 training cities, against
 * 27.9 % / 13.9 % for CVA (docs/presets.md, docs/ACCURACY.md).
 */
export const URBAN_UNSUPERVISED_METHOD: ChangeMethod = 'mad';

/**
 * What the unsupervised urban methods score on the OSCD cities (pooled F1, `s2change bench accuracy --dataset oscd`),
 * for the note that says what a map without a model is worth.
 */
export const URBAN_UNSUPERVISED_OSCD_F1: Readonly<Partial<Record<ChangeMethod, string>>> = Object.freeze({
  mad: '22 % (5 OSCD training cities) to 44 % (10 OSCD test cities) pooled F1',
  cva: '14 % (5 OSCD training cities) to 28 % (10 OSCD test cities) pooled F1',
  'pca-kmeans': 'about 13 % pooled F1 on the 5 OSCD training cities',
  irmad: 'about 10 % pooled F1 on the 5 OSCD training cities',
});

/** The method a urban run uses: the user's, else 'learned' when a model is given, else {@link URBAN_UNSUPERVISED_METHOD}. */
export function urbanMethod(options: PresetInput['options']): ChangeMethod {
  return options.method ?? (options.urbanModel ? 'learned' : URBAN_UNSUPERVISED_METHOD);
}

export const urban: Preset = {
  name: 'urban',
  title: 'Construction and urban growth',
  description: 'New built-up land or bare soil: the Bare Soil Index rises while NDVI does not rise.',
  singleDate: false,
  methods: ['learned', 'cva', 'otsu', 'threshold', 'pca-kmeans', 'mad', 'irmad', 'supervised'],
  // Without a model: the best unsupervised method measured on OSCD. With one (--model, or the cache), 'learned'.
  defaultMethod: URBAN_UNSUPERVISED_METHOD,
  changeClasses: [1],
  classes: [
    { value: 0, name: 'no construction change', description: 'below the threshold' },
    { value: 1, name: 'new built-up / bare soil', description: 'ΔBSI above the threshold and NDVI not rising (or CVA change)' },
  ],
  chooseBands(available, opts) {
    if (urbanMethod(opts) === 'learned') return firstAvailable('urban', available, [requiredBands(requireUrbanModel(opts).features)]);
    opts = { ...opts, method: urbanMethod(opts) };
    if (isMultivariate(opts.method)) return multivariateBands('urban', available, opts, CVA_BANDS);
    if ((opts.method ?? 'cva') === 'cva') {
      const use = (opts.cvaBands ?? CVA_BANDS).filter((b) => available.has(b));
      return firstAvailable('urban', available, [use.length >= 2 ? use : CVA_BANDS]);
    }
    return firstAvailable('urban', available, [['B02', 'B04', 'B08', 'B11']]);
  },
  run(input: PresetInput): PresetResult {
    const before = requireBefore('urban', input.before);
    const method = urbanMethod(input.options);
    const notes: string[] = [];
    const available = new Set(Object.keys(input.after) as BandName[]);
    if (method === 'learned') return runLearned(before, input);
    if (isMultivariate(method)) return runMultivariate('urban', method, this.chooseBands(available, { ...input.options, method }), before, input);
    if (method === 'cva') return runCva(this.chooseBands(available, { ...input.options, method }), before, input, method);
    const bsi = getIndex('BSI')!;
    const ndvi = getIndex('NDVI')!;
    const dBsi = maskProduct(difference(bsi.compute(input.after), bsi.compute(before)), input.valid);
    const dNdvi = difference(ndvi.compute(input.after), ndvi.compute(before));
    const t = chooseThreshold({
      name: 'ΔBSI', method, options: input.options, values: dBsi, valid: input.valid,
      fixed: 0.1, fixedSource: 'fixed ΔBSI ≥ 0.1 (see docs/presets.md)', notes,
    });
    const classes = new Uint8Array(dBsi.length);
    for (let i = 0; i < classes.length; i++) classes[i] = dBsi[i]! >= t.value && dNdvi[i]! <= 0 ? 1 : 0;
    applyNodata(classes, input.valid);
    return {
      classes, method, thresholds: [t], notes,
      formula: `BSI = ${bsi.formula}; new built-up/bare where ΔBSI ≥ ${t.value.toFixed(3)} and ΔNDVI ≤ 0`,
      products: [{ name: 'dbsi', description: 'BSI after − before', values: dBsi }],
    };
  },
};


function requireUrbanModel(options: PresetInput['options']) {
  if (!options.urbanModel) {
    throw new ModelError('method "learned" needs a trained urban model', {
      input: '--preset urban --method learned', expected: '--model FILE, or urban-model.json in the cache directory', found: 'no model',
      fix: 'Train one with: s2change bench accuracy --dataset oscd --root ../shared/data/oscd --root ../shared/data/oscd-test --train urban-model.json',
    });
  }
  return options.urbanModel;
}

/** The learned model on the whole arrays (`applyUrbanModel`): classes 1 change, 0 no change, 255 invalid. */
function runLearned(before: NonNullable<PresetInput['before']>, input: PresetInput): PresetResult {
  const { width, height, valid } = input;
  // Identical dates: no change, whatever a model would score (as the other multi-band methods decide).
  const bands = input.options.urbanModel
    ? requiredBands(input.options.urbanModel.features)
    : (Object.keys(input.after) as BandName[]).filter((b) => before[b]);
  if (bands.every((b) => before[b] && input.after[b]) && identicalDates(bands.map((b) => before[b]!), bands.map((b) => input.after[b]!), valid)) {
    return {
      classes: applyNodata(new Uint8Array(width * height), valid), method: 'learned', notes: [...identicalOutcome('learned', bands).notes],
      thresholds: [], formula: identicalOutcome('learned', bands).formula, products: [],
    };
  }
  const model = requireUrbanModel(input.options);
  // Scene statistics from the seeded sample in pixel order: exactly what the block engine computes (urban-inference.ts).
  const stats = urbanSceneStatistics(model, requiredBands(model.features), before, input.after, valid, width, height);
  const p = applyUrbanModel(model, before, input.after, width, height, valid, { source: input.options.urbanModelSource, stats });
  return {
    classes: applyNodata(p.classes, valid), method: 'learned', notes: [], thresholds: learnedThresholds(model), formula: learnedFormula(model),
    products: [{ ...LEARNED_PRODUCT, values: p.probability }],
  };
}

/** The learned model's float product: its probability of change. */
export const LEARNED_PRODUCT = Object.freeze({ name: 'urban_probability', description: 'probability of construction change (learned urban model)' });

/** The learned model's threshold, as summary.json reports it. */
export function learnedThresholds(model: UrbanModel): PresetResult['thresholds'] {
  return [{
    name: 'learned change probability', value: model.threshold,
    source: `the model's threshold (${model.thresholdSelection.method}, ${model.thresholdSelection.folds} folds on its training cities)`,
  }];
}

/** How the learned model decides, for summary.json and the report. */
export function learnedFormula(model: UrbanModel): string {
  const pf = model.postFilter;
  const windows = model.features.radii.map((r) => 2 * r + 1).join(', ');
  return `learned urban model: ${model.learner.trees.length} gradient-boosted trees on ${model.featureNames.length} features of `
    + `${model.features.bands.join(',')} (per-scene standardised differences, log-ratios, ${model.features.indices.join('/')} and `
    + `chi-square, local mean/std in ${windows} px windows); change where probability ≥ ${model.threshold}`
    + `${pf.majority ? ', 3×3 majority filter' : ''}${pf.minPixels > 1 ? `, objects under ${pf.minPixels} px removed` : ''}`;
}
