/**
 * Synthetic Sentinel-2-like bands for the block-engine tests (known structure, deterministic), a reader of every
 * level of a COG, and array comparisons that name the first mismatch. Shared by tests/engine*.test.ts.
 */
import { expect } from 'vitest';
import { seededRandom } from '../../src/change/sampling.js';
import { openTiffFile } from '../../src/io/tiff/index.js';
import type { Grid } from '../../src/raster/grid.js';

export interface BandShape {
  base: number;
  amp: number;
  /** Parcels with sharp edges: cell sizes (m / 10) and how many parcel levels, and their weight in `amp`. */
  parcel: [number, number, number, number];
  /** A smooth field: sin(X / wave[0]) · cos(Y / wave[1]), weight 0.5 of `amp`. */
  wave: [number, number];
  /** Uniform noise amplitude (DN). */
  noise: number;
  /** How many random pixels become 0 (nodata). */
  holes: number;
}

/**
 * uint16 DN (reflectance × 10000) on grid `g`: parcels + a smooth field + `change(X, Y)` (X, Y in 10 m pixels) +
 * noise, clamped to 1..65535; then `shape.holes` random pixels set to 0 = nodata.
 */
export function syntheticBand(g: Grid, seed: number, shape: BandShape, change: (x: number, y: number) => number): Uint16Array {
  const r = seededRandom(seed);
  const out = new Uint16Array(g.width * g.height);
  const s = g.transform[1] / 10;
  const [px, py, levels, weight] = shape.parcel;
  for (let y = 0; y < g.height; y++) {
    for (let x = 0; x < g.width; x++) {
      const X = x * s;
      const Y = y * s;
      const field = (Math.floor(X / px) + Math.floor(Y / py)) % levels;
      const v = shape.base + shape.amp * (0.5 * Math.sin(X / shape.wave[0]) * Math.cos(Y / shape.wave[1]) + weight * field)
        + change(X, Y) + shape.noise * (r() - 0.5);
      out[y * g.width + x] = Math.max(1, Math.min(65535, Math.round(v)));
    }
  }
  for (let i = 0; i < shape.holes; i++) out[Math.floor(r() * out.length)] = 0;
  return out;
}

/** Every image (full resolution, then overviews) of a one-band COG, decoded. */
export async function readAllLevels(file: string): Promise<{ width: number; height: number; values: ArrayLike<number> }[]> {
  const f = await openTiffFile(file);
  try {
    const out = [];
    for (const img of f.images) {
      const [v] = await img.readWindow();
      out.push({ width: img.width, height: img.height, values: v! });
    }
    return out;
  } finally {
    await f.close();
  }
}

/** SCL on grid `g`: vegetation (4), a cloud (9) disc of `cloudRadius` at (cx, cy), a shadow (3) disc beside it. */
export function syntheticScl(g: Grid, cx: number, cy: number, cloudRadius: number,
  shadow: { dx: number; dy: number; radius: number }): Uint8Array {
  const out = new Uint8Array(g.width * g.height).fill(4);
  for (let y = 0; y < g.height; y++) {
    for (let x = 0; x < g.width; x++) {
      if (Math.hypot(x - cx, y - cy) < cloudRadius) out[y * g.width + x] = 9;
      else if (Math.hypot(x - cx - shadow.dx, y - cy - shadow.dy) < shadow.radius) out[y * g.width + x] = 3;
    }
  }
  return out;
}

/** Equal to `tol`, absolute (or relative to max(1, |b|) with `relative`), NaN where NaN; names the first mismatch. */
export function expectSameFloats(a: ArrayLike<number>, b: ArrayLike<number>, tol: number, relative = false): void {
  expect(a.length).toBe(b.length);
  let bad = 0;
  let first = -1;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (!((x !== x && y !== y) || Math.abs(x - y) <= tol * (relative ? Math.max(1, Math.abs(y)) : 1))) { bad++; if (first < 0) first = i; }
  }
  expect(bad, bad ? `${bad} mismatches, first at ${first}: ${a[first]} vs ${b[first]}` : '').toBe(0);
}

/** Exactly equal, value for value; names the first mismatch. */
export function expectSameInts(a: ArrayLike<number>, b: ArrayLike<number>): void {
  expect(a.length).toBe(b.length);
  let bad = 0;
  let first = -1;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) { bad++; if (first < 0) first = i; }
  expect(bad, bad ? `${bad} mismatches, first at ${first}: ${a[first]} vs ${b[first]}` : '').toBe(0);
}
