/**
 * Overviews of a band (the reduced-resolution copies inside a COG): what a scene exposes of them, and the choice of
 * one for a picture that needs no more detail than it holds (the quicklooks read 4x overviews, not full tiles).
 */
import type { Grid, Window } from '../raster/grid.js';
import type { BandRef } from './scene.js';
import type { SampleArray, TiffFile, TiffImage } from './tiff/index.js';

/** A reduced-resolution copy of a band inside its file (a COG overview): its grid and its stored values. */
export interface BandOverview {
  readonly grid: Grid;
  /** A window of the overview's stored values, in a new array the caller owns. */
  readStored(window: Window): Promise<SampleArray>;
}

/**
 * The band as its coarsest overview whose pixels are at most `pixelSize` wide and high (in the band's CRS units):
 * a BandRef with that overview's grid and reader and the band's own radiometry and kind. Null when the file has
 * no overview that fine.
 */
export function overviewBand(ref: BandRef, pixelSize: number): BandRef | null {
  const size = (g: Grid) => Math.max(Math.hypot(g.transform[1], g.transform[4]), Math.hypot(g.transform[2], g.transform[5]));
  let best: BandOverview | null = null;
  for (const o of ref.overviews ?? []) {
    if (size(o.grid) <= pixelSize * (1 + 1e-9) && (!best || size(o.grid) > size(best.grid))) best = o;
  }
  if (!best) return null;
  const { name, href, sample, radiometry, kind } = ref;
  return { name, href, sample, radiometry, kind, grid: best.grid, readStored: (w) => best.readStored(w) };
}

/** The georeferenced overviews of `img` in `file`, finest first, as readers of sample `sample`. */
export function tiffOverviews(file: TiffFile, img: TiffImage, sample: number): BandOverview[] {
  return file.images
    .filter((o) => o.isOverview && o.grid && o.samplesPerPixel === img.samplesPerPixel)
    .sort((a, b) => b.width - a.width)
    .map((o) => ({
      grid: o.grid!,
      async readStored(w: Window) {
        const [a] = await o.readWindow(w, [sample]);
        return a!;
      },
    }));
}
