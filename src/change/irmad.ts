/**
 * Iteratively reweighted multivariate alteration detection, IR-MAD (Nielsen 2007, IEEE TIP 16(2):463–478). Pure.
 *
 * Canonical correlation analysis (CCA) of the p bands of date 1 (X) against the p bands of date 2 (Y) gives pairs
 * of canonical variates U = aᵀX, V = bᵀY with unit variance and correlations ρ₁ ≤ … ≤ ρ_p. The MAD variates
 * M_k = U_k − V_k have variance σ_k² = 2(1 − ρ_k) and are invariant to any affine map of either date's bands
 * (gains, offsets, band mixing), so calibration or haze differences between the dates do not show up as change.
 * For no-change pixels Z = Σ (M_k/σ_k)² is about χ²(p); IR-MAD refits the CCA with each pixel weighted by its
 * no-change probability 1 − F_χ²(Z; p) until the canonical correlations move less than `tolerance`, or until the
 * next weights would leave fewer than `minNoChangeShare` (default 0.25) of the pixels with a no-change probability
 * above ½ — where the literal algorithm, on scenes with much spectral change (seasons, cities), collapses onto an
 * ever smaller no-change core and flags most of the scene (docs/methods.md). `maxIterations: 1` is plain MAD.
 *
 * Consistency correction (on by default, `consistencyCorrection: false` gives the literal algorithm): a weighted
 * variance with weights 1 − F(Z) underestimates the no-change MAD variance, because it down-weights the no-change
 * pixels in the χ² tail. Iterated, the literal algorithm settles at a scale where a pure-noise pair gets ~45 % of its
 * pixels above the 99 % χ² point (4 bands). We multiply the weighted σ_k² by p/κ_p, κ_p = E_w[Z] = ∫₀^∞ Q_p(t)² dt
 * (Q_p the χ²(p) survival function) — the M-estimation consistency factor — so the true no-change scale is the fixed
 * point again: a pure-noise pair then gets ~1 % above the 99 % point, as the χ² model says.
 *
 * Ordering follows Nielsen: index 0 is the least correlated pair (the MAD variate with most change).
 * `fitIrmad` (on a seeded pixel sample) and `applyMad` (per pixel) are separate so a block engine can fit once
 * and apply per block; {@link accumulateJoint} and {@link canonicalCorrelation} expose the streaming pieces.
 */
import { CholeskyDecomposition, EigenvalueDecomposition, Matrix, inverse } from 'ml-matrix';
import { NothingValidError, RadiometryError, UsageError } from '../errors.js';
import { chiSquareCdf, chiSquareQuantile, chiSquareSurvival, regularizedGammaQ } from './chi-square.js';
import { CovarianceAccumulator } from './covariance.js';
import { checkBandStacks } from './cva.js';
import { otsuThreshold } from './otsu.js';
import { keepSample, sampleRate } from './sampling.js';

export interface IrmadOptions {
  /** 1 = valid; pixels with 0 here or NaN in any band of either date are ignored and get NaN / 255. */
  valid?: Uint8Array;
  /** Most CCA fits (default 30). */
  maxIterations?: number;
  /** Stop when no canonical correlation changes by more than this between fits (default 1e-4). */
  tolerance?: number;
  /**
   * Ridge λ ≥ 0 added to both within-date covariances as λ·(trace/p)·I before CCA (default 0). Use a small value
   * (1e-6 … 1e-3) when bands are (nearly) linearly dependent. It biases ρ towards 0 by about λ.
   */
  regularization?: number;
  /** Fit on at most about this many valid pixels (seeded sample; default 250 000). */
  maxSamples?: number;
  /** Seed of the pixel sample (default 1). */
  seed?: number;
  /** Also return the MAD variates (p Float32Arrays). Default false. */
  madVariates?: boolean;
  /** Correct weighted MAD variances for the down-weighting of the χ² tail (default true; see module doc). */
  consistencyCorrection?: boolean;
  /**
   * Stop reweighting (keep the last fit) when the next weights would leave fewer than this share of the pixels with a
   * no-change probability above 0.5 (default {@link IRMAD_MIN_NO_CHANGE_SHARE} = 0.25; 0 gives the literal
   * algorithm). See the module doc: without it, IR-MAD on scenes with much real change (seasons, cities) collapses
   * onto a small, ever tighter no-change core.
   */
  minNoChangeShare?: number;
}

