import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { otsuThreshold } from '../src/change/otsu.js';
import { Histogram } from '../src/change/histogram.js';

describe('Otsu threshold', () => {
  it('separates two well-separated groups', () => {
    const v = new Float32Array([0, 0.1, 0.05, 0.02, 0.9, 1, 0.95, 0.97]);
    const t = otsuThreshold(v);
    expect(t).toBeGreaterThan(0.1);
    expect(t).toBeLessThanOrEqual(0.9);
  });

  it('matches a brute-force between-class variance search on integer data', () => {
    // Values 0..9 with counts chosen by hand; brute force over every cut k (class 0 = values < k).
    const counts = [5, 9, 12, 4, 1, 0, 2, 8, 11, 6];
    const values: number[] = [];
    counts.forEach((c, v) => { for (let i = 0; i < c; i++) values.push(v); });
    let best = -1; let bestK = 0;
    for (let k = 1; k < 10; k++) {
      const lo = values.filter((x) => x < k); const hi = values.filter((x) => x >= k);
      if (!lo.length || !hi.length) continue;
      const m0 = lo.reduce((a, b) => a + b, 0) / lo.length; const m1 = hi.reduce((a, b) => a + b, 0) / hi.length;
      const s = lo.length * hi.length * (m0 - m1) ** 2;
      if (s > best) { best = s; bestK = k; }
    }
    // With 10 bins over [−0.5, 9.5] each integer has its own bin: the threshold is the lower edge of value bestK.
    const t = otsuThreshold(new Float32Array(values), { bins: 10, range: [-0.5, 9.5] });
    expect(t).toBeCloseTo(bestK - 0.5, 9);
  });

  it('lies inside the data range and ignores pixel order and NaN', () => {
    fc.assert(fc.property(fc.array(fc.float({ min: -5, max: 5, noNaN: true }), { minLength: 2, maxLength: 200 }), (xs) => {
      const v = new Float32Array(xs);
      const t = otsuThreshold(v);
      const lo = Math.min(...v); const hi = Math.max(...v);
      if (lo === hi) return Number.isNaN(t);
      if (Number.isNaN(t)) return true; // all mass in one bin is possible with tiny spreads
      const reversed = new Float32Array([...v].reverse().concat([NaN]));
      return t >= lo && t <= hi && otsuThreshold(reversed) === t;
    }));
  });

  it('histograms merge to the same counts as one pass', () => {
    const a = new Float32Array([0.1, 0.2, 0.3]); const b = new Float32Array([0.7, 0.8, NaN]);
    const one = new Histogram(0, 1, 16).add(new Float32Array([...a, ...b]));
    const two = new Histogram(0, 1, 16).add(a).merge(new Histogram(0, 1, 16).add(b));
    expect([...two.counts]).toEqual([...one.counts]);
    expect(two.total).toBe(5);
    expect(one.otsu()).toBe(two.otsu());
  });
});
