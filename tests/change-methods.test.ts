/**
 * Classical change detection (CVA, PCA-k-means, IR-MAD) and their building blocks, checked against hand values,
 * numpy/scipy oracles (tests/oracles/*.py) and synthetic scenes with a planted change of known shape.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { isS2ChangeError } from '../src/errors.js';
import { chiSquareCdf, chiSquareQuantile, chiSquareSurvival, regularizedGammaP } from '../src/change/chi-square.js';
import { CovarianceAccumulator } from '../src/change/covariance.js';
import { changeVector } from '../src/change/cva.js';
import { accumulateJoint, canonicalCorrelation, irmad, irmadChangeMask, irmadConsistencyFactor } from '../src/change/irmad.js';
import { kmeans } from '../src/change/kmeans.js';
import { accumulateBlocks, differenceImage, pcaFromBlocks, pcaKmeans } from '../src/change/pca-kmeans.js';
import { hashUnit, keepSample, seededRandom } from '../src/change/sampling.js';

const ORACLES = path.join(path.dirname(fileURLToPath(import.meta.url)), 'oracles');
const tmp = mkdtempSync(path.join(tmpdir(), 's2change-change-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function oracle(script: string, args: string[]): any {
  return JSON.parse(execFileSync('/usr/bin/python3', [path.join(ORACLES, script), ...args], { encoding: 'utf8', maxBuffer: 64 << 20 }));
}
function writeJson(name: string, v: unknown): string {
  const f = path.join(tmp, name);
  writeFileSync(f, JSON.stringify(v));
  return f;
}

// ---------- synthetic scenes ----------

const W = 128;
const H = 128;
const N = W * H;

/** Spatially smooth random texture in [0, 1]: seeded uniform noise, box-blurred twice (radius r). */
function texture(rand: () => number, r = 4): Float32Array {
  let a = Float32Array.from({ length: N }, () => rand());
  for (let pass = 0; pass < 2; pass++) {
    const b = new Float32Array(N);
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        let s = 0;
        let c = 0;
        for (let dy = -r; dy <= r; dy++) {
          for (let dx = -r; dx <= r; dx++) {
            const yy = y + dy;
            const xx = x + dx;
            if (yy < 0 || yy >= H || xx < 0 || xx >= W) continue;
            s += a[yy * W + xx]!;
            c++;
          }
        }
        b[y * W + x] = s / c;
      }
    }
    a = b;
  }
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of a) {
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  return a.map((v) => (v - lo) / (hi - lo));
}

/** Gaussian noise via Box–Muller. */
function gauss(rand: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
}

/** The planted change: a 40×40 square at rows/cols 44–83. */
const square = Uint8Array.from({ length: N }, (_, i) => {
  const x = i % W;
  const y = Math.floor(i / W);
  return x >= 44 && x < 84 && y >= 44 && y < 84 ? 1 : 0;
});

interface Scene {
  before: Float32Array[];
  after: Float32Array[];
}

/**
 * A 4-band scene: bands mix three smooth textures (so they are correlated like real bands) plus per-date noise.
 * `gain`/`offset` map date 2 linearly per band; inside the planted square date 2 shows a different surface.
 */
function scene(seed: number, opts: { noise?: number; gain?: number[]; offset?: number[]; change?: boolean } = {}): Scene {
  const rand = seededRandom(seed);
  const t = [texture(rand), texture(rand), texture(rand), texture(rand, 3)];
  const mix = [
    [0.6, 0.3, 0.1],
    [0.2, 0.7, 0.1],
    [0.1, 0.3, 0.6],
    [0.4, 0.1, 0.5],
  ];
  const newSurface = [0.02, 0.35, 0.05, 0.3]; // e.g. bare soil replacing vegetation, per band
  const noise = opts.noise ?? 0.01;
  const gain = opts.gain ?? [1, 1, 1, 1];
  const offset = opts.offset ?? [0, 0, 0, 0];
  const before: Float32Array[] = [];
  const after: Float32Array[] = [];
  for (let b = 0; b < 4; b++) {
    const x = new Float32Array(N);
    const y = new Float32Array(N);
    for (let i = 0; i < N; i++) {
      const truth = 0.1 + 0.3 * (mix[b]![0]! * t[0]![i]! + mix[b]![1]! * t[1]![i]! + mix[b]![2]! * t[2]![i]!);
      x[i] = truth + noise * gauss(rand);
      const now = opts.change !== false && square[i] ? newSurface[b]! + 0.1 * t[3]![i]! : truth;
      y[i] = gain[b]! * (now + noise * gauss(rand)) + offset[b]!;
    }
    before.push(x);
    after.push(y);
  }
  return { before, after };
}

