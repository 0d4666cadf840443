/**
 * Features of the learned urban (construction) change model. Pure: no I/O, usable in workers and the browser.
 *
 * Buildings at 10 m are a few pixels and per-pixel spectra do not transfer between cities, so the features are
 * per-scene standardised *differences* between the dates plus their *spatial context*:
 *
 * 1. **Base layers** (one value per pixel, see {@link baseLayerNames}):
 *    - `diff_<band>`: after − before reflectance of every band of the spec;
 *    - `lr_<band>`: log-ratio ln(max(after, 0) + 0.01) − ln(max(before, 0) + 0.01);
 *    - `<index>_before`, `<index>_after`, `<index>_diff` for NDVI, NDBI, BSI, MNDWI (the registry's formulas);
 *    - `chi2`: ln(1 + χ²), χ² = (d − μ)ᵀ Σ⁻¹ (d − μ) the Mahalanobis distance of the pixel's band-difference vector d
 *      under the scene's mean μ and covariance Σ of d (the change magnitude of a MAD/chi-square detector, without
 *      the canonical rotation, which leaves the Mahalanobis distance unchanged).
 *    Every base layer except chi2 is standardised with the scene's mean and standard deviation over its valid
 *    pixels ({@link sceneStatistics}), clipped to ±{@link Z_CLIP}, and quantised to 1/{@link QUANTUM}.
 * 2. **Context**: for each layer of `spec.context` and each radius r of `spec.radii`, the mean and standard
 *    deviation of the layer's finite values in the (2r + 1)² window around the pixel (clipped at the image edges).
 *    Window sums come from separable running box sums over the *integer* quantised values, so they are exact:
 *    a block computed with a halo of {@link urbanHalo} pixels gives bit-identical features to the whole array.
 *
 * Per-scene statistics are computed once per scene ({@link sceneStatistics}) and passed in, so that blocks of one
 * scene standardise identically. Invalid pixels (valid = 0, or a NaN band) get NaN features and are not counted
 * in any window.
 */
import { MissingBandError } from '../errors.js';
import type { BandName } from '../indices/bands.js';
import { getIndex, type BandArrays } from '../indices/registry.js';

/** The urban indices, in feature order. */
export const URBAN_INDICES = ['NDVI', 'NDBI', 'BSI', 'MNDWI'] as const;
export type UrbanIndex = (typeof URBAN_INDICES)[number];

/** 10 and 20 m bands of the default spec (the 60 m atmospheric bands are left out). */
export const URBAN_BANDS: readonly BandName[] = ['B02', 'B03', 'B04', 'B05', 'B06', 'B07', 'B08', 'B8A', 'B11', 'B12'];

/** Standardised values are clipped to ±Z_CLIP before quantisation. */
export const Z_CLIP = 50;
/** Base layers are quantised to 1/QUANTUM; window sums are then exact integer sums (|sum of squares| < 2^53). */
export const QUANTUM = 1024;
/** Added to reflectance in the log-ratio so that dark pixels and zeros stay finite. */
export const LOG_RATIO_EPSILON = 0.01;

/** Which features to compute. Serialised inside a model file; see {@link urbanFeatureNames} for the column order. */
export interface UrbanFeatureSpec {
  /** Version of the feature definitions; a model made with another version is refused. */
  version: 1;
  /** Bands used on both dates, in order. */
  bands: BandName[];
  indices: UrbanIndex[];
  /** Base layers (names from {@link baseLayerNames}) whose local mean and standard deviation are features. */
  context: string[];
  /** Window radii r ((2r + 1)² windows), ascending. */
  radii: number[];
}

/** The default spec: every band of {@link URBAN_BANDS}, the four indices, context at 3, 7, 13 and 25 px windows. */
export function defaultUrbanFeatureSpec(): UrbanFeatureSpec {
  return {
    version: 1,
    bands: [...URBAN_BANDS],
    indices: [...URBAN_INDICES],
    context: ['diff_B02', 'diff_B04', 'diff_B08', 'diff_B11', 'NDVI_diff', 'NDBI_diff', 'BSI_diff', 'chi2'],
    radii: [1, 3, 6, 12],
  };
}

/** Bands a spec needs on both dates (its bands and those of its indices). */
export function requiredBands(spec: UrbanFeatureSpec): BandName[] {
  const need = new Set<BandName>(spec.bands);
  for (const i of spec.indices) for (const b of getIndex(i)!.bands) need.add(b);
  return [...need];
}

/**
 * Halo in pixels: the largest window radius. Features of a block computed from the block grown by this many
 * pixels on every side (clipped at the image edges) equal those of the whole array.
 */
export function urbanHalo(spec: UrbanFeatureSpec): number {
  return spec.radii.length ? Math.max(...spec.radii) : 0;
}

