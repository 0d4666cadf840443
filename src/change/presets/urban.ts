/**
 * Construction / urban growth: new built-up or bare surfaces, seen as a rise of the Bare Soil Index together with a
 * fall of NDVI — or, with --method cva, as spectral change over the 10/20 m bands. Pure.
 */
import { getIndex } from '../../indices/registry.js';
import { difference } from '../../indices/normalized-difference.js';
import type { BandName } from '../../indices/bands.js';
import { applyNodata, chooseThreshold, firstAvailable, maskProduct, requireBefore } from './common.js';
import { isMultivariate, multivariateBands, runCva, runMultivariate } from './multivariate.js';
import type { Preset, PresetInput, PresetResult } from './types.js';

const CVA_BANDS: BandName[] = ['B02', 'B03', 'B04', 'B08', 'B11', 'B12'];

export const urban: Preset = {
  name: 'urban',
  title: 'Construction and urban growth',
  description: 'New built-up land or bare soil: the Bare Soil Index rises while NDVI does not rise.',
  singleDate: false,
  methods: ['cva', 'otsu', 'threshold', 'pca-kmeans', 'mad', 'irmad', 'supervised'],
  // CVA + Otsu scores best on the OSCD sample cities (docs/presets.md); the ΔBSI rule is kept as a readable alternative.
  defaultMethod: 'cva',
  changeClasses: [1],
  classes: [
    { value: 0, name: 'no construction change', description: 'below the threshold' },
    { value: 1, name: 'new built-up / bare soil', description: 'ΔBSI above the threshold and NDVI not rising (or CVA change)' },
  ],
  chooseBands(available, opts) {
    if (isMultivariate(opts.method)) return multivariateBands('urban', available, opts, CVA_BANDS);
    if ((opts.method ?? 'cva') === 'cva') {
      const use = (opts.cvaBands ?? CVA_BANDS).filter((b) => available.has(b));
      return firstAvailable('urban', available, [use.length >= 2 ? use : CVA_BANDS]);
    }
    return firstAvailable('urban', available, [['B02', 'B04', 'B08', 'B11']]);
  },
  run(input: PresetInput): PresetResult {
    const before = requireBefore('urban', input.before);
    const method = input.options.method ?? this.defaultMethod;
    const notes: string[] = [];
    const available = new Set(Object.keys(input.after) as BandName[]);
    if (isMultivariate(method)) return runMultivariate('urban', method, this.chooseBands(available, input.options), before, input);
    if (method === 'cva') return runCva(this.chooseBands(available, input.options), before, input, method);
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