/** Why the IR-MAD iterations stopped. */
export type IrmadStop =
  /** The canonical correlations moved less than the tolerance between two fits. */
  | 'converged'
  /** `maxIterations` fits were done (1: plain MAD). */
  | 'max-iterations'
  /** The next weights would have left fewer than `minNoChangeShare` of the pixels as probable no change. */
  | 'no-change-share';

/** A fitted CCA / MAD transform. Row k of `a` and `b` (p values each) is the k-th canonical vector pair. */
export interface MadModel {
  bands: number;
  /** Degrees of freedom of Z: the number of informative MAD variates (= bands unless some are empty). */
  dof: number;
  meanBefore: Float64Array;
  meanAfter: Float64Array;
  /** p × p, row-major; U_k = Σ_j a[k·p + j] (x_j − meanBefore_j). */
  a: Float64Array;
  /** p × p, row-major; V_k = Σ_j b[k·p + j] (y_j − meanAfter_j). */
  b: Float64Array;
  /** Canonical correlations, ascending. */
  rho: number[];
  /** Standard deviations of the MAD variates (√(2(1 − ρ_k)) up to regularization and consistency correction; ∞ if empty). */
  sigma: number[];
}

export interface MadStatistics {
  /** Z = Σ (M_k/σ_k)², NaN where invalid. */
  chi2: Float32Array;
  /** χ²(p) CDF of Z: probability that the pixel changed. NaN where invalid. */
  pChange: Float32Array;
  /** The MAD variates M_k (when asked for). */
  madVariates?: Float32Array[];
}

export interface IrmadResult extends MadStatistics {
  model: MadModel;
  /** Final canonical correlations, ascending. */
  rho: number[];
  /** Canonical correlations of every fit (the first is plain MAD). */
  rhoHistory: number[][];
  /** Number of CCA fits done. */
  iterations: number;
  /** True when the correlations settled within `tolerance` before `maxIterations`. */
  converged: boolean;
  /** Why the iterations stopped. */
  stopReason: IrmadStop;
  /** Share of the sample with no-change probability (weight) > 0.5 under the final model. */
  noChangeShare: number;
  /** Number of pixels the fit used. */
  samples: number;
}

/**
 * Default `minNoChangeShare`. 0.5 (the model's own "most pixels did not change") gave the best OSCD score (pooled
 * F1 31.5 % on the 10 test cities) but cost CAL FIRE (54.6 → 47.2 %) and OMBRIA (22.3 → 11.5 %), whose chips are
 * largely burned or flooded; 0.25 stops the collapse and improves all three (21.3, 57.3, 23.2 %). Chosen by looking
 * at those benchmarks, so not a held-out figure (docs/ACCURACY.md).
 */
export const IRMAD_MIN_NO_CHANGE_SHARE = 0.25;

const consistency = new Map<number, number>();

/**
 * The factor p/κ_p that makes IR-MAD's weighted MAD variances consistent for no-change pixels, where
 * κ_p = ∫₀^∞ Q_p(t)² dt is the mean of Z ~ χ²(p) weighted by its survival function (κ₂ = 1, κ₄ = 2.5).
 */
export function irmadConsistencyFactor(p: number): number {
  const cached = consistency.get(p);
  if (cached !== undefined) return cached;
  // Simpson's rule; Q_p(t)² < 1e-30 beyond `hi`.
  const hi = p + 30 * Math.sqrt(2 * p) + 80;
  const steps = 20_000;
  const h = hi / steps;
  let sum = 0;
  for (let i = 0; i <= steps; i++) {
    const q = regularizedGammaQ(p / 2, (i * h) / 2);
    sum += (i === 0 || i === steps ? 1 : i % 2 ? 4 : 2) * q * q;
  }
  const factor = p / ((sum * h) / 3);
  consistency.set(p, factor);
  return factor;
}

/** Canonical variates with less variance than this (they should have 1) are empty, see canonicalCorrelation. */
const EMPTY_VARIATE = 1e-6;

