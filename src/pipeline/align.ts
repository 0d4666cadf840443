/**
 * "One grid": choose the target grid of a run and read every band of both dates onto it.
 */
import { NoOverlapError } from '../errors.js';
import {
  boundsToWindow, gridBounds, intersectBounds, isGeoreferenced, pixelSize, sameGrid, windowGrid,
  WGS84, type Bounds, type Grid, type Window,
} from '../raster/grid.js';
import { contiguous, plane } from '../raster/plane.js';
import { resample, type ResampleMethod } from '../raster/resample.js';
import { transformBounds } from '../raster/reproject.js';
import type { BandRef, LayerName, Scene } from '../io/scene.js';

/** The finest grid among `layers` of the scene (smallest pixel), i.e. 10 m when a 10 m band is used. */
export function finestGrid(scene: Scene, layers: readonly LayerName[]): Grid {
  let best: Grid | null = null;
  for (const l of layers) {
    const ref = scene.bands.get(l);
    if (!ref) continue;
    if (!best || pixelSize(ref.grid)[0] < pixelSize(best)[0]) best = ref.grid;
  }
  if (!best) throw new RangeError(`finestGrid: none of ${layers.join(',')} is in ${scene.input}`);
  return best;
}

/**
 * Clip `base` to the ground shared with every grid in `others` and with the optional WGS84 `bbox`.
 * Throws NoOverlapError naming the inputs when nothing is shared.
 */
export function overlapGrid(base: Grid, others: { grid: Grid; input: string }[], bbox: Bounds | null, baseInput: string): Grid {
  let b = gridBounds(base);
  for (const o of others) {
    const ob = isGeoreferenced(base.crs) && isGeoreferenced(o.grid.crs)
      ? transformBounds(gridBounds(o.grid), o.grid.crs, base.crs) : gridBounds(o.grid);
    const i = intersectBounds(b, ob);
    if (!i) {
      throw new NoOverlapError('the two scenes do not overlap', {
        input: `${baseInput} and ${o.input}`, expected: 'scenes covering the same ground',
        found: `disjoint extents ${fmt(b)} and ${fmt(ob)} (EPSG:${base.crs.epsg})`,
        fix: 'Check that both inputs show the same place (same MGRS tile or overlapping footprints)',
      });
    }
    b = i;
  }
  if (bbox) {
    if (!isGeoreferenced(base.crs)) {
      throw new NoOverlapError('--bbox needs georeferenced inputs', { input: baseInput, expected: 'a GeoTIFF or STAC item', found: 'a non-georeferenced image' });
    }
    const bb = transformBounds(bbox, WGS84, base.crs);
    const i = intersectBounds(b, bb);
    if (!i) {
      // A box typed latitude first (lat,lon) often still parses as lon,lat; say so when the swapped box fits.
      const swapped = { minX: bbox.minY, minY: bbox.minX, maxX: bbox.maxY, maxY: bbox.maxX };
      if (Math.abs(swapped.minY) <= 90 && Math.abs(swapped.maxY) <= 90 && intersectBounds(b, transformBounds(swapped, WGS84, base.crs))) {
        throw new NoOverlapError('--bbox does not overlap the scenes, but it does with latitude and longitude swapped', {
          input: `--bbox ${bbox.minX},${bbox.minY},${bbox.maxX},${bbox.maxY}`, expected: 'minLon,minLat,maxLon,maxLat (longitude first)',
          found: `scene overlap ${fmt(transformBounds(b, base.crs, WGS84))} (WGS84)`,
          fix: `Use --bbox ${swapped.minX},${swapped.minY},${swapped.maxX},${swapped.maxY}`,
        });
      }
      throw new NoOverlapError('--bbox does not overlap the scenes', {
        input: `--bbox ${bbox.minX},${bbox.minY},${bbox.maxX},${bbox.maxY}`, expected: 'an area inside the scenes',
        found: `scene overlap ${fmt(transformBounds(b, base.crs, WGS84))} (WGS84)`, fix: 'Give --bbox as minLon,minLat,maxLon,maxLat inside the scene',
      });
    }
    b = i;
  }
  const w = boundsToWindow(base, b);
  if (!w) throw new NoOverlapError('the overlap is smaller than one pixel', { input: baseInput, found: fmt(b) });
  return windowGrid(base, w);
}

