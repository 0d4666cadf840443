/**
 * Co-registration of two dates: the sub-pixel translation between a reference image (the before date) and a moving
 * image (the after date) by phase correlation, and the resampling that puts the moving image onto the reference's
 * pixels. Pure (fft.js is plain JavaScript).
 *
 * Method (Kuglin & Hines 1975; sub-pixel refinement by Guizar-Sicairos, Thurman & Fienup 2008, Opt. Lett.
 * 33(2):156–158, as scikit-image's `phase_cross_correlation` does it):
 * 1. a central square window of side N (a power of two, at most `maxWindow`) of both images; NaN filled with the
 *    window's mean, the mean removed, a 2-D Hann taper applied (so the window's edges do not correlate);
 * 2. F = FFT₂ of each; the partly whitened cross-power spectrum R = F_ref·conj(F_mov) / |F_ref·conj(F_mov)|^½
 *    ("generalised" phase correlation: full whitening, exponent 1, lets the near-empty high frequencies — rounding
 *    and interpolation noise — weigh as much as the image's structure; on a smooth synthetic field it was biased by
 *    0.04 px where ½ is within 0.01 px, and plain cross-correlation, exponent 0, is blunt on real scenes);
 * 3. r = IFFT₂(R) peaks at minus the displacement; the integer peak is searched within ±`maxShift` pixels (a peak
 *    on the edge of that square is flagged `atSearchEdge` and not applied);
 * 4. refined by evaluating r on a 1/`upsample` pixel grid over ±0.75 px around that peak with a matrix-multiply
 *    DFT (exact values of the band-limited correlation surface, not a parabola through three samples).
 *
 * The estimate's `confidence` is the peak height r(peak) divided by √(Σ|F_ref|·Σ|F_mov|)/N², its bound by
 * Cauchy–Schwarz: 1 when one image is an exact circular shift of the other, near 0 for unrelated images.
 *
 * Convention: the shift (dx, dy) says that the moving image shows at pixel (x + dx, y + dy) what the reference shows
 * at (x, y). {@link shiftRaster} samples the moving image there (bilinear), which puts it onto the reference's pixels;
 * {@link correctedTransform} moves a geotransform so that a reader resampling by geotransform does the same.
 */
import FFT from 'fft.js';
import { PIXEL_CRS, type GeoTransform, type Grid } from './grid.js';
import { resample } from './resample.js';

export interface ShiftEstimateOptions {
  /** Side of the largest window used (a power of two, default 512). */
  maxWindow?: number;
  /**
   * Largest |dx|, |dy| searched, in pixels (default {@link MAX_SHIFT} = 3: Sentinel-2's multi-temporal registration is specified to
   * better than 0.3 px since 2019 and was ~1 px before; a wider search only finds more false peaks).
   */
  maxShift?: number;
  /** Sub-pixel refinement factor: the shift is found to 1/upsample pixel (default 100). */
  upsample?: number;
}

export interface ShiftEstimate {
  /** Columns: the moving image shows at x + dx what the reference shows at x. */
  dx: number;
  /** Rows, as dx. */
  dy: number;
  /** Height of the phase-correlation peak, in [0, 1] (see module doc). */
  confidence: number;
  /**
   * True when the integer peak lies on the edge of the ±maxShift search: the true peak may lie outside it, or there
   * is none (the surface is highest at its edge by chance); such an estimate is not applied.
   */
  atSearchEdge: boolean;
  /** The window correlated, in the images' pixel coordinates. */
  window: { x: number; y: number; size: number };
}

/** Default search radius of {@link estimateShift}, pixels. */
export const MAX_SHIFT = 3;

/** Smallest window side phase correlation is run on. */
export const MIN_WINDOW = 32;

/** The largest power of two ≤ min(width, height, maxWindow), or 0 when that is below {@link MIN_WINDOW}. */
export function correlationWindowSize(width: number, height: number, maxWindow = 512): number {
  const m = Math.min(width, height, maxWindow);
  if (!(m >= MIN_WINDOW)) return 0;
  return 2 ** Math.floor(Math.log2(m));
}

/** The central window (side `size`) of a width × height image. */
export function centralWindow(width: number, height: number, size: number): { x: number; y: number; size: number } {
  return { x: Math.floor((width - size) / 2), y: Math.floor((height - size) / 2), size };
}

