/**
 * Supervised change classifier: feature extraction checked value by value on a tiny window worked by hand,
 * window means against a brute-force loop, balanced sampling, and training/prediction on synthetic scenes whose
 * change is known by construction (plus a JSON round trip of the model).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  checkModel, classifyFeatures, defaultFeatureSpec, extractFeatures, featureNames, majorityFilter, predictSupervised,
  sampleBalanced, standardize, trainSupervised, windowMean, type FeatureSpec,
} from '../src/change/supervised.js';
import { seededRandom } from '../src/change/sampling.js';
import { isS2ChangeError } from '../src/errors.js';

const f32 = (a: number[]) => Float32Array.from(a);

describe('feature extraction on a 3×3 window, by hand', () => {
  // Bands B03 (green) and B08 (NIR); index NDWI = (B03 − B08)/(B03 + B08); one 3×3 context window.
  const spec: FeatureSpec = { bands: ['B03', 'B08'], indices: ['NDWI'], context: [1], normalize: 'none' };
  const before = { B03: f32([0.1, 0.1, 0.1, 0.1, 0.2, 0.1, 0.1, 0.1, 0.1]), B08: f32([0.3, 0.3, 0.3, 0.3, 0.2, 0.3, 0.3, 0.3, 0.3]) };
  const after = { B03: f32([0.1, 0.1, 0.1, 0.1, 0.3, 0.1, 0.1, 0.1, 0.4]), B08: f32([0.3, 0.3, 0.3, 0.3, 0.1, 0.3, 0.3, 0.3, 0.0]) };
  const valid = Uint8Array.from([1, 1, 1, 1, 1, 1, 1, 1, 0]); // bottom-right pixel invalid
  const f = extractFeatures(spec, before, after, 3, 3, valid);
  const col = (name: string) => f.columns[f.names.indexOf(name)]!;

  it('names the features in order', () => {
    expect(f.names).toEqual(['B03_before', 'B03_after', 'B03_diff', 'B08_before', 'B08_after', 'B08_diff',
      'NDWI_before', 'NDWI_after', 'NDWI_diff', 'cva', 'cva_mean3x3', 'NDWI_diff_mean3x3']);
    expect(featureNames(spec)).toEqual(f.names);
  });

  it('centre pixel: bands, differences, NDWI, CVA', () => {
    // centre: before (0.2, 0.2) → after (0.3, 0.1): diffs +0.1, −0.1; NDWI 0 → (0.3−0.1)/(0.4) = 0.5; CVA = √0.02.
    expect(col('B03_before')[4]).toBeCloseTo(0.2, 6);
    expect(col('B03_diff')[4]).toBeCloseTo(0.1, 6);
    expect(col('B08_diff')[4]).toBeCloseTo(-0.1, 6);
    expect(col('NDWI_before')[4]).toBeCloseTo(0, 6);
    expect(col('NDWI_after')[4]).toBeCloseTo(0.5, 6);
    expect(col('NDWI_diff')[4]).toBeCloseTo(0.5, 6);
    expect(col('cva')[4]).toBeCloseTo(Math.SQRT2 * 0.1, 6);
  });

  it('context means use only valid neighbours', () => {
    // 3×3 around the centre: 8 valid pixels (bottom-right excluded); only the centre has CVA ≠ 0.
    expect(col('cva_mean3x3')[4]).toBeCloseTo((Math.SQRT2 * 0.1) / 8, 6);
    expect(col('NDWI_diff_mean3x3')[4]).toBeCloseTo(0.5 / 8, 6);
    // Top-left corner: window clipped to 2×2 = 4 valid pixels.
    expect(col('cva_mean3x3')[0]).toBeCloseTo((Math.SQRT2 * 0.1) / 4, 6);
  });

  it('invalid pixels get NaN features and valid = 0', () => {
    expect(f.valid[8]).toBe(0);
    for (const c of f.columns) expect(c[8]).toBeNaN();
    expect([...f.valid].slice(0, 8)).toEqual([1, 1, 1, 1, 1, 1, 1, 1]);
  });

  it('missing bands are a MissingBandError naming them', () => {
    try {
      extractFeatures(spec, { B03: before.B03 }, after, 3, 3);
      expect.unreachable();
    } catch (e) {
      expect(isS2ChangeError(e) && e.code).toBe('MISSING_BAND');
      expect(String(e)).toContain('B08');
    }
  });
});

describe('windowMean', () => {
  it('equals a brute-force mean over finite values (property)', () => {
    fc.assert(fc.property(
      fc.integer({ min: 1, max: 7 }), fc.integer({ min: 1, max: 7 }), fc.integer({ min: 0, max: 3 }), fc.integer({ min: 1, max: 1e6 }),
      (w, h, r, seed) => {
        const rnd = seededRandom(seed);
        const v = Float32Array.from({ length: w * h }, () => (rnd() < 0.2 ? NaN : rnd()));
        const m = windowMean(v, w, h, r);
        for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
          let s = 0, c = 0;
          for (let yy = y - r; yy <= y + r; yy++) for (let xx = x - r; xx <= x + r; xx++) {
            if (yy < 0 || xx < 0 || yy >= h || xx >= w) continue;
            const a = v[yy * w + xx]!;
            if (a === a) { s += a; c++; }
          }
          const got = m[y * w + x]!;
          if (c === 0) expect(got).toBeNaN();
          else expect(got).toBeCloseTo(s / c, 5);
        }
      }), { numRuns: 50 });
  });
});

describe('majorityFilter (3 × 3, valid pixels only)', () => {
  it('matches a 4 × 3 map worked by hand', () => {
    // 1 0 0 0        0 0 0 0   e.g. (3,1): window cols 2–3, rows 0–2 = 0,0,1,1,1,1 → 4 of 6 → change;
    // 0 0 1 1   →    0 0 0 1        (2,1): 4 of 9 → no change; (3,0): 2 of 4 (tie) → no change;
    // X 0 1 1        X 0 1 1        (1,2): X not counted → 2 of 5 → no change. X = 255 (invalid) stays.
    const map = Uint8Array.from([1, 0, 0, 0, 0, 0, 1, 1, 255, 0, 1, 1]);
    expect([...majorityFilter(map, 4, 3)]).toEqual([0, 0, 0, 0, 0, 0, 0, 1, 255, 0, 1, 1]);
    expect([...map]).toEqual([1, 0, 0, 0, 0, 0, 1, 1, 255, 0, 1, 1]); // input untouched
  });

  it('leaves uniform maps unchanged and never touches invalid pixels (property)', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 6 }), fc.constantFrom(0, 1), fc.integer({ min: 1, max: 1e6 }),
      (w, h, v, seed) => {
        const rnd = seededRandom(seed);
        const map = Uint8Array.from({ length: w * h }, () => (rnd() < 0.3 ? 255 : v));
        const out = majorityFilter(map, w, h);
        for (let i = 0; i < map.length; i++) expect(out[i]).toBe(map[i]);
      }), { numRuns: 50 });
  });
});

describe('standardize', () => {
  it('gives mean 0 and sample sd 1 over finite values, NaN kept', () => {
    const v = standardize(f32([1, 2, 3, NaN, 4]));
    // mean 2.5, sample sd √(5/3)
    const sd = Math.sqrt(5 / 3);
    expect(v[0]).toBeCloseTo(-1.5 / sd, 5);
    expect(v[4]).toBeCloseTo(1.5 / sd, 5);
    expect(v[3]).toBeNaN();
  });
});

/** A scene where change (a square) lowers NIR and raises SWIR; noise elsewhere. */
function syntheticScene(w: number, h: number, seed: number, sq: [number, number, number]) {
  const rnd = seededRandom(seed);
  const n = w * h;
  const mk = (base: number) => Float32Array.from({ length: n }, () => base + 0.03 * (rnd() - 0.5));
  const before = { B03: mk(0.08), B04: mk(0.06), B08: mk(0.35), B11: mk(0.2), B12: mk(0.12) };
  const after = { B03: mk(0.08), B04: mk(0.06), B08: mk(0.35), B11: mk(0.2), B12: mk(0.12) };
  const labels = new Uint8Array(n);
  const [x0, y0, s] = sq;
  for (let y = y0; y < y0 + s; y++) for (let x = x0; x < x0 + s; x++) {
    const i = y * w + x;
    labels[i] = 1;
    after.B08[i] = after.B08[i]! - 0.2;
    after.B12[i] = after.B12[i]! + 0.1;
  }
  return { before, after, labels };
}

