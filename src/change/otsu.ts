/**
 * Otsu's automatic threshold on a set of values. Pure.
 */
import { finiteRange, Histogram } from './histogram.js';

export interface OtsuOptions {
  /** Histogram bins (default 1024). */
  bins?: number;
  /** Fixed histogram range; default: the finite data range. */
  range?: [number, number];
  /** Only pixels with valid[i] = 1 count. */
  valid?: ArrayLike<number>;
}

/**
 * Otsu (1979) threshold of the finite values; values ≥ threshold form the upper class.
 * The result lies within the data range; NaN when the data have fewer than two distinct values.
 *
 * @example
 * otsuThreshold(new Float32Array([0, 0.1, 0.05, 0.9, 1, 0.95])) // ≈ 0.5 (between the two groups)
 */
export function otsuThreshold(values: ArrayLike<number>, opts: OtsuOptions = {}): number {
  const h = otsuHistogram(opts.range ?? finiteRange(values, opts.valid), opts.bins);
  return h ? h.add(values, opts.valid).otsu() : NaN;
}

/**
 * The empty histogram `otsuThreshold` fills for values spanning `range` (default 1024 bins), or null when the range
 * holds fewer than two distinct values (no threshold). A streaming caller gathers the range with `finiteRange` +
 * `mergeRanges`, fills one such histogram per block and merges them: the same counts, so the same threshold.
 */
export function otsuHistogram(range: readonly [number, number], bins = 1024): Histogram | null {
  const [lo, hi] = range;
  return hi > lo ? new Histogram(lo, hi, bins) : null;
}
