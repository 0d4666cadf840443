/**
 * A fixed-range histogram that can be filled block by block and merged, so that scene-wide statistics
 * (Otsu thresholds, percentiles) never need the whole scene in memory. Pure.
 */
export class Histogram {
  readonly counts: Float64Array;
  /** Number of finite values that fell below `min` / above `max` (clamped into the end bins). */
  total = 0;

  constructor(readonly min: number, readonly max: number, readonly bins = 1024) {
    if (!(max > min) || !Number.isFinite(min) || !Number.isFinite(max)) {
      throw new RangeError(`Histogram range must be finite with max > min, got [${min}, ${max}]`);
    }
    if (!Number.isInteger(bins) || bins < 2) throw new RangeError(`Histogram bins must be an integer ≥ 2, got ${bins}`);
    this.counts = new Float64Array(bins);
  }

  /** Add every finite value (optionally only where `valid[i]` is 1). */
  add(values: ArrayLike<number>, valid?: ArrayLike<number>): this {
    const { min, bins, counts } = this;
    const scale = bins / (this.max - min);
    for (let i = 0; i < values.length; i++) {
      const v = values[i]!;
      if (v !== v || (valid && !valid[i])) continue;
      let k = Math.floor((v - min) * scale);
      if (k < 0) k = 0;
      else if (k >= bins) k = bins - 1;
      counts[k]!++;
      this.total++;
    }
    return this;
  }

  /**
   * Fold in the counts of a histogram with the same range and bins that arrived as a plain array (e.g. from a
   * worker thread); the total grows by their sum, as if those values had been added here.
   */
  addCounts(counts: ArrayLike<number>): this {
    if (counts.length !== this.bins) throw new RangeError(`cannot add ${counts.length} counts to a histogram of ${this.bins} bins`);
    for (let k = 0; k < this.bins; k++) {
      this.counts[k]! += counts[k]!;
      this.total += counts[k]!;
    }
    return this;
  }

  merge(other: Histogram): this {
    if (other.bins !== this.bins || other.min !== this.min || other.max !== this.max) {
      throw new RangeError('cannot merge histograms with different ranges or bin counts');
    }
    for (let k = 0; k < this.bins; k++) this.counts[k]! += other.counts[k]!;
    this.total += other.total;
    return this;
  }

  /** Lower edge of bin k. */
  edge(k: number): number {
    return this.min + (k * (this.max - this.min)) / this.bins;
  }

  /** Value below which a fraction q of the counted values lie (linear within the bin). */
  quantile(q: number): number {
    if (this.total === 0) return NaN;
    const target = q * this.total;
    let acc = 0;
    for (let k = 0; k < this.bins; k++) {
      const c = this.counts[k]!;
      if (acc + c >= target && c > 0) return this.edge(k) + ((target - acc) / c) * (this.edge(k + 1) - this.edge(k));
      acc += c;
    }
    return this.max;
  }

  /**
   * Otsu's threshold (Otsu 1979, IEEE Trans. SMC 9(1):62–66): the bin edge that maximizes the between-class
   * variance of the two groups it separates. Returns NaN when fewer than two distinct bins are populated.
   */
  otsu(): number {
    const { counts, bins } = this;
    let sumAll = 0;
    let nAll = 0;
    let populated = 0;
    for (let k = 0; k < bins; k++) {
      sumAll += k * counts[k]!;
      nAll += counts[k]!;
      if (counts[k]! > 0) populated++;
    }
    if (populated < 2) return NaN;
    let w0 = 0;
    let sum0 = 0;
    let best = -1;
    let bestK = 0;
    for (let k = 0; k < bins - 1; k++) {
      w0 += counts[k]!;
      sum0 += k * counts[k]!;
      const w1 = nAll - w0;
      if (w0 === 0 || w1 === 0) continue;
      const m0 = sum0 / w0;
      const m1 = (sumAll - sum0) / w1;
      const between = w0 * w1 * (m0 - m1) * (m0 - m1);
      if (between > best) {
        best = between;
        bestK = k;
      }
    }
    // Threshold at the upper edge of the last bin of the lower class: values ≥ t belong to the upper class.
    return this.edge(bestK + 1);
  }
}

/** Smallest and largest finite value (optionally only where valid). [NaN, NaN] when there is none. */
export function finiteRange(values: ArrayLike<number>, valid?: ArrayLike<number>): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (v !== v || v === Infinity || v === -Infinity || (valid && !valid[i])) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return lo <= hi ? [lo, hi] : [NaN, NaN];
}

/**
 * The range covering two finite ranges as `finiteRange` gives them ([NaN, NaN] = no value): finiteRange of two
 * pieces of data, merged, equals finiteRange of all of it.
 */
export function mergeRanges(a: readonly [number, number], b: readonly [number, number]): [number, number] {
  if (!(a[0] <= a[1])) return [b[0], b[1]];
  if (!(b[0] <= b[1])) return [a[0], a[1]];
  return [Math.min(a[0], b[0]), Math.max(a[1], b[1])];
}