describe('training and prediction on synthetic scenes', () => {
  const W = 40;
  const a = syntheticScene(W, W, 1, [5, 5, 10]);
  const b = syntheticScene(W, W, 2, [20, 18, 12]);
  const c = syntheticScene(W, W, 3, [12, 25, 9]);
  const spec = defaultFeatureSpec(new Set(['B03', 'B04', 'B08', 'B11', 'B12'] as const));
  const feat = (s: typeof a) => extractFeatures(spec, s.before, s.after, W, W);

  it('the default spec uses the indices the bands allow', () => {
    expect(spec.bands).toEqual(['B03', 'B04', 'B08', 'B11', 'B12']);
    expect(spec.indices).toEqual(['NDVI', 'NDWI', 'MNDWI', 'NBR', 'NDBI']); // BSI needs B02
  });

  it('balanced sampling takes equal numbers per class, deterministically', () => {
    const scenes = [{ features: feat(a), labels: a.labels }, { features: feat(b), labels: b.labels }];
    const s1 = sampleBalanced(scenes, 150, 7);
    const s2 = sampleBalanced(scenes, 150, 7);
    expect(s1.counts[1]).toBeGreaterThan(100);
    expect(s1.counts[1]).toBeLessThan(200);
    expect(Math.abs(s1.counts[0] - s1.counts[1])).toBeLessThan(60);
    expect(s2.labels).toEqual(s1.labels);
    // All 244 change pixels when perClass exceeds them.
    expect(sampleBalanced(scenes, 10_000, 7).counts[1]).toBe(100 + 144);
  });

  it('learns the change on two scenes and finds it on a third; the JSON model predicts the same', () => {
    const model = trainSupervised(spec, [{ features: feat(a), labels: a.labels }, { features: feat(b), labels: b.labels }], { trees: 8, samplesPerTree: 200, perClass: 300 });
    const p = predictSupervised(model, c.before, c.after, W, W);
    let tp = 0, fp = 0, fn = 0;
    for (let i = 0; i < c.labels.length; i++) {
      if (p.classes[i] === 1 && c.labels[i] === 1) tp++;
      else if (p.classes[i] === 1) fp++;
      else if (c.labels[i] === 1) fn++;
    }
    expect((2 * tp) / (2 * tp + fp + fn)).toBeGreaterThan(0.9);
    const again = checkModel(JSON.parse(JSON.stringify(model)), 'model.json');
    expect(classifyFeatures(again, feat(c)).classes).toEqual(p.classes);
  });

  it('smooths the class map with a 3×3 majority by default; models without "smoothing" are not smoothed', () => {
    const model = trainSupervised(spec, [{ features: feat(a), labels: a.labels }, { features: feat(b), labels: b.labels }], { trees: 4, samplesPerTree: 100, perClass: 200 });
    expect(model.smoothing).toBe('majority3x3');
    const { smoothing: _, ...old } = model; // a model JSON written before smoothing existed
    const raw = classifyFeatures(checkModel(JSON.parse(JSON.stringify(old)), 'old.json'), feat(c));
    const smooth = classifyFeatures(model, feat(c));
    expect(smooth.classes).toEqual(majorityFilter(raw.classes, W, W));
    expect(smooth.classes).not.toEqual(raw.classes); // the square's corners go (4 of 9), so the test can fail
    expect(smooth.probability).toEqual(raw.probability);
    expect(() => checkModel({ ...model, smoothing: 'median' }, 'm.json')).toThrow(/m\.json/);
  });

  it('refuses training without both classes, and JSON that is not a model', () => {
    expect(() => trainSupervised(spec, [{ features: feat(a), labels: new Uint8Array(W * W) }])).toThrow(/both classes/);
    expect(() => checkModel({ format: 'other' }, 'x.json')).toThrow(/x\.json.*not an s2change supervised model/);
  });
});
