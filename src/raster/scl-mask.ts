/**
 * Cloud, shadow, snow and nodata masking from the Sentinel-2 L2A Scene Classification Layer (SCL). Pure.
 */
import { DEFAULT_SCL_MASK } from '../indices/bands.js';
import { dilate } from './morphology.js';

export interface SclMaskOptions {
  /** SCL classes to mask (default: 0 nodata, 1 saturated, 3 shadow, 8/9 cloud, 10 cirrus, 11 snow). */
  classes?: readonly number[];
  /** Grow the masked area by this many pixels to catch cloud edges (default 0). */
  dilatePixels?: number;
}

/**
 * A uint8 mask (1 = masked) of the pixels whose SCL class is in `classes`, dilated by `dilatePixels`.
 * `scl` is already on the target grid (nearest-neighbour resampled); NaN counts as nodata.
 */
export function sclMask(scl: Float32Array, width: number, height: number, opts: SclMaskOptions = {}): Uint8Array {
  const classes = new Uint8Array(256);
  for (const c of opts.classes ?? DEFAULT_SCL_MASK) classes[c] = 1;
  const m = new Uint8Array(scl.length);
  for (let i = 0; i < scl.length; i++) {
    const v = scl[i]!;
    m[i] = v !== v || (v >= 0 && v < 256 && classes[v | 0]) ? 1 : 0;
  }
  return dilate(m, width, height, opts.dilatePixels ?? 0);
}

/** Counts of each SCL class among the given values (NaN ignored), for reports. */
export function sclHistogram(scl: Float32Array): number[] {
  const counts = new Array<number>(12).fill(0);
  for (let i = 0; i < scl.length; i++) {
    const v = scl[i]!;
    if (v >= 0 && v < 12) counts[v | 0]!++;
  }
  return counts;
}