/** Smallest MAD variance used, so identical dates (ρ = 1, M = 0) give Z = 0 instead of 0/0. */
const MIN_MAD_VARIANCE = 1e-12;

/**
 * Add pixel `i` of both dates (2p values: before bands then after bands) to `acc` with weight `w`.
 * Returns false (and adds nothing) when any value is NaN.
 */
export function accumulateJoint(acc: CovarianceAccumulator, before: readonly Float32Array[], after: readonly Float32Array[], i: number, w = 1, scratch = new Float64Array(2 * before.length)): boolean {
  jointRow(before, after, i, scratch, 0);
  return acc.add(scratch, w);
}

/** Write pixel `i`'s 2p values — before bands, then after bands: a row of the IR-MAD fit — into `out` at `offset`. */
export function jointRow(before: readonly Float32Array[], after: readonly Float32Array[], i: number, out: { [k: number]: number }, offset: number): void {
  const p = before.length;
  for (let j = 0; j < p; j++) {
    out[offset + j] = before[j]![i]!;
    out[offset + p + j] = after[j]![i]!;
  }
}

/** Which pixels `fitIrmad` fits on by default: a seeded sample of about 250 000 valid pixels, seed 1. */
export const IRMAD_SAMPLING = Object.freeze({ maxSamples: 250_000, seed: 1 });

/** True when pixel `i` can enter the IR-MAD fit: valid (when a mask is given) and not NaN in any band of either date. */
export function madPixelUsable(before: readonly Float32Array[], after: readonly Float32Array[], valid: Uint8Array | undefined, i: number): boolean {
  if (valid && valid[i] !== 1) return false;
  for (let j = 0; j < before.length; j++) if (before[j]![i] !== before[j]![i] || after[j]![i] !== after[j]![i]) return false;
  return true;
}

function block(cov: number[][], r0: number, c0: number, p: number): Matrix {
  return new Matrix(cov.slice(r0, r0 + p).map((row) => row.slice(c0, c0 + p)));
}

function quad(u: number[], m: Matrix, v: number[]): number {
  let s = 0;
  for (let i = 0; i < u.length; i++) for (let j = 0; j < v.length; j++) s += u[i]! * m.get(i, j) * v[j]!;
  return s;
}

function ridge(s: Matrix, lambda: number): Matrix {
  const p = s.rows;
  if (lambda === 0) return s;
  const add = (lambda * s.trace()) / p;
  const r = s.clone();
  for (let i = 0; i < p; i++) r.set(i, i, r.get(i, i) + add);
  return r;
}

function cholesky(s: Matrix, date: string, lambda: number): Matrix {
  const chol = new CholeskyDecomposition(s);
  if (!chol.isPositiveDefinite()) {
    throw new RadiometryError(`the ${date} bands are linearly dependent (a constant band, a duplicate, or a band made of others)`, {
      input: `IR-MAD ${date}`,
      expected: 'a positive definite band covariance',
      found: `a singular covariance${lambda > 0 ? ` even with regularization ${lambda}` : ''}`,
      fix: 'Drop the constant or duplicate band, or set the IR-MAD regularization (e.g. 1e-6)',
    });
  }
  return chol.lowerTriangularMatrix;
}

/**
 * CCA of the accumulated joint (before, after) samples of dimension 2p: solves S₁₂S₂₂⁻¹S₂₁a = ρ²S₁₁a through the
 * Cholesky factor of S₁₁ (a symmetric eigenproblem), then b ∝ S₂₂⁻¹S₂₁a, with aᵀS₁₁a = bᵀS₂₂b = 1.
 * A canonical variate with (almost) no variance in the data — possible only with regularization, e.g. along a
 * constant band — carries no information: it gets σ = ∞ (adds 0 to Z) and is not counted in `dof`.
 */
