/**
 * PNG quicklooks: true colour, class overlays and index / difference pictures, encoded with sharp.
 *
 * Every picture is first reduced to at most `maxSize` pixels on its long side by an integer factor
 * f = ceil(max(width, height) / maxSize): reflectance and index values by a NaN-aware block mean (f x f blocks),
 * class maps by nearest neighbour (the pixel at each block's centre, so no invented classes). Encoding a full
 * 10980 px tile takes seconds; a ~2000 px quicklook well under one.
 *
 * True-colour stretch. Default: ONE linear stretch for all three bands, from the 2nd to the 98th percentile of the
 * valid values of the three bands pooled (numpy's linear-interpolation percentile). A joint stretch keeps the
 * ratios between bands, so water stays dark blue, vegetation green and bare soil brown, as Sentinel-2 looks to the
 * eye; a per-band stretch (`stretch: 'per-band'`) white-balances each band and tints hazy or water-dominated
 * scenes. To compare two dates fairly, compute one range for both (`stretchRange`) and pass it as `range`.
 */
import type { Sharp, SharpOptions } from 'sharp';
import type { ClassPalette, ColormapName, Rgb } from './palette.js';
import { colormapColour, NODATA_VALUE, rgbaLut } from './palette.js';

/** sharp, loaded on first use (≈ 0.1 s), so that commands and workers that draw no picture never pay for it. */
async function loadSharp(): Promise<(input?: Buffer | Uint8Array, options?: SharpOptions) => Sharp> {
  return (await import('sharp')).default;
}

/** Default long side of a quicklook (pixels). */
export const QUICKLOOK_MAX_SIZE = 2048;

/** Output size after reduction by the integer factor used for quicklooks. */
export function quicklookSize(width: number, height: number, maxSize = QUICKLOOK_MAX_SIZE): { width: number; height: number; factor: number } {
  if (!(maxSize >= 1)) throw new RangeError(`maxSize must be at least 1, got ${maxSize}`);
  const factor = Math.max(1, Math.ceil(Math.max(width, height) / maxSize));
  return { width: Math.ceil(width / factor), height: Math.ceil(height / factor), factor };
}

function checkBand(name: string, a: ArrayLike<number>, width: number, height: number): void {
  if (a.length !== width * height) throw new RangeError(`${name} has ${a.length} values, expected ${width}x${height} = ${width * height}`);
}

/** NaN-aware f x f block mean (NaN where a block has no finite value). */
export function blockMean(values: Float32Array, width: number, height: number, factor: number): Float32Array {
  if (factor === 1) return values;
  const ow = Math.ceil(width / factor);
  const oh = Math.ceil(height / factor);
  const sum = new Float64Array(ow * oh);
  const n = new Uint32Array(ow * oh);
  for (let y = 0; y < height; y++) {
    const orow = Math.floor(y / factor) * ow;
    let i = y * width;
    for (let bx = 0; bx < ow; bx++) {
      const end = Math.min(width, (bx + 1) * factor) + y * width;
      let s = 0;
      let k = 0;
      for (; i < end; i++) {
        const v = values[i]!;
        if (v - v === 0) { s += v; k++; } // finite (false for NaN and ±Infinity)
      }
      sum[orow + bx]! += s;
      n[orow + bx]! += k;
    }
  }
  const out = new Float32Array(ow * oh);
  for (let i = 0; i < out.length; i++) out[i] = n[i] ? sum[i]! / n[i]! : NaN;
  return out;
}

/** Nearest-neighbour reduction of a class map: the pixel at the centre of each f x f block. */
export function blockNearest(classes: Uint8Array, width: number, height: number, factor: number): Uint8Array {
  if (factor === 1) return classes;
  const ow = Math.ceil(width / factor);
  const oh = Math.ceil(height / factor);
  const out = new Uint8Array(ow * oh);
  const half = Math.floor(factor / 2);
  for (let oy = 0; oy < oh; oy++) {
    const y = Math.min(height - 1, oy * factor + half);
    for (let ox = 0; ox < ow; ox++) out[oy * ow + ox] = classes[y * width + Math.min(width - 1, ox * factor + half)]!;
  }
  return out;
}

/** Percentile with linear interpolation between order statistics (numpy's default) of an ascending array. */
export function percentileOfSorted(sorted: ArrayLike<number>, p: number): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  const idx = (p / 100) * (n - 1);
  const lo = Math.floor(idx);
  const hi = Math.min(n - 1, lo + 1);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (idx - lo);
}

/**
 * Stretch range `[low, high]` = the given percentiles of the finite values of `bands` pooled together. Pixels count
 * only where every band is finite. Above `maxSamples` values (pixels x bands) a regular subsample of pixels is used:
 * a display stretch needs no more, and a whole tile's quicklook (6 bands of 1372² px) would otherwise sort 11 M values.
 */
