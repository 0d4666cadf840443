/**
 * The normalized difference (a − b) / (a + b), the building block of most spectral indices. Pure.
 */

/**
 * Per-pixel normalized difference. NaN where either input is NaN or a + b = 0. The result lies in [−1, 1] when
 * both inputs are non-negative; negative reflectances (possible after the baseline-04.00 offset) can push it
 * outside, which the scene loader's plausibility check reports rather than hides.
 *
 * @example
 * normalizedDifference(new Float32Array([0.4]), new Float32Array([0.1]))[0] // 0.6
 */
export function normalizedDifference(a: Float32Array, b: Float32Array, out?: Float32Array): Float32Array {
  const n = a.length;
  if (b.length !== n) throw new RangeError(`normalizedDifference: band lengths differ (${n} vs ${b.length})`);
  const o = out ?? new Float32Array(n);
  for (let i = 0; i < n; i++) o[i] = normalizedDifferenceValue(a[i]!, b[i]!);
  return o;
}

/** (x − y) / (x + y) of one pixel; NaN where either is NaN or x + y = 0 (a zero sum has no defined ratio). */
export function normalizedDifferenceValue(x: number, y: number): number {
  const s = x + y;
  return s === 0 || s !== s ? NaN : (x - y) / s;
}

/** Per-pixel difference after − before (NaN-propagating). */
export function difference(after: Float32Array, before: Float32Array, out?: Float32Array): Float32Array {
  const n = after.length;
  if (before.length !== n) throw new RangeError(`difference: lengths differ (${n} vs ${before.length})`);
  const o = out ?? new Float32Array(n);
  for (let i = 0; i < n; i++) o[i] = after[i]! - before[i]!;
  return o;
}