export function canonicalCorrelation(acc: CovarianceAccumulator, p: number, regularization = 0): MadModel {
  if (acc.dim !== 2 * p) throw new RangeError(`accumulator has dim ${acc.dim}, expected 2p = ${2 * p}`);
  if (!(regularization >= 0)) throw new RangeError(`regularization must be ≥ 0, got ${regularization}`);
  const cov = acc.covariance();
  const s11 = block(cov, 0, 0, p);
  const s22 = block(cov, p, p, p);
  const s12 = block(cov, 0, p, p);
  const s21 = s12.transpose();
  const s11r = ridge(s11, regularization);
  const s22r = ridge(s22, regularization);
  const linv = inverse(cholesky(s11r, 'date-1', regularization));
  const l2inv = inverse(cholesky(s22r, 'date-2', regularization));
  const s22inv = l2inv.transpose().mmul(l2inv);
  const c = linv.mmul(s12).mmul(s22inv).mmul(s21).mmul(linv.transpose());
  const sym = c.add(c.transpose()).mul(0.5);
  const evd = new EigenvalueDecomposition(sym, { assumeSymmetric: true });
  const vals = evd.realEigenvalues;
  const order = vals.map((_, i) => i).sort((i, j) => vals[i]! - vals[j]!);
  const a = new Float64Array(p * p);
  const b = new Float64Array(p * p);
  const rho: number[] = [];
  const sigma: number[] = [];
  const linvT = linv.transpose();
  order.forEach((col, k) => {
    let av = linvT.mmul(evd.eigenvectorMatrix.getColumnVector(col)).to1DArray();
    let bv = s22inv.mmul(s21).mmul(Matrix.columnVector(av)).to1DArray();
    const bn = Math.sqrt(Math.max(0, quad(bv, s22r, bv)));
    bv = bn > 0 ? bv.map((v) => v / bn) : bv.map(() => 0);
    // Sign: make U_k positively correlated with the sum of the date-1 bands (Nielsen's convention).
    const s11a = s11.mmul(Matrix.columnVector(av)).to1DArray();
    if (s11a.reduce((s, v) => s + v, 0) < 0) {
      av = av.map((v) => -v);
      bv = bv.map((v) => -v);
    }
    a.set(av, k * p);
    b.set(bv, k * p);
    const varU = quad(av, s11, av);
    const varV = quad(bv, s22, bv);
    const empty = varU < EMPTY_VARIATE || varV < EMPTY_VARIATE;
    rho.push(empty ? 0 : quad(av, s12, bv));
    sigma.push(empty ? Infinity : Math.sqrt(Math.max(MIN_MAD_VARIANCE, varU + varV - 2 * quad(av, s12, bv))));
  });
  const dof = sigma.filter(Number.isFinite).length;
  return { bands: p, dof, meanBefore: acc.mean().slice(0, p), meanAfter: acc.mean().slice(p), a, b, rho, sigma };
}

/** Z = Σ (M_k/σ_k)² of one pixel given its 2p values (before then after), optionally writing M into `mad`. */
export function madChiSquare(model: MadModel, xy: ArrayLike<number>, offset = 0, mad?: Float64Array): number {
  const { bands: p, a, b, meanBefore, meanAfter, sigma } = model;
  let z = 0;
  for (let k = 0; k < p; k++) {
    let u = 0;
    let v = 0;
    for (let j = 0; j < p; j++) {
      u += a[k * p + j]! * (xy[offset + j]! - meanBefore[j]!);
      v += b[k * p + j]! * (xy[offset + p + j]! - meanAfter[j]!);
    }
    const m = u - v;
    if (mad) mad[k] = m;
    z += (m / sigma[k]!) ** 2;
  }
  return z;
}

/** Per-pixel MAD statistics of two band stacks (n pixels) under a fitted model. */
export function applyMad(model: MadModel, before: readonly Float32Array[], after: readonly Float32Array[], n: number, opts: { valid?: Uint8Array; madVariates?: boolean } = {}): MadStatistics {
  checkBandStacks(before, after, n, 'IR-MAD');
  const p = model.bands;
  if (before.length !== p) throw new RangeError(`model has ${p} bands, data has ${before.length}`);
  const chi2 = new Float32Array(n);
  const pChange = new Float32Array(n);
  const madVariates = opts.madVariates ? Array.from({ length: p }, () => new Float32Array(n)) : undefined;
  const xy = new Float64Array(2 * p);
  const mad = new Float64Array(p);
  for (let i = 0; i < n; i++) {
    let ok = !opts.valid || opts.valid[i] === 1;
    for (let j = 0; j < p && ok; j++) {
      xy[j] = before[j]![i]!;
      xy[p + j] = after[j]![i]!;
      ok = xy[j] === xy[j] && xy[p + j] === xy[p + j];
    }
    if (!ok) {
      chi2[i] = NaN;
      pChange[i] = NaN;
      if (madVariates) for (const m of madVariates) m[i] = NaN;
      continue;
    }
    const z = madChiSquare(model, xy, 0, mad);
    chi2[i] = z;
    pChange[i] = chiSquareCdf(z, model.dof);
    if (madVariates) for (let k = 0; k < p; k++) madVariates[k]![i] = mad[k]!;
  }
  return madVariates ? { chi2, pChange, madVariates } : { chi2, pChange };
}