/** Copy the window out of `values`, fill NaN with the window's mean, remove the mean, apply a 2-D Hann taper. */
function taperedWindow(values: Float32Array, width: number, win: { x: number; y: number; size: number }, hann: Float64Array): Float64Array {
  const N = win.size;
  const out = new Float64Array(N * N);
  let sum = 0;
  let count = 0;
  for (let r = 0; r < N; r++) {
    const row = (win.y + r) * width + win.x;
    for (let c = 0; c < N; c++) {
      const v = values[row + c]!;
      if (v === v && Number.isFinite(v)) { sum += v; count++; }
    }
  }
  const mean = count ? sum / count : 0;
  for (let r = 0; r < N; r++) {
    const row = (win.y + r) * width + win.x;
    for (let c = 0; c < N; c++) {
      const v = values[row + c]!;
      out[r * N + c] = ((v === v && Number.isFinite(v) ? v : mean) - mean) * hann[r]! * hann[c]!;
    }
  }
  return out;
}

/** Periodic Hann weights of length n. */
function hannWeights(n: number): Float64Array {
  const w = new Float64Array(n);
  for (let i = 0; i < n; i++) w[i] = 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / n);
  return w;
}

/** In-place 2-D FFT (forward or inverse, fft.js' unnormalised transforms) of an N × N interleaved complex array. */
function fft2(fft: FFT, data: Float64Array, N: number, inverse: boolean): void {
  const line = fft.createComplexArray() as number[];
  const out = fft.createComplexArray() as number[];
  for (let r = 0; r < N; r++) {
    for (let k = 0; k < 2 * N; k++) line[k] = data[2 * r * N + k]!;
    if (inverse) fft.inverseTransform(out, line);
    else fft.transform(out, line);
    for (let k = 0; k < 2 * N; k++) data[2 * r * N + k] = out[k]!;
  }
  for (let c = 0; c < N; c++) {
    for (let r = 0; r < N; r++) {
      line[2 * r] = data[2 * (r * N + c)]!;
      line[2 * r + 1] = data[2 * (r * N + c) + 1]!;
    }
    if (inverse) fft.inverseTransform(out, line);
    else fft.transform(out, line);
    for (let r = 0; r < N; r++) {
      data[2 * (r * N + c)] = out[2 * r]!;
      data[2 * (r * N + c) + 1] = out[2 * r + 1]!;
    }
  }
}

function toComplex(real: Float64Array): Float64Array {
  const c = new Float64Array(2 * real.length);
  for (let i = 0; i < real.length; i++) c[2 * i] = real[i]!;
  return c;
}

/** Signed frequency of DFT index k of N (numpy's fftfreq × N). */
function signedFrequency(k: number, N: number): number {
  return k < N / 2 ? k : k - N;
}

/**
 * r(y, x) = (1/N²) Re Σ R(ky, kx) e^{+2πi(ky·y + kx·x)/N} at the positions `ys` × `xs` (any real pixel offsets):
 * the inverse DFT of R evaluated off the integer grid, in two separable matrix products.
 */
function upsampledCorrelation(R: Float64Array, N: number, ys: Float64Array, xs: Float64Array): Float64Array {
  const M = xs.length;
  const L = ys.length;
  // Stage 1: T(ky, x) = Σ_kx R(ky, kx) e^{2πi kx x / N}
  const tRe = new Float64Array(N * M);
  const tIm = new Float64Array(N * M);
  const cosX = new Float64Array(N * M);
  const sinX = new Float64Array(N * M);
  for (let kx = 0; kx < N; kx++) {
    const f = (2 * Math.PI * signedFrequency(kx, N)) / N;
    for (let j = 0; j < M; j++) {
      cosX[kx * M + j] = Math.cos(f * xs[j]!);
      sinX[kx * M + j] = Math.sin(f * xs[j]!);
    }
  }
  for (let ky = 0; ky < N; ky++) {
    const o = ky * M;
    for (let kx = 0; kx < N; kx++) {
      const re = R[2 * (ky * N + kx)]!;
      const im = R[2 * (ky * N + kx) + 1]!;
      const b = kx * M;
      for (let j = 0; j < M; j++) {
        const c = cosX[b + j]!;
        const s = sinX[b + j]!;
        tRe[o + j]! += re * c - im * s;
        tIm[o + j]! += re * s + im * c;
      }
    }
  }
  // Stage 2: r(y, x) = Re Σ_ky T(ky, x) e^{2πi ky y / N}
  const out = new Float64Array(L * M);
  for (let ky = 0; ky < N; ky++) {
    const f = (2 * Math.PI * signedFrequency(ky, N)) / N;
    const o = ky * M;
    for (let i = 0; i < L; i++) {
      const c = Math.cos(f * ys[i]!);
      const s = Math.sin(f * ys[i]!);
      const row = i * M;
      for (let j = 0; j < M; j++) out[row + j]! += tRe[o + j]! * c - tIm[o + j]! * s;
    }
  }
  const scale = 1 / (N * N);
  for (let i = 0; i < out.length; i++) out[i]! *= scale;
  return out;
}

