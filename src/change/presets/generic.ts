/**
 * Generic multi-band change: change vector analysis (CVA) magnitude with Otsu's threshold. Pure.
 */
import type { BandName } from '../../indices/bands.js';
import { firstAvailable, requireBefore } from './common.js';
import { isMultivariate, multivariateBands, runCva, runMultivariate } from './multivariate.js';
import type { Preset, PresetInput, PresetResult } from './types.js';

const DEFAULT_BANDS: BandName[] = ['B02', 'B03', 'B04', 'B08', 'B11', 'B12'];

export const generic: Preset = {
  name: 'generic',
  title: 'Generic change (CVA)',
  description: 'Any spectral change: the length of the difference vector over several bands, thresholded with Otsu.',
  singleDate: false,
  methods: ['otsu', 'threshold', 'cva', 'pca-kmeans', 'mad', 'irmad', 'supervised'],
  defaultMethod: 'otsu',
  changeClasses: [1],
  classes: [
    { value: 0, name: 'no change', description: 'CVA magnitude below the threshold' },
    { value: 1, name: 'change', description: 'CVA magnitude at or above the threshold' },
  ],
  chooseBands(available, opts) {
    if (isMultivariate(opts.method)) return multivariateBands('generic', available, opts, DEFAULT_BANDS);
    const wanted = opts.cvaBands ?? DEFAULT_BANDS;
    const use = wanted.filter((b) => available.has(b));
    if (opts.cvaBands) return firstAvailable('generic', available, [opts.cvaBands]);
    return firstAvailable('generic', available, [use.length >= 2 ? use : ['B03', 'B04', 'B08']]);
  },
  run(input: PresetInput): PresetResult {
    const before = requireBefore('generic', input.before);
    const bands = this.chooseBands(new Set(Object.keys(input.after) as BandName[]), input.options);
    const method = input.options.method ?? this.defaultMethod;
    if (isMultivariate(method)) return runMultivariate('generic', method, bands, before, input);
    return runCva(bands, before, input, method);
  },
};