/**
 * Fit IR-MAD on a seeded sample of the valid pixels: those with {@link madPixelUsable} and
 * `keepSample(i, sampleRate(nUsable, maxSamples), seed)`, in pixel order, fitted by {@link fitIrmadSample}.
 */
export function fitIrmad(before: readonly Float32Array[], after: readonly Float32Array[], n: number, opts: IrmadOptions = {}): Omit<IrmadResult, keyof MadStatistics> {
  checkBandStacks(before, after, n, 'IR-MAD');
  const p = before.length;
  const seed = opts.seed ?? IRMAD_SAMPLING.seed;
  let nValid = 0;
  for (let i = 0; i < n; i++) if (madPixelUsable(before, after, opts.valid, i)) nValid++;
  const rate = sampleRate(nValid, opts.maxSamples ?? IRMAD_SAMPLING.maxSamples);
  const kept: number[] = [];
  for (let i = 0; i < n; i++) if (madPixelUsable(before, after, opts.valid, i) && keepSample(i, rate, seed)) kept.push(i);
  const rows = new Float64Array(kept.length * 2 * p);
  kept.forEach((i, k) => jointRow(before, after, i, rows, k * 2 * p));
  return fitIrmadSample(rows, p, opts);
}

/** The options of the CCA fits themselves (not of the pixel sample). */
export type MadFitOptions = Omit<IrmadOptions, 'valid' | 'maxSamples' | 'seed' | 'madVariates'>;

function checkIterations(opts: IrmadOptions): void {
  const maxIterations = opts.maxIterations ?? 30;
  if (!(Number.isInteger(maxIterations) && maxIterations >= 1)) {
    throw new UsageError('IR-MAD maxIterations must be an integer ≥ 1', { input: 'maxIterations', found: String(maxIterations), fix: 'Pass 30' });
  }
}

/**
 * The iterated CCA fits of IR-MAD on sampled pixels: `data` holds one row of 2p values per pixel (before bands, then
 * after bands, see {@link jointRow}) in pixel order. A block engine that gathers the same rows in the same order gets
 * the same model as {@link fitIrmad}.
 */
