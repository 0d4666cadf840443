/**
 * Bringing a band onto another grid: by geotransform when the CRS is the same, through proj4 when it is not.
 * Pure (proj4 is plain JavaScript).
 */
import proj4 from 'proj4';
import { crsToPixel, pixelToCrs, proj4Definition, sameCrs, type Grid } from './grid.js';

export type ResampleMethod = 'nearest' | 'bilinear';

/**
 * The per-pixel form of `pixelMappingOf`: for every pixel centre of `dst`, the (fractional) pixel coordinates in
 * `src` where it falls, as two Float64Arrays `u` (column) and `v` (row), both in "pixel corner" units (the centre of
 * src pixel (0,0) is 0.5, 0.5). Across CRSs the exact transform is evaluated on a mesh every `step` pixels and
 * interpolated bilinearly in between, as GDAL's approximate transformer does (error far below a pixel for UTM ↔ UTM
 * / lat-lon at scene scales).
 */
export function pixelMapping(src: Grid, dst: Grid, step = 16): { u: Float64Array; v: Float64Array } {
  const n = dst.width * dst.height;
  const u = new Float64Array(n);
  const v = new Float64Array(n);
  if (sameCrs(src.crs, dst.crs)) {
    for (let r = 0; r < dst.height; r++) {
      for (let c = 0; c < dst.width; c++) {
        const [x, y] = pixelToCrs(dst.transform, c + 0.5, r + 0.5);
        const [cu, rv] = crsToPixel(src.transform, x, y);
        u[r * dst.width + c] = cu;
        v[r * dst.width + c] = rv;
      }
    }
    return { u, v };
  }
  const project = proj4(proj4Definition(dst.crs), proj4Definition(src.crs));
  const mw = Math.ceil(dst.width / step) + 1;
  const mh = Math.ceil(dst.height / step) + 1;
  const mu = new Float64Array(mw * mh);
  const mv = new Float64Array(mw * mh);
  for (let j = 0; j < mh; j++) {
    for (let i = 0; i < mw; i++) {
      const c = Math.min(i * step, dst.width - 1) + 0.5;
      const r = Math.min(j * step, dst.height - 1) + 0.5;
      const [x, y] = pixelToCrs(dst.transform, c, r);
      const [sx, sy] = project.forward([x, y]);
      const [cu, rv] = crsToPixel(src.transform, sx!, sy!);
      mu[j * mw + i] = cu;
      mv[j * mw + i] = rv;
    }
  }
  for (let r = 0; r < dst.height; r++) {
    const j = Math.min(Math.floor(r / step), mh - 2);
    const r0 = j * step;
    const r1 = Math.min((j + 1) * step, dst.height - 1);
    const fy = r1 > r0 ? (r - r0) / (r1 - r0) : 0;
    for (let c = 0; c < dst.width; c++) {
      const i = Math.min(Math.floor(c / step), mw - 2);
      const c0 = i * step;
      const c1 = Math.min((i + 1) * step, dst.width - 1);
      const fx = c1 > c0 ? (c - c0) / (c1 - c0) : 0;
      const k00 = j * mw + i;
      const k10 = k00 + 1;
      const k01 = k00 + mw;
      const k11 = k01 + 1;
      const w00 = (1 - fx) * (1 - fy);
      const w10 = fx * (1 - fy);
      const w01 = (1 - fx) * fy;
      const w11 = fx * fy;
      u[r * dst.width + c] = mu[k00]! * w00 + mu[k10]! * w10 + mu[k01]! * w01 + mu[k11]! * w11;
      v[r * dst.width + c] = mv[k00]! * w00 + mv[k10]! * w10 + mv[k01]! * w01 + mv[k11]! * w11;
    }
  }
  return { u, v };
}

/**
 * Where the pixel centres of `dst` fall in `src`, in fractional pixel coordinates ("pixel corner" units: the centre
 * of src pixel (0,0) is 0.5, 0.5). Per pixel as two Float64Arrays `u` (column) and `v` (row); or, between north-up
 * grids of one CRS, `columns` and `rows`: u then depends on the column only and v on the row only, exactly (the
 * geotransforms' cross terms are zero), so a 1024² window needs 2 x 1024 values instead of 2 x 1 M.
 */
export type PixelMapping = { u: Float64Array; v: Float64Array } | { columns: Float64Array; rows: Float64Array };

/** True for a geotransform without rotation or shear (north up). */
function northUp(t: Grid['transform']): boolean {
  return t[2] === 0 && t[4] === 0;
}