function iouWithSquare(mask: Uint8Array): number {
  let inter = 0;
  let uni = 0;
  for (let i = 0; i < N; i++) {
    const a = mask[i] === 1;
    const b = square[i] === 1;
    if (a && b) inter++;
    if (a || b) uni++;
  }
  return inter / uni;
}
const fractionFlagged = (mask: Uint8Array): number => mask.reduce((s, v) => s + (v === 1 ? 1 : 0), 0) / mask.length;

// ---------- chi-square ----------

describe('chi-square CDF', () => {
  it.each([
    [3.841, 1, 0.95],
    [6.635, 1, 0.99],
    [5.991, 2, 0.95],
    [9.488, 4, 0.95],
    [11.07, 5, 0.95],
    [23.21, 10, 0.99],
    [31.41, 20, 0.95],
    [4.865, 10, 0.1],
  ])('printed table: cdf(%f, %i) ≈ %f', (x, k, p) => {
    expect(Math.abs(chiSquareCdf(x, k) - p)).toBeLessThan(2e-4);
  });

  it('even degrees of freedom: closed form 1 − e^(−x/2) Σ_{j<k/2} (x/2)^j / j!', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 30 }), fc.double({ min: 0, max: 200, noNaN: true }), (half, x) => {
        let term = 1;
        let sum = 1;
        for (let j = 1; j < half; j++) {
          term *= x / 2 / j;
          sum += term;
        }
        const sf = Math.exp(-x / 2) * sum;
        expect(chiSquareSurvival(x, 2 * half)).toBeCloseTo(sf, 12);
        expect(chiSquareCdf(x, 2 * half)).toBeCloseTo(1 - sf, 12);
      }),
    );
  });

  it('P(1/2, x) = erf(√x): compare with a 1e-15 series for erf', () => {
    const erf = (z: number): number => {
      let s = 0;
      let term = z;
      for (let n = 0; n < 200; n++) {
        s += term / (2 * n + 1);
        term *= (-z * z) / (n + 1);
      }
      return (2 / Math.sqrt(Math.PI)) * s;
    };
    for (const x of [0.01, 0.1, 0.5, 1, 1.5, 2, 3, 4]) expect(regularizedGammaP(0.5, x)).toBeCloseTo(erf(Math.sqrt(x)), 12);
  });

  it('agrees with scipy.stats.chi2 (cdf and ppf) to 1e-10', () => {
    const cdf: [number, number][] = [];
    for (const k of [1, 2, 3, 4, 6, 13, 26, 100]) for (const x of [0.001, 0.5, 1, k - 1, k, k + 3, 2 * k + 10, 5 * k + 40]) if (x > 0) cdf.push([x, k]);
    const ppf: [number, number][] = [0.5, 0.9, 0.99, 0.999].flatMap((q) => [1, 4, 13].map((k) => [q, k] as [number, number]));
    const sc = oracle('chi2_scipy.py', [writeJson('chi2.json', { cdf, ppf })]);
    cdf.forEach(([x, k], i) => expect(chiSquareCdf(x, k), `cdf(${x}, ${k})`).toBeCloseTo(sc.cdf[i], 10));
    ppf.forEach(([q, k], i) => expect(chiSquareQuantile(q, k) / sc.ppf[i]).toBeCloseTo(1, 9));
  });

  it('edge values', () => {
    expect(chiSquareCdf(0, 4)).toBe(0);
    expect(chiSquareCdf(-1, 4)).toBe(0);
    expect(chiSquareCdf(Infinity, 4)).toBe(1);
    expect(chiSquareCdf(NaN, 4)).toBeNaN();
    expect(chiSquareSurvival(400, 4)).toBeGreaterThan(0); // tail not rounded to 0 by 1 − P
  });
});

// ---------- covariance accumulator ----------