/** Names of the base layers in order: diff_*, lr_*, index before/after/diff, chi2. */
export function baseLayerNames(spec: UrbanFeatureSpec): string[] {
  const names: string[] = [];
  for (const b of spec.bands) names.push(`diff_${b}`);
  for (const b of spec.bands) names.push(`lr_${b}`);
  for (const i of spec.indices) names.push(`${i}_before`, `${i}_after`, `${i}_diff`);
  names.push('chi2');
  return names;
}

/** Feature names in column order: the base layers, then `<layer>_mean<w>` and `<layer>_std<w>` per context layer and window w = 2r + 1. */
export function urbanFeatureNames(spec: UrbanFeatureSpec): string[] {
  const names = baseLayerNames(spec);
  for (const l of spec.context) for (const r of spec.radii) names.push(`${l}_mean${2 * r + 1}`, `${l}_std${2 * r + 1}`);
  return names;
}

/** Per-scene statistics: computed once per scene, passed to every call of {@link urbanFeatures} on it. */
export interface UrbanSceneStats {
  /** Mean and standard deviation of every base layer except chi2 (same order as {@link baseLayerNames}), over the valid pixels. */
  mean: number[];
  std: number[];
  /** Mean and inverse covariance (row-major, bands × bands) of the band-difference vector. */
  diffMean: number[];
  diffInverseCovariance: number[];
  /** Valid pixels the statistics were computed from. */
  pixels: number;
}

function checkBands(spec: UrbanFeatureSpec, before: BandArrays, after: BandArrays, n: number): void {
  for (const b of requiredBands(spec)) {
    for (const [date, arrays] of [['before', before], ['after', after]] as const) {
      const a = arrays[b];
      if (!a) {
        throw new MissingBandError('a band the urban model needs is missing', {
          input: `${date} scene`, expected: `bands ${requiredBands(spec).join(',')} on both dates`, found: `no ${b}`,
          fix: 'Provide the 10 and 20 m bands of both dates (B02-B08, B8A, B11, B12)',
        });
      }
      if (a.length !== n) throw new RangeError(`${date} ${b} has ${a.length} values, expected ${n} (width × height)`);
    }
  }
}

/** Raw (unstandardised) base layers except chi2, in {@link baseLayerNames} order; NaN where invalid. */
function rawLayers(spec: UrbanFeatureSpec, before: BandArrays, after: BandArrays, n: number, valid?: Uint8Array): Float32Array[] {
  const layers: Float32Array[] = [];
  for (const b of spec.bands) {
    const x = before[b]!, y = after[b]!;
    const d = new Float32Array(n);
    for (let i = 0; i < n; i++) d[i] = valid && !valid[i] ? NaN : y[i]! - x[i]!;
    layers.push(d);
  }
  for (const b of spec.bands) {
    const x = before[b]!, y = after[b]!;
    const d = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      d[i] = valid && !valid[i] ? NaN : Math.log(Math.max(y[i]!, 0) + LOG_RATIO_EPSILON) - Math.log(Math.max(x[i]!, 0) + LOG_RATIO_EPSILON);
    }
    layers.push(d);
  }
  for (const name of spec.indices) {
    const idx = getIndex(name)!;
    const ib = idx.compute(before);
    const ia = idx.compute(after);
    const id = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      if (valid && !valid[i]) { ib[i] = NaN; ia[i] = NaN; id[i] = NaN; } else id[i] = ia[i]! - ib[i]!;
    }
    layers.push(ib, ia, id);
  }
  return layers;
}

/** Inverse of a symmetric positive definite matrix (row-major) by Gauss-Jordan with a small ridge for stability. */
function inverseSpd(a: Float64Array, k: number): number[] {
  let trace = 0;
  for (let i = 0; i < k; i++) trace += a[i * k + i]!;
  const ridge = 1e-9 * (trace / k || 1);
  const m = new Float64Array(k * 2 * k);
  for (let i = 0; i < k; i++) {
    for (let j = 0; j < k; j++) m[i * 2 * k + j] = a[i * k + j]! + (i === j ? ridge : 0);
    m[i * 2 * k + k + i] = 1;
  }
  for (let c = 0; c < k; c++) {
    let p = c;
    for (let r = c + 1; r < k; r++) if (Math.abs(m[r * 2 * k + c]!) > Math.abs(m[p * 2 * k + c]!)) p = r;
    if (p !== c) for (let j = 0; j < 2 * k; j++) { const t = m[c * 2 * k + j]!; m[c * 2 * k + j] = m[p * 2 * k + j]!; m[p * 2 * k + j] = t; }
    const piv = m[c * 2 * k + c]!;
    if (piv === 0) return Array.from({ length: k * k }, (_, i) => (i % (k + 1) === 0 ? 1 : 0));
    for (let j = 0; j < 2 * k; j++) m[c * 2 * k + j]! /= piv;
    for (let r = 0; r < k; r++) {
      if (r === c) continue;
      const f = m[r * 2 * k + c]!;
      if (f === 0) continue;
      for (let j = 0; j < 2 * k; j++) m[r * 2 * k + j]! -= f * m[c * 2 * k + j]!;
    }
  }
  const out: number[] = [];
  for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) out.push(m[i * 2 * k + k + j]!);
  return out;
}

