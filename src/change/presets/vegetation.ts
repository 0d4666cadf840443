/**
 * Vegetation loss and gain from the NDVI difference. Pure.
 */
import { getIndex } from '../../indices/registry.js';
import { difference } from '../../indices/normalized-difference.js';
import { applyNodata, chooseThreshold, firstAvailable, maskProduct, requireBefore } from './common.js';
import type { Preset, PresetInput, PresetResult } from './types.js';
import { classesByRules, type ClassRules } from '../class-rules.js';

/** Vegetation classes of ΔNDVI for threshold t: 1 loss (≤ −t), 2 gain (≥ t), 0 otherwise (NaN included). */
export function vegetationRules(t: number): ClassRules {
  return { rules: [{ op: '<=', bound: -t, value: 1 }, { op: '>=', bound: t, value: 2 }], otherwise: 0 };
}

export const vegetation: Preset = {
  name: 'vegetation',
  title: 'Vegetation loss and gain (ΔNDVI)',
  description: 'Change of NDVI between the dates: a large drop is vegetation loss (clearing, fire, harvest), a rise is gain.',
  singleDate: false,
  methods: ['threshold', 'otsu'],
  defaultMethod: 'threshold',
  changeClasses: [1],
  classes: [
    { value: 0, name: 'no vegetation change', description: '|ΔNDVI| below the threshold' },
    { value: 1, name: 'vegetation loss', description: 'ΔNDVI ≤ −threshold' },
    { value: 2, name: 'vegetation gain', description: 'ΔNDVI ≥ threshold' },
  ],
  chooseBands(available) {
    return firstAvailable('vegetation', available, [['B04', 'B08']]);
  },
  run(input: PresetInput): PresetResult {
    const before = requireBefore('vegetation', input.before);
    const ndvi = getIndex('NDVI')!;
    const notes: string[] = [];
    const d = maskProduct(difference(ndvi.compute(input.after), ndvi.compute(before)), input.valid);
    const method = input.options.method ?? this.defaultMethod;
    const magnitude = new Float32Array(d.length);
    for (let i = 0; i < d.length; i++) magnitude[i] = Math.abs(d[i]!);
    const t = chooseThreshold({
      name: '|ΔNDVI|', method, options: input.options, values: magnitude, valid: input.valid,
      fixed: 0.2, fixedSource: 'conventional |ΔNDVI| ≥ 0.2 (tune per scene; see docs/presets.md)', notes,
    });
    const classes = new Uint8Array(d.length);
    classesByRules(vegetationRules(t.value), d, classes);
    applyNodata(classes, input.valid);
    return {
      classes, method, thresholds: [t], notes,
      formula: `NDVI = ${ndvi.formula}; ΔNDVI = NDVI_after − NDVI_before; loss where ΔNDVI ≤ −${t.value.toFixed(3)}, gain where ΔNDVI ≥ ${t.value.toFixed(3)}`,
      products: [{ name: 'dndvi', description: 'NDVI after − before', values: d }],
    };
  },
};
