import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { getPreset, PRESETS } from '../src/change/presets/index.js';
import { severityRules } from '../src/change/presets/wildfire.js';
import { classByRules } from '../src/change/class-rules.js';
import { isS2ChangeError } from '../src/errors.js';
import type { BandArrays } from '../src/indices/registry.js';

const W = 8;
const H = 8;
const N = W * H;
const fill = (v: number) => new Float32Array(N).fill(v);
const allValid = () => new Uint8Array(N).fill(1);

/** A vegetated scene: blue .04, green .07, red .05, NIR .35, SWIR1 .18, SWIR2 .09 (typical healthy canopy). */
function vegetated(): BandArrays {
  return { B02: fill(0.04), B03: fill(0.07), B04: fill(0.05), B08: fill(0.35), B11: fill(0.18), B12: fill(0.09), B8A: fill(0.36) };
}

describe('wildfire preset', () => {
  it('assigns USGS severity classes from dNBR computed by hand', () => {
    // NBR_pre = (0.35 − 0.09)/(0.44) = 0.590909…; burn the post image pixel by pixel to hit chosen dNBR values.
    const before = vegetated();
    const after = vegetated();
    const nbrPre = (0.35 - 0.09) / 0.44;
    const targets = [0.05, 0.15, 0.3, 0.5, 0.8, -0.15, -0.3];
    targets.forEach((d, i) => {
      // choose B12 so that NBR_post = nbrPre − d with NIR fixed at 0.35: (0.35 − s)/(0.35 + s) = p → s = 0.35(1 − p)/(1 + p)
      const p = nbrPre - d;
      after.B12![i] = (0.35 * (1 - p)) / (1 + p);
    });
    const r = getPreset('wildfire').run({ width: W, height: H, before, after, valid: allValid(), options: {} });
    expect([...r.classes.slice(0, 7)]).toEqual([0, 1, 2, 3, 4, 5, 6]);
    const dnbr = r.products.find((p) => p.name === 'dnbr')!.values;
    targets.forEach((d, i) => expect(dnbr[i]).toBeCloseTo(d, 5));
    expect(r.thresholds[0]!.value).toBe(0.1);
  });

  it('severity breaks follow Key & Benson: 0.1, 0.27, 0.44, 0.66 and regrowth below −0.1/−0.25', () => {
    expect([0.0999, 0.1, 0.2699, 0.27, 0.4399, 0.44, 0.6599, 0.66, -0.1, -0.1001, -0.25, -0.2501, NaN].map((d) => classByRules(severityRules(0.1), d)))
      .toEqual([0, 1, 1, 2, 2, 3, 3, 4, 0, 5, 5, 6, 0]);
  });

  it('a burned threshold above a break: burned pixels are at least "low" and never below the threshold', () => {
    // --threshold 0.5: 0.45 is not burned (0), 0.5 is burned at the moderate-high break's class 3, 0.7 high (4).
    expect([0.45, 0.5, 0.6, 0.7, -0.3].map((d) => classByRules(severityRules(0.5), d))).toEqual([0, 3, 3, 4, 6]);
  });
});

describe('flood preset', () => {
  it('finds new water, receded water and permanent water', () => {
    const before = vegetated();
    const after = vegetated();
    const water = (s: BandArrays, i: number) => { s.B03![i] = 0.06; s.B08![i] = 0.02; s.B11![i] = 0.01; };
    water(after, 0); // new water
    water(before, 1); // receded
    water(before, 2); water(after, 2); // permanent
    const r = getPreset('flood').run({ width: W, height: H, before, after, valid: allValid(), options: { method: 'threshold' } });
    expect(r.classes[0]).toBe(1);
    expect(r.classes[1]).toBe(2);
    expect(r.classes[2]).toBe(3);
    expect([...r.classes.slice(3)].every((c) => c === 0)).toBe(true);
    expect(r.thresholds[0]!.value).toBe(0); // MNDWI > 0 with --method threshold
  });

  it('falls back to NDWI without SWIR and says so', () => {
    const before = vegetated(); const after = vegetated();
    delete before.B11; delete after.B11;
    const r = getPreset('flood').run({ width: W, height: H, before, after, valid: allValid(), options: { method: 'threshold' } });
    expect(r.formula).toContain('NDWI');
    expect(r.notes.join(' ')).toMatch(/NDWI/);
  });
});

describe('every preset', () => {
  it('finds no change in a scene compared with itself, for random reflectances', () => {
    fc.assert(fc.property(fc.array(fc.float({ min: Math.fround(0.001), max: Math.fround(0.8), noNaN: true }), { minLength: N * 7, maxLength: N * 7 }), (xs) => {
      const scene: BandArrays = {};
      (['B02', 'B03', 'B04', 'B08', 'B11', 'B12', 'B8A'] as const).forEach((b, k) => { scene[b] = new Float32Array(xs.slice(k * N, (k + 1) * N)); });
      for (const p of PRESETS) {
        if (p.singleDate) continue;
        for (const method of p.methods) {
          const r = p.run({ width: W, height: H, before: scene, after: scene, valid: allValid(), options: { method } });
          // Class 0 is "no change"; flood's class 3 (permanent water) is also not a change.
          const changed = [...r.classes].filter((c) => c !== 0 && !(p.name === 'flood' && c === 3));
          expect(changed, `${p.name}/${method}`).toEqual([]);
        }
      }
    }), { numRuns: 20 });
  });

  it('writes the nodata class (255) where pixels are invalid', () => {
    const valid = allValid(); valid[5] = 0;
    for (const p of PRESETS) {
      const r = p.run({ width: W, height: H, before: vegetated(), after: vegetated(), valid, options: {} });
      expect(r.classes[5], p.name).toBe(255);
      for (const prod of r.products) expect(Number.isNaN(prod.values[5]!), `${p.name} ${prod.name}`).toBe(true);
    }
  });

  it('refuses an unknown preset and missing bands with typed errors', () => {
    expect(() => getPreset('volcano')).toThrowError(/unknown preset.*flood \| wildfire/);
    try { getPreset('volcano'); } catch (e) { expect(isS2ChangeError(e, 'UNKNOWN_PRESET')).toBe(true); }
    const p = getPreset('wildfire');
    try {
      p.chooseBands(new Set(['B02', 'B03', 'B04']), {});
      expect.unreachable();
    } catch (e) {
      expect(isS2ChangeError(e, 'MISSING_BAND')).toBe(true);
      expect((e as Error).message).toMatch(/B08\+B12 or B8A\+B12/);
      expect((e as Error).message).toMatch(/B02,B03,B04/);
    }
  });
});