/**
 * The scene's statistics over its valid pixels (valid = 1 and every band finite): mean and standard deviation of
 * every base layer, and mean and inverse covariance of the band differences. Compute once per scene (over the
 * whole scene, or a subsample of its pixels) and pass to every {@link urbanFeatures} call.
 */
export function sceneStatistics(spec: UrbanFeatureSpec, before: BandArrays, after: BandArrays, width: number, height: number,
  valid?: Uint8Array): UrbanSceneStats {
  const n = width * height;
  checkBands(spec, before, after, n);
  const layers = rawLayers(spec, before, after, n, valid);
  const mean: number[] = [];
  const std: number[] = [];
  for (const l of layers) {
    let s = 0, s2 = 0, c = 0;
    for (let i = 0; i < n; i++) { const v = l[i]!; if (v === v) { s += v; s2 += v * v; c++; } }
    const m = c ? s / c : 0;
    mean.push(m);
    std.push(c ? Math.sqrt(Math.max(0, s2 / c - m * m)) : 0);
  }
  const k = spec.bands.length;
  const diffs = layers.slice(0, k);
  const dm = new Float64Array(k);
  let c = 0;
  for (let i = 0; i < n; i++) {
    let ok = true;
    for (let j = 0; j < k; j++) if (diffs[j]![i]! !== diffs[j]![i]!) { ok = false; break; }
    if (!ok) continue;
    c++;
    for (let j = 0; j < k; j++) dm[j]! += diffs[j]![i]!;
  }
  for (let j = 0; j < k; j++) dm[j] = c ? dm[j]! / c : 0;
  const cov = new Float64Array(k * k);
  const v = new Float64Array(k);
  for (let i = 0; i < n; i++) {
    let ok = true;
    for (let j = 0; j < k; j++) { v[j] = diffs[j]![i]! - dm[j]!; if (v[j] !== v[j]) { ok = false; break; } }
    if (!ok) continue;
    for (let a = 0; a < k; a++) for (let b = a; b < k; b++) cov[a * k + b]! += v[a]! * v[b]!;
  }
  for (let a = 0; a < k; a++) for (let b = a; b < k; b++) { cov[a * k + b] = c > 1 ? cov[a * k + b]! / (c - 1) : a === b ? 1 : 0; cov[b * k + a] = cov[a * k + b]!; }
  return { mean, std, diffMean: [...dm], diffInverseCovariance: inverseSpd(cov, k), pixels: c };
}

/**
 * Quantised base layers (integers, NaN where not feature-valid), in {@link baseLayerNames} order, and the mask of
 * feature-valid pixels: valid, and every base layer finite there (so every window counts the same pixels).
 */
function quantisedLayers(spec: UrbanFeatureSpec, before: BandArrays, after: BandArrays, n: number, valid: Uint8Array | undefined,
  stats: UrbanSceneStats): { layers: Float32Array[]; ok: Uint8Array } {
  const layers = rawLayers(spec, before, after, n, valid);
  const ok = new Uint8Array(n).fill(1);
  for (const l of layers) for (let i = 0; i < n; i++) if (l[i] !== l[i]) ok[i] = 0;
  for (const [j, l] of layers.entries()) {
    const m = stats.mean[j]!;
    const inv = 1 / (stats.std[j]! > 0 ? stats.std[j]! : 1);
    for (let i = 0; i < n; i++) {
      if (!ok[i]) { l[i] = NaN; continue; }
      const z = (l[i]! - m) * inv;
      l[i] = Math.round((z > Z_CLIP ? Z_CLIP : z < -Z_CLIP ? -Z_CLIP : z) * QUANTUM);
    }
  }
  const k = spec.bands.length;
  const chi = new Float32Array(n);
  const inv = Float64Array.from(stats.diffInverseCovariance);
  const bs = spec.bands.map((b) => before[b]!);
  const as = spec.bands.map((b) => after[b]!);
  const mu = Float64Array.from(stats.diffMean);
  const d = new Float64Array(k);
  for (let i = 0; i < n; i++) {
    if (!ok[i]) { chi[i] = NaN; continue; }
    for (let j = 0; j < k; j++) d[j] = as[j]![i]! - bs[j]![i]! - mu[j]!;
    let q = 0;
    for (let a = 0; a < k; a++) {
      let row = 0;
      const o = a * k;
      for (let b = 0; b < k; b++) row += inv[o + b]! * d[b]!;
      q += d[a]! * row;
    }
    const z = Math.log1p(q > 0 ? q : 0);
    chi[i] = Math.round((z > Z_CLIP ? Z_CLIP : z) * QUANTUM);
  }
  layers.push(chi);
  return { layers, ok };
}

