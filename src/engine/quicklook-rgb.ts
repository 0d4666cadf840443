/**
 * True-colour quicklooks from the inputs' overviews. A quicklook cell is `factor` x `factor` target pixels (6 x 6 on
 * a full tile), so a picture needs no more than the COG's overview whose pixels are at most that size (the 4x one).
 * Reading it instead of the full-resolution B02/B03/B04 tiles costs 1/16 of their decoding, and B02/B03 are not read
 * at full resolution at all. Dates whose RGB bands have no such overview keep the blocks' f x f means.
 */
import { sameCrs, type Grid } from '../raster/grid.js';
import { overviewBand } from '../io/overviews.js';
import type { BandRef, LayerName, Scene } from '../io/scene.js';
import { readOnGrid, toPhysical } from '../pipeline/align.js';
import { nearestIndices, pixelMappingOf } from '../raster/resample.js';
import { release } from '../io/release.js';

/** The grid of the quicklook cells: `factor` x `factor` target pixels each, from the target's origin. */
export function quicklookGrid(target: Grid, factor: number): Grid {
  const t = target.transform;
  return {
    crs: target.crs, transform: [t[0], t[1] * factor, t[2] * factor, t[3], t[4] * factor, t[5] * factor],
    width: Math.ceil(target.width / factor), height: Math.ceil(target.height / factor),
  };
}

/**
 * The overviews a date's RGB layers are read from for the quicklook: each layer's coarsest overview whose pixels are
 * no larger than a quicklook cell. Null when the reduction is under 2x or any layer has no such overview or another
 * CRS than the target (then the blocks reduce the full-resolution bands).
 */
export function rgbOverviews(scene: Scene, layers: readonly LayerName[], target: Grid, factor: number): BandRef[] | null {
  if (factor < 2) return null;
  const t = target.transform;
  const cell = factor * Math.min(Math.hypot(t[1], t[4]), Math.hypot(t[2], t[5]));
  const refs: BandRef[] = [];
  for (const l of layers) {
    const ref = scene.bands.get(l);
    const ov = ref && sameCrs(ref.grid.crs, target.crs) ? overviewBand(ref, cell) : null;
    if (!ov) return null;
    refs.push(ov);
  }
  return refs;
}

/**
 * One RGB layer on the whole quicklook grid, read from its overview: each cell takes the overview pixel under its
 * centre (reflectance; NaN for nodata and outside), exactly as `readOnGrid(ref, quicklookGrid(…), 'nearest')`. Overview
 * pixels are already means of the full-resolution ones (GDAL's AVERAGE) or point samples of them (NEAREST, as in
 * the 29RKH fixture), so a picture gains nothing from interpolating them again.
 *
 * Read in strips of the overview's tile rows, picking the cells' stored values before converting them: ~15 MB of
 * transient arrays per layer of a full tile instead of ~85 MB (the whole 2745² uint16 overview window, its float copy
 * and the decoded tiles), which each worker held as garbage until its next collection.
 */
export async function readQuicklookLayer(ref: BandRef, target: Grid, factor: number): Promise<Float32Array> {
  const grid = quicklookGrid(target, factor);
  const mapping = pixelMappingOf(ref.grid, grid);
  if (!('columns' in mapping)) return readOnGrid(ref, grid, 'nearest');
  const { width: W, height: H } = ref.grid;
  // The overview pixel of each cell column and row (-1 outside), as nearest resampling finds it.
  const xi = nearestIndices(mapping.columns, W);
  const yi = nearestIndices(mapping.rows, H);
  const out = new Float32Array(grid.width * grid.height).fill(NaN);
  let c0 = 0;
  while (c0 < grid.width && xi[c0]! < 0) c0++;
  let c1 = c0;
  while (c1 < grid.width && xi[c1]! >= 0) c1++; // monotonic mapping: the columns inside are one run
  if (c0 === c1) return out;
  const x0 = Math.min(xi[c0]!, xi[c1 - 1]!);
  const x1 = Math.max(xi[c0]!, xi[c1 - 1]!) + 1;
  const stripRows = ref.tile?.height ?? 256;
  let r = 0;
  while (r < grid.height) {
    if (yi[r]! < 0) { r++; continue; }
    // The cell rows whose overview rows lie in this strip of tile rows (rows map monotonically too).
    const strip = Math.floor(yi[r]! / stripRows);
    let r1 = r;
    let y0 = yi[r]!, y1 = yi[r]!;
    while (r1 < grid.height && yi[r1]! >= 0 && Math.floor(yi[r1]! / stripRows) === strip) {
      y0 = Math.min(y0, yi[r1]!);
      y1 = Math.max(y1, yi[r1]!);
      r1++;
    }
    const stored = await ref.readStored({ x: x0, y: y0, width: x1 - x0, height: y1 - y0 + 1 });
    const picked = new (stored.constructor as new (n: number) => typeof stored)((r1 - r) * (c1 - c0));
    for (let j = r, k = 0; j < r1; j++) {
      const row = (yi[j]! - y0) * (x1 - x0) - x0;
      for (let c = c0; c < c1; c++) picked[k++] = stored[row + xi[c]!]!;
    }
    const values = toPhysical(picked, ref);
    for (let j = r; j < r1; j++) out.set(values.subarray((j - r) * (c1 - c0), (j - r + 1) * (c1 - c0)), j * grid.width + c0);
    release(stored, picked, values);
    r = r1;
  }
  return out;
}
