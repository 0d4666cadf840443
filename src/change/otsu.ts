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
  const [lo, hi] = opts.range ?? finiteRange(values, opts.valid);
  if (!(hi > lo)) return NaN;
  const h = new Histogram(lo, hi, opts.bins ?? 1024).add(values, opts.valid);
  return h.otsu();
}