/**
 * The sub-pixel translation of `moving` relative to `reference` (both width × height, row-major, NaN = no data) by
 * phase correlation on their central window. Returns null when the images are smaller than {@link MIN_WINDOW}.
 *
 * @example
 * const s = estimateShift(beforeB08, afterB08, width, height);
 * if (s && s.confidence >= 0.05 && Math.hypot(s.dx, s.dy) >= 0.1) afterB08 = shiftRaster(afterB08, width, height, s.dx, s.dy);
 */
export function estimateShift(reference: Float32Array, moving: Float32Array, width: number, height: number,
  opts: ShiftEstimateOptions = {}): ShiftEstimate | null {
  if (reference.length !== width * height || moving.length !== width * height) {
    throw new RangeError(`estimateShift: images must have ${width}×${height} = ${width * height} values, got ${reference.length} and ${moving.length}`);
  }
  const maxWindow = opts.maxWindow ?? 512;
  const upsample = opts.upsample ?? 100;
  if (!(Number.isInteger(upsample) && upsample >= 1)) throw new RangeError(`estimateShift: upsample must be an integer ≥ 1, got ${upsample}`);
  const N = correlationWindowSize(width, height, maxWindow);
  if (!N) return null;
  const maxShift = Math.min(opts.maxShift ?? MAX_SHIFT, N / 4);
  const win = centralWindow(width, height, N);
  const hann = hannWeights(N);
  const fft = new FFT(N);
  const a = toComplex(taperedWindow(reference, width, win, hann));
  const b = toComplex(taperedWindow(moving, width, win, hann));
  fft2(fft, a, N, false);
  fft2(fft, b, N, false);
  // R = A·conj(B) / |A·conj(B)|^½; confidence scale: Σ|A| and Σ|B| (see module doc).
  const R = new Float64Array(2 * N * N);
  let sumA = 0;
  let sumB = 0;
  for (let k = 0; k < N * N; k++) {
    const ar = a[2 * k]!, ai = a[2 * k + 1]!, br = b[2 * k]!, bi = b[2 * k + 1]!;
    const re = ar * br + ai * bi;
    const im = ai * br - ar * bi;
    sumA += Math.hypot(ar, ai);
    sumB += Math.hypot(br, bi);
    const m = Math.sqrt(Math.hypot(re, im));
    if (m > 1e-300) { R[2 * k] = re / m; R[2 * k + 1] = im / m; }
  }
  const norm = Math.sqrt(sumA * sumB) / (N * N);
  if (!(norm > 0)) return { dx: 0, dy: 0, confidence: 0, atSearchEdge: false, window: win };
  const r = R.slice();
  fft2(fft, r, N, true);
  // Integer peak within ±maxShift (r's index (y, x) is the offset (y, x) mod N).
  let best = -Infinity;
  let py = 0;
  let px = 0;
  const lim = Math.floor(maxShift);
  for (let y = -lim; y <= lim; y++) {
    for (let x = -lim; x <= lim; x++) {
      const v = r[2 * (((y + N) % N) * N + ((x + N) % N))]! / (N * N);
      if (v > best) { best = v; py = y; px = x; }
    }
  }
  const atSearchEdge = Math.abs(px) === lim || Math.abs(py) === lim;
  // Refinement: r on a 1/upsample grid over ±0.75 px around the integer peak.
  let ry = py;
  let rx = px;
  let height1 = best;
  if (upsample > 1) {
    const half = Math.ceil(0.75 * upsample);
    const offsets = new Float64Array(2 * half + 1);
    for (let i = 0; i < offsets.length; i++) offsets[i] = (i - half) / upsample;
    const ys = offsets.map((o) => py + o);
    const xs = offsets.map((o) => px + o);
    const fine = upsampledCorrelation(R, N, ys, xs);
    let k = 0;
    for (let i = 1; i < fine.length; i++) if (fine[i]! > fine[k]!) k = i;
    ry = ys[Math.floor(k / xs.length)]!;
    rx = xs[k % xs.length]!;
    height1 = fine[k]!;
  }
  // r peaks at minus the displacement of `moving` (A·conj(B) = |A|² e^{+2πik·d/N} when moving(x) = reference(x − d)).
  return { dx: -rx + 0, dy: -ry + 0, confidence: Math.min(1, Math.max(0, height1 / norm)), atSearchEdge, window: win };
}

