/**
 * Wildfire burn severity from dNBR = NBR_pre − NBR_post (Key & Benson 2006) with the USGS severity classes. Pure.
 */
import { getIndex } from '../../indices/registry.js';
import type { BandName } from '../../indices/bands.js';
import { applyNodata, chooseThreshold, firstAvailable, maskProduct, requireBefore } from './common.js';
import type { Preset, PresetInput, PresetResult } from './types.js';
import { classesByRules, type ClassRules } from '../class-rules.js';

/** USGS/FIREMON dNBR severity breaks (Key & Benson 2006, table as used by UN-SPIDER). */
export const DNBR_BREAKS = { highRegrowth: -0.25, lowRegrowth: -0.1, low: 0.1, moderateLow: 0.27, moderateHigh: 0.44, high: 0.66 } as const;

/**
 * Severity classes of dNBR given the burned threshold: at or above it a pixel is burned, at least "low" (1) and
 * higher by the USGS breaks (never below the burned threshold); below it, regrowth classes 6 and 5, else 0.
 */
export function severityRules(burned: number): ClassRules {
  const B = DNBR_BREAKS;
  return {
    rules: [
      { op: '>=', bound: Math.max(burned, B.high), value: 4 },
      { op: '>=', bound: Math.max(burned, B.moderateHigh), value: 3 },
      { op: '>=', bound: Math.max(burned, B.moderateLow), value: 2 },
      { op: '>=', bound: burned, value: 1 },
      { op: '<', bound: B.highRegrowth, value: 6 },
      { op: '<', bound: B.lowRegrowth, value: 5 },
    ],
    otherwise: 0,
  };
}

export const wildfire: Preset = {
  name: 'wildfire',
  title: 'Wildfire burn severity (dNBR)',
  description: 'Burn scars and severity from the drop of the Normalized Burn Ratio between before and after the fire.',
  singleDate: false,
  methods: ['threshold', 'otsu'],
  defaultMethod: 'threshold',
  changeClasses: [1, 2, 3, 4],
  // One burn scar is one patch whatever its severities; regrowth (a different change) is a patch of its own.
  patchGroups: [[1, 2, 3, 4], [5, 6]],
  classes: [
    { value: 0, name: 'unburned', description: '−0.1 ≤ dNBR < 0.1' },
    { value: 1, name: 'low severity', description: '0.1 ≤ dNBR < 0.27' },
    { value: 2, name: 'moderate-low severity', description: '0.27 ≤ dNBR < 0.44' },
    { value: 3, name: 'moderate-high severity', description: '0.44 ≤ dNBR < 0.66' },
    { value: 4, name: 'high severity', description: 'dNBR ≥ 0.66' },
    { value: 5, name: 'enhanced regrowth, low', description: '−0.25 ≤ dNBR < −0.1' },
    { value: 6, name: 'enhanced regrowth, high', description: 'dNBR < −0.25' },
  ],
  chooseBands(available) {
    return firstAvailable('wildfire', available, [['B08', 'B12'], ['B8A', 'B12']]);
  },
  run(input: PresetInput): PresetResult {
    const before = requireBefore('wildfire', input.before);
    const [nirBand] = this.chooseBands(new Set(Object.keys(input.after) as BandName[]), input.options);
    const nbr = getIndex('NBR')!;
    const notes: string[] = [];
    const swap = (b: typeof before) => (nirBand === 'B8A' ? { ...b, B08: b.B8A } : b);
    if (nirBand === 'B8A') notes.push('NBR computed with B8A (narrow NIR, 20 m) because B08 is absent.');
    const pre = nbr.compute(swap(before));
    const post = nbr.compute(swap(input.after));
    const dnbr = new Float32Array(pre.length);
    for (let i = 0; i < dnbr.length; i++) dnbr[i] = pre[i]! - post[i]!;
    maskProduct(dnbr, input.valid);
    const method = input.options.method ?? this.defaultMethod;
    const t = chooseThreshold({
      name: 'burned (dNBR)', method, options: input.options, values: dnbr, valid: input.valid,
      fixed: DNBR_BREAKS.low, fixedSource: 'USGS low-severity break dNBR ≥ 0.1 (Key & Benson 2006)', notes,
    });
    const classes = new Uint8Array(dnbr.length);
    classesByRules(severityRules(t.value), dnbr, classes);
    applyNodata(classes, input.valid);
    return {
      classes, method, thresholds: [t], notes,
      formula: `NBR = ${nbr.formula}; dNBR = NBR_pre − NBR_post; burned where dNBR ≥ ${t.value.toFixed(3)}; severity by USGS breaks 0.1/0.27/0.44/0.66, regrowth below −0.1/−0.25`,
      products: [{ name: 'dnbr', description: 'dNBR = NBR before − NBR after', values: dnbr }],
    };
  },
};