function fmt(b: Bounds): string {
  const r = (v: number) => Number(v.toPrecision(8));
  return `[${r(b.minX)}, ${r(b.minY)}, ${r(b.maxX)}, ${r(b.maxY)}]`;
}

/** The window of `src` that covers `target`, grown by `halo` pixels for interpolation, clipped to `src`. */
function sourceWindow(src: Grid, target: Grid, halo: number): Window | null {
  const tb = isGeoreferenced(src.crs) && isGeoreferenced(target.crs)
    ? transformBounds(gridBounds(target), target.crs, src.crs) : gridBounds(target);
  const w = boundsToWindow(src, tb);
  if (!w) return null;
  const x0 = Math.max(0, w.x - halo);
  const y0 = Math.max(0, w.y - halo);
  const x1 = Math.min(src.width, w.x + w.width + halo);
  const y1 = Math.min(src.height, w.y + w.height + halo);
  return { x: x0, y: y0, width: x1 - x0, height: y1 - y0 };
}

/**
 * Read a band onto `target`: only the source window needed, stored values → reflectance with the band's
 * radiometry (nodata → NaN), then resampled if the grids differ — by default bilinear for reflectance, nearest for
 * classes.
 */
export async function readOnGrid(ref: BandRef, target: Grid,
  method: ResampleMethod = ref.kind === 'class' ? 'nearest' : 'bilinear'): Promise<Float32Array> {
  const win = sourceWindow(ref.grid, target, 2);
  if (!win) return new Float32Array(target.width * target.height).fill(NaN);
  const stored = await ref.readStored(win);
  const values = toPhysical(stored, ref);
  const winGrid = windowGrid(ref.grid, win);
  if (sameGrid(winGrid, target)) return values;
  // Exact sub-window (same pixel lattice) needs no interpolation: an ndarray view of the window, made contiguous.
  const inner = sourceWindow(ref.grid, target, 0);
  if (inner && inner.width === target.width && inner.height === target.height && sameGrid(windowGrid(ref.grid, inner), target)) {
    const view = plane(win.width, win.height, values)
      .hi(inner.y - win.y + target.height, inner.x - win.x + target.width)
      .lo(inner.y - win.y, inner.x - win.x);
    return contiguous(view).data;
  }
  return resample(values, winGrid, target, method);
}

/** Stored values → reflectance (or class values), NaN for nodata and non-finite values. */
export function toPhysical(stored: ArrayLike<number>, ref: Pick<BandRef, 'radiometry' | 'kind'>): Float32Array {
  const out = new Float32Array(stored.length);
  const { scale, offset, nodata } = ref.radiometry;
  const hasNodata = nodata !== null && !Number.isNaN(nodata);
  const isClass = ref.kind === 'class';
  // 8- and 16-bit samples of a large window: every possible value converted once, then looked up (same numbers).
  if ((stored instanceof Uint16Array && stored.length >= 1 << 18) || (stored instanceof Uint8Array && stored.length >= 1 << 12)) {
    const lut = new Float32Array(stored instanceof Uint16Array ? 65536 : 256);
    for (let v = 0; v < lut.length; v++) lut[v] = hasNodata && v === nodata && !isClass ? NaN : isClass ? v : (v + offset) * scale;
    for (let i = 0; i < stored.length; i++) out[i] = lut[stored[i]!]!;
    return out;
  }
  for (let i = 0; i < stored.length; i++) {
    const v = stored[i]!;
    if (v !== v || (hasNodata && v === nodata && !isClass)) out[i] = NaN;
    else out[i] = isClass ? v : (v + offset) * scale;
  }
  return out;
}
