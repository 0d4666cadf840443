/**
 * Single-date open-water map from MNDWI (or NDWI without SWIR). Pure.
 */
import { getIndex } from '../../indices/registry.js';
import type { BandName } from '../../indices/bands.js';
import { applyNodata, chooseThreshold, firstAvailable, maskProduct } from './common.js';
import type { Preset, PresetInput, PresetResult } from './types.js';

export const water: Preset = {
  name: 'water',
  title: 'Water extent (single date)',
  description: 'Open water on one date from MNDWI (Xu 2006), or NDWI (McFeeters 1996) without SWIR.',
  singleDate: true,
  methods: ['otsu', 'threshold'],
  defaultMethod: 'otsu',
  changeClasses: [1],
  classes: [
    { value: 0, name: 'not water', description: 'index below the threshold' },
    { value: 1, name: 'water', description: 'index at or above the threshold' },
  ],
  chooseBands(available) {
    return firstAvailable('water', available, [['B03', 'B11'], ['B03', 'B08']]);
  },
  run(input: PresetInput): PresetResult {
    const bands = this.chooseBands(new Set(Object.keys(input.after) as BandName[]), input.options);
    const index = getIndex(bands[1] === 'B11' ? 'MNDWI' : 'NDWI')!;
    const notes: string[] = [];
    const w = maskProduct(index.compute(input.after), input.valid);
    const method = input.options.method ?? this.defaultMethod;
    const t = chooseThreshold({
      name: `water (${index.name})`, method, options: input.options, values: w, valid: input.valid,
      fixed: 0, fixedSource: `${index.name} > 0`, otsuRange: [-1, 1], notes,
    });
    const classes = new Uint8Array(w.length);
    for (let i = 0; i < w.length; i++) classes[i] = w[i]! >= t.value ? 1 : 0;
    applyNodata(classes, input.valid);
    return {
      classes, method, thresholds: [t], notes,
      formula: `${index.name} = ${index.formula}; water where ${index.name} ≥ ${t.value.toFixed(3)}`,
      products: [{ name: index.name.toLowerCase(), description: index.longName, values: w }],
    };
  },
};
