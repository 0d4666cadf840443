/**
 * Flood: open water before and after from MNDWI (Xu 2006), or NDWI (McFeeters 1996) when there is no SWIR band.
 * Classes: new water, receded water, permanent water. Pure.
 */
import { getIndex } from '../../indices/registry.js';
import { difference } from '../../indices/normalized-difference.js';
import type { BandName } from '../../indices/bands.js';
import { applyNodata, chooseThreshold, firstAvailable, maskProduct, requireBefore } from './common.js';
import type { Preset, PresetInput, PresetResult } from './types.js';

export const flood: Preset = {
  name: 'flood',
  title: 'Flood (new water)',
  description: 'Water mapped on each date with MNDWI (or NDWI without SWIR); compares the two water masks.',
  singleDate: false,
  methods: ['otsu', 'threshold'],
  defaultMethod: 'otsu',
  changeClasses: [1],
  classes: [
    { value: 0, name: 'no water change', description: 'dry on both dates' },
    { value: 1, name: 'new water', description: 'dry before, water after: flooded' },
    { value: 2, name: 'receded water', description: 'water before, dry after' },
    { value: 3, name: 'permanent water', description: 'water on both dates (rivers, lakes)' },
  ],
  chooseBands(available) {
    return firstAvailable('flood', available, [['B03', 'B11'], ['B03', 'B08']]);
  },
  run(input: PresetInput): PresetResult {
    const before = requireBefore('flood', input.before);
    const bands = this.chooseBands(new Set(Object.keys(input.after) as BandName[]), input.options);
    const index = getIndex(bands[1] === 'B11' ? 'MNDWI' : 'NDWI')!;
    const notes: string[] = [];
    if (index.name === 'NDWI') notes.push('No SWIR band (B11): water mapped with NDWI (McFeeters), which confuses built-up areas with water more often than MNDWI.');
    const wb = maskProduct(index.compute(before), input.valid);
    const wa = maskProduct(index.compute(input.after), input.valid);
    const method = input.options.method ?? this.defaultMethod;
    // One threshold for both dates, from the joint distribution, so that "water" means the same on both.
    const joint = new Float32Array(wb.length * 2);
    joint.set(wb);
    joint.set(wa, wb.length);
    const validJoint = new Uint8Array(joint.length);
    validJoint.set(input.valid);
    validJoint.set(input.valid, wb.length);
    const t = chooseThreshold({
      name: `water (${index.name})`, method, options: input.options, values: joint, valid: validJoint,
      fixed: 0, fixedSource: `${index.name} > 0 (${index.name === 'MNDWI' ? 'Xu 2006' : 'McFeeters 1996'})`,
      otsuRange: [-1, 1], notes,
    });
    const classes = new Uint8Array(wb.length);
    for (let i = 0; i < classes.length; i++) {
      const b = wb[i]! >= t.value;
      const a = wa[i]! >= t.value;
      classes[i] = a && !b ? 1 : b && !a ? 2 : a && b ? 3 : 0;
    }
    applyNodata(classes, input.valid);
    const d = maskProduct(difference(wa, wb), input.valid);
    return {
      classes, method, thresholds: [t], notes,
      formula: `${index.name} = ${index.formula}; water where ${index.name} ≥ ${t.value.toFixed(3)} on each date; new water = water after and not before`,
      products: [{ name: `d${index.name.toLowerCase()}`, description: `${index.name} after − before`, values: d }],
    };
  },
};