describe('CovarianceAccumulator', () => {
  it('weighted mean and covariance match numpy (average, cov(aweights, bias=True))', () => {
    const rand = seededRandom(7);
    const rows = Array.from({ length: 300 }, () => {
      const a = gauss(rand);
      return [1000 + a, 2 * a + gauss(rand), 0.001 * gauss(rand), -a + 5];
    });
    const weights = rows.map(() => rand());
    const np = oracle('weighted_cov.py', [writeJson('cov.json', { rows, weights })]);
    const acc = new CovarianceAccumulator(4).addRows(rows.flat(), rows.length, weights);
    const mean = acc.mean();
    const cov = acc.covariance();
    for (let j = 0; j < 4; j++) {
      expect(mean[j]! / np.mean[j]).toBeCloseTo(1, 12);
      for (let k = 0; k < 4; k++) expect(cov[j]![k]!).toBeCloseTo(np.cov[j][k], 12);
    }
  });

  it('merging accumulators of any split equals one pass (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.double({ min: -1e3, max: 1e3, noNaN: true }), fc.double({ min: -1, max: 1, noNaN: true }), fc.double({ min: 0.01, max: 1, noNaN: true })), { minLength: 2, maxLength: 60 }),
        fc.nat(),
        (rows, cut) => {
          const k = cut % rows.length;
          const whole = new CovarianceAccumulator(2);
          const a = new CovarianceAccumulator(2);
          const b = new CovarianceAccumulator(2);
          rows.forEach(([x, y, w], i) => {
            whole.add([x, y], w);
            (i < k ? a : b).add([x, y], w);
          });
          a.merge(b);
          const cw = whole.covariance();
          const cm = a.covariance();
          for (let j = 0; j < 2; j++) {
            expect(a.mean()[j]!).toBeCloseTo(whole.mean()[j]!, 6);
            for (let l = 0; l < 2; l++) expect(Math.abs(cm[j]![l]! - cw[j]![l]!)).toBeLessThan(1e-6 * (1 + Math.abs(cw[j]![l]!)));
          }
          expect(a.weightSum).toBeCloseTo(whole.weightSum, 9);
        },
      ),
    );
  });

  it('skips samples with NaN or non-positive weight', () => {
    const acc = new CovarianceAccumulator(2);
    expect(acc.add([1, NaN])).toBe(false);
    expect(acc.add([1, 2], 0)).toBe(false);
    expect(acc.add([1, 2])).toBe(true);
    expect(acc.count).toBe(1);
  });
});

// ---------- sampling, k-means ----------

describe('seeded sampling and k-means', () => {
  it('hash sampling is deterministic and keeps about the asked fraction', () => {
    let kept = 0;
    for (let i = 0; i < 100_000; i++) if (keepSample(i, 0.1, 3)) kept++;
    expect(kept).toBeGreaterThan(9_500);
    expect(kept).toBeLessThan(10_500);
    expect(hashUnit(12345, 3)).toBe(hashUnit(12345, 3));
    expect(hashUnit(12345, 3)).not.toBe(hashUnit(12345, 4));
  });

  it('k-means separates two blobs and its inertia is the hand-computed one', () => {
    // 1-D: {0, 1, 2} and {10, 11, 12}: centroids 1 and 11, inertia 4.
    const r = kmeans(Float64Array.from([0, 10, 1, 11, 2, 12]), 6, 1, 2, { seed: 5 });
    const c = [...r.centroids].sort((a, b) => a - b);
    expect(c[0]).toBeCloseTo(1, 12);
    expect(c[1]).toBeCloseTo(11, 12);
    expect(r.inertia).toBeCloseTo(4, 12);
    expect(r.labels[0]).toBe(r.labels[2]);
    expect(r.labels[0]).not.toBe(r.labels[1]);
  });
});

// ---------- CVA ----------

