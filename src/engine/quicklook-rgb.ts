/**
 * True-colour quicklooks from the inputs' overviews. A quicklook cell is `factor` x `factor` target pixels (6 x 6 on
 * a full tile), so a picture needs no more than the COG's overview whose pixels are at most that size (the 4x one).
 * Reading it instead of the full-resolution B02/B03/B04 tiles costs 1/16 of their decoding, and B02/B03 are not read
 * at full resolution at all. Dates whose RGB bands have no such overview keep the blocks' f x f means.
 */
import { sameCrs, type Grid } from '../raster/grid.js';
import { overviewBand } from '../io/overviews.js';
import type { BandRef, LayerName, Scene } from '../io/scene.js';
import { readOnGrid } from '../pipeline/align.js';

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
 * One RGB layer on the whole quicklook grid, read from its overview (each overview tile decoded once: 15 MB of
 * uint16 for a 4x overview of a full tile), each cell taking the overview pixel under its centre (reflectance; NaN
 * for nodata). Overview pixels are already means of the full-resolution ones (GDAL's AVERAGE) or point samples of
 * them (NEAREST, as in the 29RKH fixture), so a picture gains nothing from interpolating them again: nearest costs
 * ~10 ns per cell here, bilinear ~30 (measured on this VM).
 */
export function readQuicklookLayer(ref: BandRef, target: Grid, factor: number): Promise<Float32Array> {
  return readOnGrid(ref, quicklookGrid(target, factor), 'nearest');
}
