import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { difference, normalizedDifference } from '../src/indices/normalized-difference.js';
import { getIndex, INDICES } from '../src/indices/registry.js';
import { canonicalBand } from '../src/indices/bands.js';

const f32 = (xs: number[]) => new Float32Array(xs);

describe('normalized difference', () => {
  it('matches values computed by hand', () => {
    // (0.5 − 0.1)/(0.5 + 0.1) = 0.4/0.6 = 0.6667; (0.2 − 0.2)/0.4 = 0; (0.1 − 0.3)/0.4 = −0.5
    const r = normalizedDifference(f32([0.5, 0.2, 0.1]), f32([0.1, 0.2, 0.3]));
    expect(r[0]).toBeCloseTo(2 / 3, 6);
    expect(r[1]).toBe(0);
    expect(r[2]).toBeCloseTo(-0.5, 6);
  });

  it('is NaN for a zero sum or a NaN input', () => {
    const r = normalizedDifference(f32([0, NaN, 0.3]), f32([0, 0.2, NaN]));
    expect([...r].every(Number.isNaN)).toBe(true);
  });

  it('stays in [−1, 1] or is NaN for non-negative inputs, and swapping the bands negates it', () => {
    const refl = fc.float({ min: 0, max: 2, noNaN: true });
    fc.assert(fc.property(fc.array(fc.tuple(refl, refl), { minLength: 1, maxLength: 64 }), (pairs) => {
      const a = f32(pairs.map((p) => p[0]));
      const b = f32(pairs.map((p) => p[1]));
      const ab = normalizedDifference(a, b);
      const ba = normalizedDifference(b, a);
      for (let i = 0; i < ab.length; i++) {
        if (Number.isNaN(ab[i]!)) { expect(Number.isNaN(ba[i]!)).toBe(true); continue; }
        expect(ab[i]!).toBeGreaterThanOrEqual(-1);
        expect(ab[i]!).toBeLessThanOrEqual(1);
        expect(ab[i]! + ba[i]!).toBeCloseTo(0, 6);
      }
    }));
  });

  it('difference is after − before', () => {
    expect([...difference(f32([0.5, 0.1]), f32([0.2, 0.4]))].map((v) => +v.toFixed(6))).toEqual([0.3, -0.3]);
  });
});

describe('index registry', () => {
  it('has the required indices with formula, bands, range and a reference', () => {
    for (const name of ['NDVI', 'NDWI', 'MNDWI', 'NBR', 'NDBI', 'BSI', 'NDMI']) {
      const ix = getIndex(name);
      expect(ix, name).toBeDefined();
      expect(ix!.formula.length).toBeGreaterThan(5);
      expect(ix!.reference).toMatch(/\d{4}/);
      expect(ix!.range).toEqual([-1, 1]);
    }
    expect(INDICES.length).toBeGreaterThanOrEqual(7);
  });

  it('computes NDVI, MNDWI, NBR, BSI on a hand-worked pixel', () => {
    // Pixel: B02 0.05, B03 0.08, B04 0.06, B08 0.40, B11 0.20, B12 0.10
    const px = { B02: f32([0.05]), B03: f32([0.08]), B04: f32([0.06]), B08: f32([0.4]), B11: f32([0.2]), B12: f32([0.1]) };
    expect(getIndex('NDVI')!.compute(px)[0]).toBeCloseTo((0.4 - 0.06) / 0.46, 6);
    expect(getIndex('NDWI')!.compute(px)[0]).toBeCloseTo((0.08 - 0.4) / 0.48, 6);
    expect(getIndex('MNDWI')!.compute(px)[0]).toBeCloseTo((0.08 - 0.2) / 0.28, 6);
    expect(getIndex('NBR')!.compute(px)[0]).toBeCloseTo((0.4 - 0.1) / 0.5, 6);
    expect(getIndex('NDBI')!.compute(px)[0]).toBeCloseTo((0.2 - 0.4) / 0.6, 6);
    expect(getIndex('NDMI')!.compute(px)[0]).toBeCloseTo((0.4 - 0.2) / 0.6, 6);
    // BSI = ((0.2 + 0.06) − (0.4 + 0.05)) / ((0.2 + 0.06) + (0.4 + 0.05)) = −0.19 / 0.71
    expect(getIndex('BSI')!.compute(px)[0]).toBeCloseTo(-0.19 / 0.71, 6);
  });

  it('recognises band spellings from files and catalogues', () => {
    expect(canonicalBand('B4')).toBe('B04');
    expect(canonicalBand('b8a')).toBe('B8A');
    expect(canonicalBand('B12')).toBe('B12');
    expect(canonicalBand('swir16')).toBe('B11');
    expect(canonicalBand('nir08')).toBe('B8A');
    expect(canonicalBand('B13')).toBeNull();
    expect(canonicalBand('mask')).toBeNull();
  });
});

describe('band names in file names', () => {
  it('finds the band in OSCD, SAFE-like and plain names, and SCL', async () => {
    const { layerFromFileName } = await import('../src/io/scene.js');
    expect(layerFromFileName('S2A_OPER_MSI_L1C_TL_EPA__20161227T091305_A001222_T22LHH_B8A.tif')).toBe('B8A');
    expect(layerFromFileName('/x/T31UDQ_20170829T105021_B04_10m.tif')).toBe('B04');
    expect(layerFromFileName('B2.tif')).toBe('B02');
    expect(layerFromFileName('SCL.tiff')).toBe('SCL');
    expect(layerFromFileName('S2A2A_20170703_022_Barbellino_BOA_10.tif')).toBeNull();
    expect(layerFromFileName('B13.tif')).toBeNull();
  });
});