describe('change vector analysis', () => {
  it('magnitude and directions against hand values', () => {
    // pixel 0: d = (3, 4) → 5, sector 0 (0–90°); pixel 1: d = (−1, 0) → 1, 180° → sector 2;
    // pixel 2: d = (0, −2) → 2, 270° → sector 3; pixel 3: d = (−1, 1) → √2, 135° → sector 1; pixel 4: NaN.
    const before = [Float32Array.from([0, 1, 0.5, 2, NaN]), Float32Array.from([1, 1, 3, 0, 0])];
    const after = [Float32Array.from([3, 0, 0.5, 1, 1]), Float32Array.from([5, 1, 1, 1, 0])];
    const s = changeVector(before, after, 5, { direction: 'sectors' });
    expect([...s.magnitude.subarray(0, 4)].map((v) => +v.toFixed(6))).toEqual([5, 1, 2, +Math.SQRT2.toFixed(6)]);
    expect(s.magnitude[4]).toBeNaN();
    expect([...s.direction!]).toEqual([0, 2, 3, 1, 255]);
    const g = changeVector(before, after, 5, { direction: 'signs' });
    // bit0 = band 1 rose, bit1 = band 2 rose
    expect([...g.direction!]).toEqual([3, 0, 0, 2, 255]);
    const eight = changeVector(before, after, 5, { direction: 'sectors', sectors: 8 });
    expect([...eight.direction!]).toEqual([1, 4, 6, 3, 255]);
  });

  it('the valid mask invalidates pixels; band-count mismatch is a MISSING_BAND error', () => {
    const a = [Float32Array.from([0, 0])];
    const b = [Float32Array.from([1, 1])];
    const r = changeVector(a, b, 2, { valid: Uint8Array.from([1, 0]) });
    expect(r.magnitude[0]).toBe(1);
    expect(r.magnitude[1]).toBeNaN();
    try {
      changeVector(a, [...b, ...b], 2);
      expect.unreachable();
    } catch (e) {
      expect(isS2ChangeError(e, 'MISSING_BAND')).toBe(true);
    }
  });

  it('magnitude is the Euclidean norm (property, 1–6 bands)', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.float({ min: -1, max: 1, noNaN: true }), fc.float({ min: -1, max: 1, noNaN: true })), { minLength: 1, maxLength: 6 }), (pairs) => {
        const r = changeVector(pairs.map(([x]) => Float32Array.of(x)), pairs.map(([, y]) => Float32Array.of(y)), 1);
        const d = pairs.map(([x, y]) => Math.fround(y) - Math.fround(x));
        expect(r.magnitude[0]).toBeCloseTo(Math.hypot(...d), 5);
      }),
    );
  });
});

// ---------- PCA-k-means ----------

describe('PCA-k-means (Celik 2009)', () => {
  it('block PCA eigenvalues and mean match numpy', () => {
    const s = scene(11);
    const diff = differenceImage(s.before, s.after, N);
    diff[5 * W + 7] = NaN; // one block must be dropped
    const file = path.join(tmp, 'diff.f32');
    writeFileSync(file, new Uint8Array(diff.buffer));
    for (const h of [3, 4]) {
      const np = oracle('block_pca.py', [file, String(W), String(H), String(h)]);
      const pca = pcaFromBlocks(accumulateBlocks(diff, W, H, h), h, 0.9);
      pca.eigenvalues.forEach((v, i) => expect(Math.abs(v - np.eigenvalues[i])).toBeLessThan(1e-9 * np.eigenvalues[0]));
      [...pca.mean].forEach((v, i) => expect(v).toBeCloseTo(np.mean[i], 10));
      const cum = np.eigenvalues.reduce((acc: number[], v: number) => [...acc, (acc.at(-1) ?? 0) + v], []);
      const total = cum.at(-1);
      expect(pca.dims).toBe(cum.findIndex((c: number) => c >= 0.9 * total) + 1);
    }
  });

  it('finds the planted square (IoU > 0.8)', () => {
    const s = scene(12);
    const r = pcaKmeans(s.before, s.after, W, H);
    expect(iouWithSquare(r.change)).toBeGreaterThan(0.8);
  });

  it('invalid pixels give 255 and do not disturb the fit', () => {
    const s = scene(13);
    const valid = new Uint8Array(N).fill(1);
    for (let i = 0; i < N; i++) if (i % W < 6) valid[i] = 0; // a 6-px stripe of clouds
    s.before[0]![10 * W + 100] = NaN;
    const r = pcaKmeans(s.before, s.after, W, H, { valid });
    expect(r.change[3]).toBe(255);
    expect(r.change[10 * W + 100]).toBe(255);
    expect(iouWithSquare(r.change)).toBeGreaterThan(0.8);
  });

  it('fits on a seeded sample: same seed same map, still finds the square', () => {
    const s = scene(14);
    const a = pcaKmeans(s.before, s.after, W, H, { maxSamples: 3000, seed: 9 });
    const b = pcaKmeans(s.before, s.after, W, H, { maxSamples: 3000, seed: 9 });
    expect(a.model.samples).toBeLessThan(3500);
    expect(a.change).toEqual(b.change);
    expect(iouWithSquare(a.change)).toBeGreaterThan(0.8);
  });

  it('a scene compared with itself: nothing changes', () => {
    const s = scene(15);
    const r = pcaKmeans(s.before, s.before, W, H);
    expect(r.model.degenerate).toBe(true);
    expect(fractionFlagged(r.change)).toBe(0);
  });

  it('all pixels invalid: NOTHING_VALID', () => {
    const s = scene(16);
    try {
      pcaKmeans(s.before, s.after, W, H, { valid: new Uint8Array(N) });
      expect.unreachable();
    } catch (e) {
      expect(isS2ChangeError(e, 'NOTHING_VALID')).toBe(true);
    }
  });
});