export function fitIrmadSample(data: Float64Array, p: number, opts: MadFitOptions = {}): Omit<IrmadResult, keyof MadStatistics> {
  checkIterations(opts);
  const maxIterations = opts.maxIterations ?? 30;
  const tolerance = opts.tolerance ?? 1e-4;
  const m = data.length / (2 * p);
  if (m <= 2 * p) {
    throw new NothingValidError('too few valid pixels for IR-MAD', {
      input: 'IR-MAD',
      expected: `more than ${2 * p} valid pixels (2 × bands)`,
      found: `${m}`,
      fix: 'Check the cloud/nodata masks or use a larger area',
    });
  }
  const minShare = opts.minNoChangeShare ?? IRMAD_MIN_NO_CHANGE_SHARE;
  if (!(minShare >= 0 && minShare <= 1)) {
    throw new UsageError('IR-MAD minNoChangeShare must be in [0, 1]', { input: 'minNoChangeShare', found: String(minShare), fix: 'Pass 0.25' });
  }
  const weights = new Float64Array(m).fill(1);
  const next = new Float64Array(m);
  const rhoHistory: number[][] = [];
  let model: MadModel | undefined;
  let stopReason: IrmadStop = 'max-iterations';
  let noChangeShare = 1;
  for (let it = 0; it < maxIterations; it++) {
    const acc = new CovarianceAccumulator(2 * p).addRows(data, m, weights);
    const fit = canonicalCorrelation(acc, p, opts.regularization ?? 0);
    // The first fit is unweighted, so its variances need no correction.
    if (it > 0 && opts.consistencyCorrection !== false && fit.dof > 0) {
      const f = Math.sqrt(irmadConsistencyFactor(fit.dof));
      fit.sigma = fit.sigma.map((s) => s * f);
    }
    const prev = rhoHistory[rhoHistory.length - 1];
    rhoHistory.push(fit.rho);
    model = fit;
    let kept = 0;
    for (let i = 0; i < m; i++) {
      next[i] = chiSquareSurvival(madChiSquare(fit, data, i * 2 * p), fit.dof);
      if (next[i]! > 0.5) kept++;
    }
    noChangeShare = kept / m;
    if (prev && Math.max(...fit.rho.map((r, k) => Math.abs(r - prev[k]!))) < tolerance) {
      stopReason = 'converged';
      break;
    }
    if (it + 1 === maxIterations) break;
    if (noChangeShare < minShare) {
      stopReason = 'no-change-share';
      break;
    }
    weights.set(next);
  }
  return {
    model: model!, rho: model!.rho, rhoHistory, iterations: rhoHistory.length, converged: stopReason === 'converged', stopReason,
    noChangeShare, samples: m,
  };
}

/**
 * IR-MAD change statistics of two band stacks of `n` pixels (Nielsen 2007).
 *
 * @example
 * const r = irmad([b1, b2, b3], [a1, a2, a3], width * height);
 * const { mask } = irmadChangeMask(r); // 1 where P(change) > 0.99
 */
export function irmad(before: readonly Float32Array[], after: readonly Float32Array[], n: number, opts: IrmadOptions = {}): IrmadResult {
  const fit = fitIrmad(before, after, n, opts);
  return { ...fit, ...applyMad(fit.model, before, after, n, opts) };
}

export type IrmadThreshold =
  /** Change where the χ² change probability exceeds `minPChange` (default 0.99). */
  | { method: 'probability'; minPChange?: number }
  /** Change where Z ≥ Otsu's threshold on the Z values. */
  | { method: 'otsu' };

/**
 * Binary change mask from IR-MAD statistics: 1 change, 0 no change, 255 invalid. Default: P(change) > 0.99,
 * i.e. Z above the 99th percentile of χ²(dof) (dof = bands unless some MAD variates are empty), so about 1 % of truly unchanged pixels are flagged.
 * Returns the mask and the Z threshold used (change where Z > threshold, or Z ≥ threshold for Otsu).
 */
export function irmadChangeMask(
  stats: { chi2: Float32Array; model: Pick<MadModel, 'dof'> },
  threshold: IrmadThreshold = { method: 'probability' },
): { mask: Uint8Array; chi2Threshold: number } {
  const { chi2 } = stats;
  const mask = new Uint8Array(chi2.length);
  if (threshold.method === 'otsu') {
    const t = otsuThreshold(chi2);
    for (let i = 0; i < chi2.length; i++) {
      const z = chi2[i]!;
      mask[i] = z !== z ? 255 : z >= t ? 1 : 0;
    }
    return { mask, chi2Threshold: t };
  }
  const t = irmadChi2Threshold(threshold.minPChange ?? 0.99, stats.model.dof);
  for (let i = 0; i < chi2.length; i++) {
    const z = chi2[i]!;
    mask[i] = z !== z ? 255 : z > t ? 1 : 0;
  }
  return { mask, chi2Threshold: t };
}

/** The Z above which P(change) = F_χ²(Z; dof) exceeds `minPChange` ∈ (0, 1): the χ²(dof) quantile. */
export function irmadChi2Threshold(minPChange: number, dof: number): number {
  if (!(minPChange > 0 && minPChange < 1)) {
    throw new UsageError('IR-MAD change probability threshold must be in (0, 1)', { input: 'minPChange', found: String(minPChange), fix: 'Pass 0.99' });
  }
  return chiSquareQuantile(minPChange, dof);
}