/**
 * `pixelMapping`, separable when it can be (same CRS, both grids north up): the same numbers as the per-pixel form,
 * since `pixelToCrs` and `crsToPixel` add only zero cross terms.
 */
export function pixelMappingOf(src: Grid, dst: Grid): PixelMapping {
  if (!(sameCrs(src.crs, dst.crs) && northUp(src.transform) && northUp(dst.transform))) return pixelMapping(src, dst);
  const columns = new Float64Array(dst.width);
  const rows = new Float64Array(dst.height);
  for (let c = 0; c < dst.width; c++) {
    const [x, y] = pixelToCrs(dst.transform, c + 0.5, 0.5);
    columns[c] = crsToPixel(src.transform, x, y)[0];
  }
  for (let r = 0; r < dst.height; r++) {
    const [x, y] = pixelToCrs(dst.transform, 0.5, r + 0.5);
    rows[r] = crsToPixel(src.transform, x, y)[1];
  }
  return { columns, rows };
}

/**
 * Resample `data` (on `src`) onto `dst`. Nearest for class bands (SCL), bilinear for reflectance. Bilinear ignores
 * NaN neighbours by renormalising the weights of the valid ones; pixels falling outside `src` become NaN.
 */
export function resample(data: Float32Array, src: Grid, dst: Grid, method: ResampleMethod,
  mapping: PixelMapping = pixelMappingOf(src, dst)): Float32Array {
  if (data.length !== src.width * src.height) {
    throw new RangeError(`resample: data has ${data.length} values, grid needs ${src.width * src.height}`);
  }
  const out = new Float32Array(dst.width * dst.height);
  const W = src.width;
  const H = src.height;
  const bilinear = method === 'bilinear';
  if ('columns' in mapping) {
    const separable = bilinear ? bilinearSeparable : nearestSeparable;
    return separable(data, W, H, mapping.columns, mapping.rows, out, dst.width);
  }
  const { u, v } = mapping;
  for (let k = 0; k < out.length; k++) out[k] = sampleAt(data, W, H, u[k]!, v[k]!, bilinear);
  return out;
}

/**
 * Nearest neighbour on a separable mapping: the source column of each output column and the source row of each output
 * row are found once, as `sampleAt` finds them (NaN outside the source). Columns inside the source are one run (the
 * mapping is linear in the column, so monotonic), and an output row whose source row is the previous one's is a copy
 * of it (up-sampling).
 */
function nearestSeparable(data: Float32Array, W: number, H: number, columns: Float64Array, rows: Float64Array,
  out: Float32Array, width: number): Float32Array {
  const xi = nearestIndices(columns, W);
  let c0 = 0;
  while (c0 < width && xi[c0]! < 0) c0++;
  let c1 = c0;
  while (c1 < width && xi[c1]! >= 0) c1++;
  let previous = -1;
  for (let r = 0; r < rows.length; r++) {
    const y = nearestIndex(rows[r]!, H);
    const o = r * width;
    if (y >= 0 && y === previous) {
      out.copyWithin(o, o - width, o);
      continue;
    }
    previous = y;
    out.fill(NaN, o, o + (y < 0 ? width : c0));
    if (y < 0) continue;
    out.fill(NaN, o + c1, o + width);
    const row = y * W;
    for (let c = c0; c < c1; c++) out[o + c] = data[row + xi[c]!]!;
  }
  return out;
}

/**
 * Bilinear on a separable mapping: each output column's two source columns and weight, and each output row's, are
 * found once, as `sampleAt` finds them; each value is then `sampleAt`'s own arithmetic on them (the same numbers).
 */
function bilinearSeparable(data: Float32Array, W: number, H: number, columns: Float64Array, rows: Float64Array,
  out: Float32Array, width: number): Float32Array {
  const ys = bilinearTaps(rows, H);
  const { inside, i0: x0s, i1: x1s, a: axs } = bilinearTaps(columns, W);
  for (let r = 0, k = 0; r < rows.length; r++) {
    if (!ys.inside[r]) {
      out.fill(NaN, k, k + width);
      k += width;
      continue;
    }
    const row0 = ys.i0[r]! * W;
    const row1 = ys.i1[r]! * W;
    const ay = ys.a[r]!;
    for (let c = 0; c < width; c++, k++) {
      if (!inside[c]) { out[k] = NaN; continue; }
      const x0 = x0s[c]!, x1 = x1s[c]!, ax = axs[c]!;
      const p00 = data[row0 + x0]!, p10 = data[row0 + x1]!, p01 = data[row1 + x0]!, p11 = data[row1 + x1]!;
      const w00 = (1 - ax) * (1 - ay), w10 = ax * (1 - ay), w01 = (1 - ax) * ay, w11 = ax * ay;
      let acc = 0;
      let wsum = 0;
      if (p00 === p00 && w00 > 0) { acc += p00 * w00; wsum += w00; }
      if (p10 === p10 && w10 > 0) { acc += p10 * w10; wsum += w10; }
      if (p01 === p01 && w01 > 0) { acc += p01 * w01; wsum += w01; }
      if (p11 === p11 && w11 > 0) { acc += p11 * w11; wsum += w11; }
      out[k] = wsum > 0 ? acc / wsum : NaN;
    }
  }
  return out;
}