/**
 * `values` (width × height) resampled so that output pixel (x, y) is the moving image at (x + dx, y + dy): bilinear
 * between pixel centres (NaN neighbours ignored), NaN where that falls outside the image. Same arithmetic as
 * `resample(…, 'bilinear')`, which is what the pipeline uses through {@link correctedTransform}.
 */
export function shiftRaster(values: Float32Array, width: number, height: number, dx: number, dy: number): Float32Array {
  const src: Grid = { crs: PIXEL_CRS, transform: [0, 1, 0, 0, 0, 1], width, height };
  const dst: Grid = { ...src, transform: [dx, 1, 0, dy, 0, 1] };
  return resample(values, src, dst, 'bilinear');
}

/**
 * The geotransform of the moving image once corrected for a shift (dx, dy) measured in pixels of a grid with
 * geotransform `reference` (the pixels the shift was measured on): the moving image's pixel that showed the
 * reference's (x, y) at (x + dx, y + dy) is put back on (x, y)'s ground. Reading the moving bands with this transform
 * onto the reference grid (bilinear) is {@link shiftRaster}; 20 m bands move by the same ground distance.
 */
export function correctedTransform(moving: GeoTransform, reference: GeoTransform, dx: number, dy: number): GeoTransform {
  const ex = dx * reference[1] + dy * reference[2];
  const ey = dx * reference[4] + dy * reference[5];
  return [moving[0] - ex, moving[1], moving[2], moving[3] - ey, moving[4], moving[5]];
}

/** Shifts shorter than this (pixels) are left alone: below the estimate's noise on real pairs, and resampling blurs. */
export const MIN_APPLIED_SHIFT = 0.1;
/**
 * Peaks lower than this are not trusted. Measured on the OSCD pairs (B08, 256²–512² windows): the same place on two
 * dates 0.35–0.70, two different cities 0.03–0.05.
 */
export const MIN_CONFIDENCE = 0.15;

/** What was done with a shift estimate: applied, or skipped and why. */
export interface CoregistrationDecision {
  applied: boolean;
  /** Why not applied (empty when applied). */
  reason: string;
}

/** Apply a shift only when it is confident and at least {@link MIN_APPLIED_SHIFT} pixels long. */
export function decideCoregistration(estimate: ShiftEstimate | null, opts: { minShift?: number; minConfidence?: number } = {}): CoregistrationDecision {
  const minShift = opts.minShift ?? MIN_APPLIED_SHIFT;
  const minConfidence = opts.minConfidence ?? MIN_CONFIDENCE;
  if (!estimate) return { applied: false, reason: `the overlap is smaller than ${MIN_WINDOW}×${MIN_WINDOW} pixels` };
  if (estimate.atSearchEdge) {
    return { applied: false, reason: `no correlation peak inside the ±${MAX_SHIFT} px search (highest at its edge, ${estimate.dx.toFixed(2)}, ${estimate.dy.toFixed(2)} px)` };
  }
  if (!(estimate.confidence >= minConfidence)) {
    return { applied: false, reason: `low confidence: correlation peak ${estimate.confidence.toFixed(3)} < ${minConfidence} (the dates may differ too much, or be cloudy)` };
  }
  const length = Math.hypot(estimate.dx, estimate.dy);
  if (length < minShift) return { applied: false, reason: `shift ${length.toFixed(3)} px < ${minShift} px` };
  return { applied: true, reason: '' };
}
