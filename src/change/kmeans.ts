/**
 * Small seeded k-means (Lloyd 1982) with k-means++ seeding (Arthur & Vassilvitskii 2007). Pure.
 *
 * Deterministic for a given seed. Meant for the few-dimensional features of PCA-k-means; for millions of
 * points, fit on a sample and label the rest with {@link nearestCentroid}.
 */
import { seededRandom } from './sampling.js';

export interface KMeansOptions {
  /** PRNG seed for k-means++ seeding (default 1). */
  seed?: number;
  /** Lloyd iterations per run (default 100). */
  maxIterations?: number;
  /**
   * Stop when no point changes cluster, or when the summed squared centroid shift is at most `tolerance` times
   * the mean per-dimension variance of the data (default 1e-4, scikit-learn's rule).
   */
  tolerance?: number;
  /** Independent seeded runs; the lowest inertia wins (default 4). */
  restarts?: number;
}

export interface KMeansResult {
  /** k × d centroids, row-major. */
  centroids: Float64Array;
  /** Cluster of each point. */
  labels: Uint8Array;
  /** Sum of squared distances of points to their centroid. */
  inertia: number;
  /** Lloyd iterations of the winning run. */
  iterations: number;
}

/** Index of the centroid (k × d, row-major) closest to the point at `x[offset … offset+d)`. */
export function nearestCentroid(x: ArrayLike<number>, offset: number, centroids: Float64Array, k: number, d: number): number {
  let best = 0;
  let bestDist = Infinity;
  for (let c = 0; c < k; c++) {
    let s = 0;
    for (let j = 0; j < d; j++) {
      const t = x[offset + j]! - centroids[c * d + j]!;
      s += t * t;
    }
    if (s < bestDist) {
      bestDist = s;
      best = c;
    }
  }
  return best;
}

function sqDist(points: Float64Array, i: number, centroids: Float64Array, c: number, d: number): number {
  let s = 0;
  for (let j = 0; j < d; j++) {
    const t = points[i * d + j]! - centroids[c * d + j]!;
    s += t * t;
  }
  return s;
}

function seedPlusPlus(points: Float64Array, n: number, d: number, k: number, rand: () => number): Float64Array {
  const centroids = new Float64Array(k * d);
  const first = Math.floor(rand() * n);
  centroids.set(points.subarray(first * d, first * d + d), 0);
  const dist = new Float64Array(n).fill(Infinity);
  for (let c = 1; c < k; c++) {
    let total = 0;
    for (let i = 0; i < n; i++) {
      dist[i] = Math.min(dist[i]!, sqDist(points, i, centroids, c - 1, d));
      total += dist[i]!;
    }
    let pick = n - 1;
    if (total > 0) {
      let r = rand() * total;
      for (let i = 0; i < n; i++) {
        r -= dist[i]!;
        if (r < 0) {
          pick = i;
          break;
        }
      }
    } else pick = Math.floor(rand() * n);
    centroids.set(points.subarray(pick * d, pick * d + d), c * d);
  }
  return centroids;
}

function lloyd(points: Float64Array, n: number, d: number, k: number, centroids: Float64Array, maxIter: number, tol: number): KMeansResult {
  const labels = new Uint8Array(n).fill(255);
  const sums = new Float64Array(k * d);
  const counts = new Float64Array(k);
  let iterations = 0;
  for (; iterations < maxIter; ) {
    iterations++;
    sums.fill(0);
    counts.fill(0);
    let reassigned = 0;
    for (let i = 0; i < n; i++) {
      const c = nearestCentroid(points, i * d, centroids, k, d);
      if (labels[i] !== c) reassigned++;
      labels[i] = c;
      counts[c]!++;
      for (let j = 0; j < d; j++) sums[c * d + j]! += points[i * d + j]!;
    }
    if (reassigned === 0) break; // assignments are stable: the centroids are already their means
    let shift = 0;
    for (let c = 0; c < k; c++) {
      if (counts[c] === 0) continue; // an empty cluster keeps its centroid
      for (let j = 0; j < d; j++) {
        const v = sums[c * d + j]! / counts[c]!;
        shift += (v - centroids[c * d + j]!) ** 2;
        centroids[c * d + j] = v;
      }
    }
    if (shift <= tol) break;
  }
  let inertia = 0;
  for (let i = 0; i < n; i++) {
    labels[i] = nearestCentroid(points, i * d, centroids, k, d);
    inertia += sqDist(points, i, centroids, labels[i]!, d);
  }
  return { centroids, labels, inertia, iterations };
}

function meanVariance(points: Float64Array, n: number, d: number): number {
  let total = 0;
  for (let j = 0; j < d; j++) {
    let m = 0;
    for (let i = 0; i < n; i++) m += points[i * d + j]!;
    m /= n;
    let v = 0;
    for (let i = 0; i < n; i++) v += (points[i * d + j]! - m) ** 2;
    total += v / n;
  }
  return total / d;
}

/**
 * Cluster `n` points of dimension `d` (row-major in `points`) into `k` ≤ 255 clusters.
 *
 * @example
 * kmeans(new Float64Array([0, 0.1, 10, 10.1]), 4, 1, 2).labels // two groups: {0, 0.1} and {10, 10.1}
 */
export function kmeans(points: Float64Array, n: number, d: number, k: number, opts: KMeansOptions = {}): KMeansResult {
  if (!Number.isInteger(k) || k < 1 || k > 255) throw new RangeError(`k must be an integer in 1–255, got ${k}`);
  if (n < k) throw new RangeError(`k-means needs at least k = ${k} points, got ${n}`);
  if (points.length < n * d) throw new RangeError(`points has ${points.length} values, need n × d = ${n * d}`);
  const rand = seededRandom(opts.seed ?? 1);
  const tol = (opts.tolerance ?? 1e-4) * meanVariance(points, n, d);
  let best: KMeansResult | undefined;
  for (let r = 0; r < (opts.restarts ?? 4); r++) {
    const init = seedPlusPlus(points, n, d, k, rand);
    const res = lloyd(points, n, d, k, init, opts.maxIterations ?? 100, tol);
    if (!best || res.inertia < best.inertia) best = res;
  }
  return best!;
}