// ---------- IR-MAD ----------

describe('IR-MAD (Nielsen 2007)', () => {
  it('first (unweighted) canonical correlations match a numpy CCA to 1e-4', () => {
    const s = scene(21, { gain: [1.2, 0.8, 1.1, 0.9], offset: [0.02, -0.01, 0.03, 0] });
    s.before[2]![77] = NaN; // rows with NaN are left out by both
    const rows = new Float32Array(N * 8);
    for (let i = 0; i < N; i++) for (let b = 0; b < 4; b++) {
      rows[i * 8 + b] = s.before[b]![i]!;
      rows[i * 8 + 4 + b] = s.after[b]![i]!;
    }
    const file = path.join(tmp, 'cca.f32');
    writeFileSync(file, new Uint8Array(rows.buffer));
    const np = oracle('cca.py', [file, String(N), '4']);
    np.rho.forEach((r: number, k: number) => expect(Math.abs(r - np.rho_svd[k])).toBeLessThan(1e-9)); // the oracle agrees with itself
    const acc = new CovarianceAccumulator(8);
    for (let i = 0; i < N; i++) accumulateJoint(acc, s.before, s.after, i);
    const model = canonicalCorrelation(acc, 4);
    model.rho.forEach((r, k) => expect(Math.abs(r - np.rho[k])).toBeLessThan(1e-4));
    const r = irmad(s.before, s.after, N, { maxIterations: 1 });
    r.rho.forEach((v, k) => expect(Math.abs(v - np.rho[k])).toBeLessThan(1e-4));
  });

  it('MAD variates are uncorrelated with variance 2(1 − ρ) under the fitted weights (plain MAD)', () => {
    const s = scene(22);
    const r = irmad(s.before, s.after, N, { maxIterations: 1, madVariates: true });
    const acc = new CovarianceAccumulator(4);
    const v = new Float64Array(4);
    for (let i = 0; i < N; i++) {
      for (let k = 0; k < 4; k++) v[k] = r.madVariates![k]![i]!;
      acc.add(v);
    }
    const c = acc.covariance();
    for (let k = 0; k < 4; k++) {
      expect(c[k]![k]! / (2 * (1 - r.rho[k]!))).toBeCloseTo(1, 4);
      for (let l = 0; l < k; l++) expect(Math.abs(c[k]![l]!) / Math.sqrt(c[k]![k]! * c[l]![l]!)).toBeLessThan(1e-4);
    }
  });

  it('finds the planted square under a gain/offset between dates (IoU > 0.8), and converges', () => {
    const s = scene(23, { gain: [1.3, 0.7, 1.1, 0.85], offset: [0.05, -0.02, 0.03, 0.01] });
    const r = irmad(s.before, s.after, N);
    expect(r.converged).toBe(true);
    expect(r.iterations).toBeGreaterThan(1);
    expect(r.iterations).toBeLessThanOrEqual(30);
    const { mask, chi2Threshold } = irmadChangeMask(r);
    expect(chi2Threshold).toBeCloseTo(13.2767, 3); // χ²(4) 99th percentile from tables
    expect(iouWithSquare(mask)).toBeGreaterThan(0.8);
    expect(iouWithSquare(irmadChangeMask(r, { method: 'otsu' }).mask)).toBeGreaterThan(0.8);
    // The same answer without the gain/offset: invariance.
    const plain = irmad(scene(23).before, scene(23).after, N);
    const m2 = irmadChangeMask(plain).mask;
    let same = 0;
    for (let i = 0; i < N; i++) if (m2[i] === mask[i]) same++;
    expect(same / N).toBeGreaterThan(0.98);
  });

  it('a scene against itself: Z = 0, nothing flagged', () => {
    const s = scene(24);
    const r = irmad(s.before, s.before, N);
    expect(fractionFlagged(irmadChangeMask(r).mask)).toBe(0);
    expect(Math.max(...r.chi2)).toBeLessThan(1e-6);
  });

  it('a scene against an affine copy of itself (gains, offsets, band mixing): almost nothing flagged', () => {
    const s = scene(25, { change: false });
    const m = [
      [1.2, 0.1, 0, 0],
      [0, 0.8, 0.2, 0],
      [0.05, 0, 1.1, 0],
      [0, 0, 0.3, 0.9],
    ];
    const off = [0.02, -0.01, 0.03, 0];
    const after = m.map((row, b) => Float32Array.from({ length: N }, (_, i) => row.reduce((acc, c, j) => acc + c * s.before[j]![i]!, off[b]!)));
    const r = irmad(s.before, after, N);
    expect(Math.min(...r.rho)).toBeGreaterThan(0.9999);
    expect(fractionFlagged(irmadChangeMask(r).mask)).toBeLessThan(0.02);
  });

  it('noise only between dates: about 1 % flagged at P(change) > 0.99', () => {
    const s = scene(26, { change: false, gain: [1.1, 0.9, 1, 1.2] });
    const r = irmad(s.before, s.after, N);
    const f = fractionFlagged(irmadChangeMask(r).mask);
    expect(f).toBeGreaterThan(0.003);
    expect(f).toBeLessThan(0.02);
  });

  it('NaN pixels: NaN statistics and 255 in the mask; the fit ignores them', () => {
    const s = scene(27);
    s.after[1]![500] = NaN;
    const valid = new Uint8Array(N).fill(1);
    valid[600] = 0;
    const r = irmad(s.before, s.after, N, { valid });
    expect(r.chi2[500]).toBeNaN();
    expect(r.pChange[600]).toBeNaN();
    const { mask } = irmadChangeMask(r);
    expect(mask[500]).toBe(255);
    expect(mask[600]).toBe(255);
    expect(iouWithSquare(mask)).toBeGreaterThan(0.8);
  });

  it('a dead (constant) band is refused with RADIOMETRY; regularized, it equals dropping the band', () => {
    const s = scene(28);
    s.before[3]!.fill(0.2);
    s.after[3]!.fill(0.3);
    try {
      irmad(s.before, s.after, N);
      expect.unreachable();
    } catch (e) {
      expect(isS2ChangeError(e, 'RADIOMETRY')).toBe(true);
      expect(String(e)).toMatch(/regularization/);
    }
    const r = irmad(s.before, s.after, N, { regularization: 1e-6 });
    const three = irmad(s.before.slice(0, 3), s.after.slice(0, 3), N);
    expect(r.model.dof).toBe(3);
    expect(r.rho[0]).toBe(0); // the empty variate
    r.rho.slice(1).forEach((v, k) => expect(Math.abs(v - three.rho[k]!)).toBeLessThan(1e-4));
    const a = irmadChangeMask(r).mask;
    const b = irmadChangeMask(three).mask;
    let same = 0;
    for (let i = 0; i < N; i++) if (a[i] === b[i]) same++;
    expect(same / N).toBeGreaterThan(0.999);
    expect(iouWithSquare(a)).toBeGreaterThan(0.8);
  });

  it('consistency factor p/κ_p: κ₂ = 1, κ₄ = 5/2, κ₆ = 33/8 by hand (∫ Q_p² dt)', () => {
    expect(irmadConsistencyFactor(2)).toBeCloseTo(2, 8);
    expect(irmadConsistencyFactor(4)).toBeCloseTo(4 / 2.5, 8);
    expect(irmadConsistencyFactor(6)).toBeCloseTo(6 / 4.125, 8);
  });

  it('without the consistency correction (literal algorithm) pure noise is over-flagged — the reason it is on', () => {
    const s = scene(26, { change: false, gain: [1.1, 0.9, 1, 1.2] });
    const r = irmad(s.before, s.after, N, { consistencyCorrection: false });
    expect(fractionFlagged(irmadChangeMask(r).mask)).toBeGreaterThan(0.1);
  });
});