export function stretchRange(bands: Float32Array[], percentiles: [number, number] = [2, 98], maxSamples = 1_000_000): [number, number] {
  const n = bands[0]?.length ?? 0;
  const step = Math.max(1, Math.ceil((n * bands.length) / maxSamples));
  const vals = new Float64Array(Math.ceil(n / step) * bands.length);
  let m = 0;
  for (let i = 0; i < n; i += step) {
    if (!bands.every((b) => Number.isFinite(b[i]!))) continue;
    for (const b of bands) vals[m++] = b[i]!;
  }
  const sorted = vals.subarray(0, m).sort();
  return [percentileOfSorted(sorted, percentiles[0]), percentileOfSorted(sorted, percentiles[1])];
}

export interface TrueColourOptions {
  /** Long side of the PNG at most this many pixels (default 2048). */
  maxSize?: number;
  /** 'joint' (default): one range for the three bands; 'per-band': each band its own range. */
  stretch?: 'joint' | 'per-band';
  /** Percentiles for the stretch (default [2, 98]). */
  percentiles?: [number, number];
  /** Fixed reflectance range (overrides the percentiles), e.g. the same range for before and after. */
  range?: [number, number];
  /** Display gamma: out = t^(1/gamma) with t the stretched value in 0..1 (default 1 = linear). */
  gamma?: number;
}

/** 8-bit value of a stretched reflectance. */
function stretchByte(v: number, lo: number, hi: number, invGamma: number): number {
  let t = hi > lo ? (v - lo) / (hi - lo) : v > lo ? 1 : 0;
  t = t < 0 ? 0 : t > 1 ? 1 : t;
  if (invGamma !== 1) t = t ** invGamma;
  return Math.round(255 * t);
}

/** RGBA pixels (not encoded) of a stretched true-colour picture, with its size. NaN in any band -> transparent. */
export function trueColourRgba(red: Float32Array, green: Float32Array, blue: Float32Array, width: number, height: number,
  opts: TrueColourOptions = {}): { rgba: Uint8Array; width: number; height: number } {
  checkBand('red', red, width, height);
  checkBand('green', green, width, height);
  checkBand('blue', blue, width, height);
  const size = quicklookSize(width, height, opts.maxSize);
  const bands = [red, green, blue].map((b) => blockMean(b, width, height, size.factor));
  const pct = opts.percentiles ?? [2, 98];
  const ranges: Array<[number, number]> = opts.range
    ? [opts.range, opts.range, opts.range]
    : opts.stretch === 'per-band'
      ? bands.map((b) => stretchRange([b], pct))
      : Array(3).fill(stretchRange(bands, pct)) as Array<[number, number]>;
  const invGamma = 1 / (opts.gamma ?? 1);
  const n = size.width * size.height;
  const rgba = new Uint8Array(n * 4);
  for (let i = 0; i < n; i++) {
    const r = bands[0]![i]!, g = bands[1]![i]!, b = bands[2]![i]!;
    if (!(Number.isFinite(r) && Number.isFinite(g) && Number.isFinite(b))) continue; // transparent
    rgba[4 * i] = stretchByte(r, ranges[0]![0], ranges[0]![1], invGamma);
    rgba[4 * i + 1] = stretchByte(g, ranges[1]![0], ranges[1]![1], invGamma);
    rgba[4 * i + 2] = stretchByte(b, ranges[2]![0], ranges[2]![1], invGamma);
    rgba[4 * i + 3] = 255;
  }
  return { rgba, width: size.width, height: size.height };
}

/** Encode RGBA pixels as PNG. */
export async function encodePng(rgba: Uint8Array, width: number, height: number): Promise<Buffer> {
  const sharp = await loadSharp();
  return sharp(rgba, { raw: { width, height, channels: 4 } }).png({ compressionLevel: 6 }).toBuffer();
}

/** True-colour PNG of reflectance bands (NaN = nodata, transparent). See the module comment for the stretch. */
export async function trueColourPng(red: Float32Array, green: Float32Array, blue: Float32Array, width: number, height: number,
  opts: TrueColourOptions = {}): Promise<Buffer> {
  const img = trueColourRgba(red, green, blue, width, height, opts);
  return encodePng(img.rgba, img.width, img.height);
}