/** `sampleAt`'s bilinear taps along one axis of n pixels for each position: inside [0, n], the two pixels, the weight. */
function bilinearTaps(positions: Float64Array, n: number): { inside: Uint8Array; i0: Int32Array; i1: Int32Array; a: Float64Array } {
  const m = positions.length;
  const taps = { inside: new Uint8Array(m), i0: new Int32Array(m), i1: new Int32Array(m), a: new Float64Array(m) };
  for (let j = 0; j < m; j++) {
    const p = positions[j]!;
    if (!(p >= 0 && p <= n)) continue;
    const f = p - 0.5;
    let i0 = Math.floor(f);
    let a = f - i0;
    if (i0 < 0) { i0 = 0; a = 0; }
    if (i0 >= n - 1) { i0 = n - 1; a = 0; }
    taps.inside[j] = 1;
    taps.i0[j] = i0;
    taps.i1[j] = Math.min(i0 + 1, n - 1);
    taps.a[j] = a;
  }
  return taps;
}

/** The pixel of n that nearest resampling takes at position p (`nearestPixel`), or -1 outside [0, n]. */
function nearestIndex(p: number, n: number): number {
  return p >= 0 && p <= n ? nearestPixel(p, n) : -1;
}

/**
 * The source pixel nearest resampling takes at each of `positions` along an axis of `n` pixels (a separable mapping's
 * `columns` or `rows`), -1 outside: the same pixels as `resample(…, 'nearest')`.
 */
export function nearestIndices(positions: Float64Array, n: number): Int32Array {
  return Int32Array.from(positions, (p) => nearestIndex(p, n));
}

/** The pixel (0 .. n-1) that contains position p of [0, n] (the far edge belongs to the last pixel). */
function nearestPixel(p: number, n: number): number {
  return Math.min(n - 1, Math.floor(p));
}

/** The value of `data` (W x H) at fractional pixel position (cu, rv): nearest or bilinear, NaN outside. */
function sampleAt(data: Float32Array, W: number, H: number, cu: number, rv: number, bilinear: boolean): number {
  if (!(cu >= 0 && rv >= 0 && cu <= W && rv <= H)) return NaN;
  if (!bilinear) return data[nearestPixel(rv, H) * W + nearestPixel(cu, W)]!;
  // Bilinear between pixel centres (centre of pixel i is at i + 0.5), clamped at the edges.
  const fx = cu - 0.5;
  const fy = rv - 0.5;
  let x0 = Math.floor(fx);
  let y0 = Math.floor(fy);
  let ax = fx - x0;
  let ay = fy - y0;
  if (x0 < 0) { x0 = 0; ax = 0; }
  if (y0 < 0) { y0 = 0; ay = 0; }
  if (x0 >= W - 1) { x0 = W - 1; ax = 0; }
  if (y0 >= H - 1) { y0 = H - 1; ay = 0; }
  const x1 = Math.min(x0 + 1, W - 1);
  const y1 = Math.min(y0 + 1, H - 1);
  let acc = 0;
  let wsum = 0;
  const p00 = data[y0 * W + x0]!, p10 = data[y0 * W + x1]!, p01 = data[y1 * W + x0]!, p11 = data[y1 * W + x1]!;
  const w00 = (1 - ax) * (1 - ay), w10 = ax * (1 - ay), w01 = (1 - ax) * ay, w11 = ax * ay;
  if (p00 === p00 && w00 > 0) { acc += p00 * w00; wsum += w00; }
  if (p10 === p10 && w10 > 0) { acc += p10 * w10; wsum += w10; }
  if (p01 === p01 && w01 > 0) { acc += p01 * w01; wsum += w01; }
  if (p11 === p11 && w11 > 0) { acc += p11 * w11; wsum += w11; }
  return wsum > 0 ? acc / wsum : NaN;
}