/**
 * Separable running box sum over the (2r + 1)² window around each pixel, clipped at the edges: O(1) per pixel.
 * `q` holds integers with NaN replaced by 0 by the caller (`zero`); sums of integers below 2^53 are exact.
 */
function boxSum(q: Float64Array, width: number, height: number, r: number, tmp: Float64Array, out: Float64Array): Float64Array {
  for (let y = 0; y < height; y++) {
    const o = y * width;
    let s = 0;
    for (let x = 0; x < Math.min(r, width); x++) s += q[o + x]!;
    for (let x = 0; x < width; x++) {
      if (x + r < width) s += q[o + x + r]!;
      if (x - r - 1 >= 0) s -= q[o + x - r - 1]!;
      tmp[o + x] = s;
    }
  }
  const acc = new Float64Array(width);
  for (let y = 0; y < Math.min(r, height); y++) { const o = y * width; for (let x = 0; x < width; x++) acc[x]! += tmp[o + x]!; }
  for (let y = 0; y < height; y++) {
    if (y + r < height) { const o = (y + r) * width; for (let x = 0; x < width; x++) acc[x]! += tmp[o + x]!; }
    if (y - r - 1 >= 0) { const o = (y - r - 1) * width; for (let x = 0; x < width; x++) acc[x]! -= tmp[o + x]!; }
    out.set(acc, y * width);
  }
  return out;
}

/** Feature planes of one scene pair (or one block with its halo): one Float32Array of width × height per name. */
export interface UrbanFeatures {
  names: string[];
  planes: Float32Array[];
  width: number;
  height: number;
}

/**
 * Every feature of `spec` for every pixel (see the module comment). `stats` must come from {@link sceneStatistics}
 * on the same scene (the whole scene when this is a block of it). Pixels that are invalid, or where a base layer
 * is not finite (e.g. an index with a zero denominator), get NaN and are not counted in any window.
 */
export function urbanFeatures(spec: UrbanFeatureSpec, before: BandArrays, after: BandArrays, width: number, height: number,
  valid: Uint8Array | undefined, stats: UrbanSceneStats): UrbanFeatures {
  const n = width * height;
  checkBands(spec, before, after, n);
  const names = baseLayerNames(spec);
  if (stats.mean.length !== names.length - 1 || stats.diffMean.length !== spec.bands.length) {
    throw new RangeError(`scene statistics do not match the feature spec (${stats.mean.length} layer means for ${names.length - 1} layers)`);
  }
  const { layers: q, ok } = quantisedLayers(spec, before, after, n, valid, stats);
  const planes: Float32Array[] = q.map((l) => {
    for (let i = 0; i < n; i++) l[i] = l[i]! / QUANTUM; // NaN stays NaN; exact (power of two)
    return l;
  });
  const out = urbanFeatureNames(spec);
  const tmp = new Float64Array(n);
  const okf = Float64Array.from(ok);
  const counts = spec.radii.map((r) => boxSum(okf, width, height, r, tmp, new Float64Array(n)));
  const v = new Float64Array(n), v2 = new Float64Array(n);
  const s = new Float64Array(n), s2 = new Float64Array(n);
  for (const layer of spec.context) {
    const j = names.indexOf(layer);
    if (j < 0) throw new RangeError(`context layer ${layer} is not a base layer of this spec (${names.join(', ')})`);
    const p = planes[j]!;
    for (let i = 0; i < n; i++) { const a = ok[i] ? Math.round(p[i]! * QUANTUM) : 0; v[i] = a; v2[i] = a * a; }
    for (const [ri, r] of spec.radii.entries()) {
      boxSum(v, width, height, r, tmp, s);
      boxSum(v2, width, height, r, tmp, s2);
      const c = counts[ri]!;
      const mean = new Float32Array(n), sd = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        const cnt = c[i]!;
        if (!ok[i] || cnt === 0) { mean[i] = NaN; sd[i] = NaN; continue; }
        const m = s[i]! / cnt;
        mean[i] = m / QUANTUM;
        const var_ = s2[i]! / cnt - m * m;
        sd[i] = Math.sqrt(var_ > 0 ? var_ : 0) / QUANTUM;
      }
      planes.push(mean, sd);
    }
  }
  return { names: out, planes, width, height };
}