export interface ClassOverlayOptions {
  maxSize?: number;
  /** Opacity of class colours over the background, 0..1 (default 0.75; 1 without a background). */
  alpha?: number;
  /**
   * What to draw on: an encoded image (PNG, resized to fit), reflectance bands (stretched like `trueColourPng`), or
   * RGBA pixels already at the picture's size (`trueColourRgba` of the same maxSize).
   */
  background?: Buffer | { red: Float32Array; green: Float32Array; blue: Float32Array; options?: TrueColourOptions } | { rgba: Uint8Array };
  /** Draw nodata (255) in grey instead of leaving it transparent / showing the background. */
  showNodata?: boolean;
  /** Draw "no change" (0) in its palette colour (e.g. green "unburned" for wildfire). */
  showNoChange?: boolean;
  /**
   * Draw masked pixels (255: cloud, shadow, snow, no data) opaque in diagonal stripes of these two colours, so that
   * "not analysed" never looks like "no change" (takes precedence over `showNodata`).
   */
  maskedHatch?: readonly [Rgb, Rgb];
}

/** PNG of a class map in palette colours, optionally over a background picture. Nearest neighbour when reduced. */
export async function classOverlayPng(classes: Uint8Array, width: number, height: number, palette: ClassPalette,
  opts: ClassOverlayOptions = {}): Promise<Buffer> {
  checkBand('class map', classes, width, height);
  const size = quicklookSize(width, height, opts.maxSize);
  const cls = blockNearest(classes, width, height, size.factor);
  const n = size.width * size.height;
  let base: Uint8Array;
  const bg = opts.background;
  if (bg === undefined) base = new Uint8Array(n * 4);
  else if (Buffer.isBuffer(bg)) {
    const sharp = await loadSharp();
    base = new Uint8Array(await sharp(bg).resize(size.width, size.height, { fit: 'fill' }).ensureAlpha().raw().toBuffer());
  } else if ('rgba' in bg) {
    if (bg.rgba.length !== n * 4) throw new RangeError(`classOverlayPng: background has ${bg.rgba.length} bytes, expected ${n * 4} (RGBA of ${size.width} x ${size.height})`);
    base = bg.rgba;
  } else {
    const img = trueColourRgba(bg.red, bg.green, bg.blue, width, height, { ...bg.options, maxSize: opts.maxSize });
    base = img.rgba;
  }
  const a = opts.alpha ?? (bg === undefined ? 1 : 0.75);
  const lut = rgbaLut(palette, { showNodata: opts.showNodata, showNoChange: opts.showNoChange });
  const out = new Uint8Array(n * 4);
  const hatch = opts.maskedHatch;
  for (let i = 0; i < n; i++) {
    if (hatch && cls[i] === NODATA_VALUE) {
      const col = hatch[((i % size.width) + Math.floor(i / size.width)) % 6 < 3 ? 0 : 1]!;
      out[4 * i] = col[0];
      out[4 * i + 1] = col[1];
      out[4 * i + 2] = col[2];
      out[4 * i + 3] = 255;
      continue;
    }
    const c = cls[i]! * 4;
    const ca = lut[c + 3] ? a : 0;
    const ba = base[4 * i + 3]! / 255;
    const oa = ca + ba * (1 - ca);
    if (oa === 0) continue;
    for (let ch = 0; ch < 3; ch++) out[4 * i + ch] = Math.round((lut[c + ch]! * ca + base[4 * i + ch]! * ba * (1 - ca)) / oa);
    out[4 * i + 3] = Math.round(255 * oa);
  }
  return encodePng(out, size.width, size.height);
}

export interface IndexPngOptions {
  /** Value drawn with the first colour (lower values are clamped). */
  min: number;
  /** Value drawn with the last colour (higher values are clamped). */
  max: number;
  colormap: ColormapName;
  maxSize?: number;
  /** NaN pixels: 'transparent' (default) or 'grey'. */
  nodata?: 'transparent' | 'grey';
}

/** PNG of an index or difference (NaN = nodata) through a colormap from `min` to `max`. */
export async function indexPng(values: Float32Array, width: number, height: number, opts: IndexPngOptions): Promise<Buffer> {
  checkBand('index values', values, width, height);
  if (!(opts.max > opts.min)) throw new RangeError(`indexPng: max (${opts.max}) must be greater than min (${opts.min})`);
  const size = quicklookSize(width, height, opts.maxSize);
  const v = blockMean(values, width, height, size.factor);
  const lut: Rgb[] = Array.from({ length: 256 }, (_, k) => colormapColour(opts.colormap, k / 255));
  const out = new Uint8Array(v.length * 4);
  const grey = opts.nodata === 'grey';
  for (let i = 0, o = 0; i < v.length; i++, o += 4) {
    const x = v[i]!;
    if (!Number.isFinite(x)) {
      if (grey) { out[o] = out[o + 1] = out[o + 2] = 128; out[o + 3] = 255; }
      continue;
    }
    const t = (x - opts.min) / (opts.max - opts.min);
    const c = lut[Math.round(255 * (t <= 0 ? 0 : t >= 1 ? 1 : t))]!;
    out[o] = c[0];
    out[o + 1] = c[1];
    out[o + 2] = c[2];
    out[o + 3] = 255;
  }
  return encodePng(out, size.width, size.height);
}
