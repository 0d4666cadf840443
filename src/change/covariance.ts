/**
 * Weighted mean and covariance accumulated sample by sample and mergeable across blocks. Pure.
 *
 * Uses the weighted one-pass update of West (1979, Commun. ACM 22(9):532–535) and the pairwise merge of
 * Chan, Golub & LeVeque (1979), which stay accurate where naive running sums of x and x² cancel.
 */

/** An accumulator's numbers as plain data, to send between threads (structured clone drops the class). */
export interface CovarianceState {
  dim: number;
  weightSum: number;
  count: number;
  mean: Float64Array;
  comoment: Float64Array;
}

/** Running weighted mean and co-moment matrix of `dim`-dimensional samples. */
export class CovarianceAccumulator {
  /** Sum of weights. */
  weightSum = 0;
  /** Number of samples added with weight > 0. */
  count = 0;
  /** Weighted mean. */
  readonly meanVector: Float64Array;
  /** Weighted co-moment Σ w (x − mean)(x − mean)ᵀ, row-major dim × dim (full, symmetric). */
  readonly comoment: Float64Array;
  private readonly delta: Float64Array;

  constructor(readonly dim: number) {
    if (!Number.isInteger(dim) || dim < 1) throw new RangeError(`CovarianceAccumulator dim must be an integer ≥ 1, got ${dim}`);
    this.meanVector = new Float64Array(dim);
    this.comoment = new Float64Array(dim * dim);
    this.delta = new Float64Array(dim);
  }

  /**
   * Add one sample (its first `dim` values from `offset`) with weight `w` (default 1). Samples with
   * a non-finite value or non-positive weight are skipped; returns whether the sample was used.
   */
  add(x: ArrayLike<number>, w = 1, offset = 0): boolean {
    const { dim, delta, meanVector: m, comoment: c } = this;
    if (!(w > 0)) return false;
    for (let j = 0; j < dim; j++) {
      const v = x[offset + j]!;
      if (!Number.isFinite(v)) return false;
      delta[j] = v - m[j]!;
    }
    const W = this.weightSum + w;
    const f = w / W;
    const g = w * (this.weightSum / W);
    for (let j = 0; j < dim; j++) m[j]! += f * delta[j]!;
    for (let j = 0; j < dim; j++) {
      const dj = g * delta[j]!;
      if (dj === 0) continue;
      const row = j * dim;
      for (let k = j; k < dim; k++) c[row + k]! += dj * delta[k]!;
    }
    this.weightSum = W;
    this.count++;
    return true;
  }

  /** Add `n` samples stored row-major in `rows` (n × dim), with optional per-sample weights. */
  addRows(rows: ArrayLike<number>, n: number, weights?: ArrayLike<number>): this {
    for (let i = 0; i < n; i++) this.add(rows, weights ? weights[i]! : 1, i * this.dim);
    return this;
  }

  /** Fold another accumulator of the same dimension into this one (order-independent up to rounding). */
  merge(other: CovarianceAccumulator): this {
    if (other.dim !== this.dim) throw new RangeError(`cannot merge accumulators of dim ${other.dim} into dim ${this.dim}`);
    if (other.weightSum === 0) return this;
    const { dim, meanVector: m, comoment: c, delta } = this;
    const W = this.weightSum + other.weightSum;
    const g = (this.weightSum * other.weightSum) / W;
    for (let j = 0; j < dim; j++) delta[j] = other.meanVector[j]! - m[j]!;
    for (let j = 0; j < dim; j++) m[j]! += (delta[j]! * other.weightSum) / W;
    for (let j = 0; j < dim; j++) {
      for (let k = j; k < dim; k++) c[j * dim + k]! += other.upper(j, k) + g * delta[j]! * delta[k]!;
    }
    this.weightSum = W;
    this.count += other.count;
    return this;
  }

  /** This accumulator as plain data (copies). */
  state(): CovarianceState {
    return { dim: this.dim, weightSum: this.weightSum, count: this.count, mean: this.meanVector.slice(), comoment: this.comoment.slice() };
  }

  /** An accumulator holding `s` (from {@link state}, possibly sent from another thread). */
  static fromState(s: CovarianceState): CovarianceAccumulator {
    const acc = new CovarianceAccumulator(s.dim);
    if (s.mean.length !== s.dim || s.comoment.length !== s.dim * s.dim) throw new RangeError(`covariance state does not match dim ${s.dim}`);
    acc.meanVector.set(s.mean);
    acc.comoment.set(s.comoment);
    acc.weightSum = s.weightSum;
    acc.count = s.count;
    return acc;
  }

  private upper(j: number, k: number): number {
    return j <= k ? this.comoment[j * this.dim + k]! : this.comoment[k * this.dim + j]!;
  }

  /** The weighted mean (a copy). NaN-filled when nothing was added. */
  mean(): Float64Array {
    return this.weightSum > 0 ? this.meanVector.slice() : new Float64Array(this.dim).fill(NaN);
  }

  /**
   * Weighted covariance Σ w (x − m)(x − m)ᵀ / Σ w (the "population" form, numpy `cov(aweights=w, bias=True)`),
   * as rows of length dim. NaN-filled when nothing was added.
   */
  covariance(): number[][] {
    const { dim } = this;
    const out: number[][] = [];
    for (let j = 0; j < dim; j++) {
      const row: number[] = [];
      for (let k = 0; k < dim; k++) row.push(this.weightSum > 0 ? this.upper(j, k) / this.weightSum : NaN);
      out.push(row);
    }
    return out;
  }
}
