/**
 * Pixels and ground area per class value of a uint8 class map. Pure.
 *
 * Pixels are counted and multiplied by the pixel area once per row (geographic grids, where the area changes with
 * latitude) or once per window (projected grids), never added pixel by pixel.
 */
import { isGeographic, pixelAreaM2, type Grid } from './grid.js';

/**
 * Add the pixels and m² of each class value of `classes` (a `width` x `height` window whose first row is row
 * `firstRow` of `grid`) into `pixels[value]` and `m2[value]` (length 256).
 */
export function accumulateClassAreas(classes: Uint8Array, width: number, height: number, grid: Grid, firstRow: number,
  pixels: Float64Array, m2: Float64Array): void {
  // Four interleaved histograms: runs of one class would otherwise chain every increment on the last one.
  const counts = new Int32Array(4 * 256);
  const add = (area: number) => {
    for (let v = 0; v < 256; v++) {
      const k = counts[v]! + counts[256 + v]! + counts[512 + v]! + counts[768 + v]!;
      if (k === 0) continue;
      pixels[v]! += k;
      m2[v]! += k * area;
      counts[v] = counts[256 + v] = counts[512 + v] = counts[768 + v] = 0;
    }
  };
  const areaOfEveryRow = projectedPixelArea(grid, firstRow);
  const n = width * height;
  if (areaOfEveryRow !== null) {
    for (let i = 0; i < n; i++) counts[((i & 3) << 8) | classes[i]!]!++;
    add(areaOfEveryRow);
    return;
  }
  for (let y = 0; y < height; y++) {
    const row = y * width;
    for (let x = 0; x < width; x++) counts[((x & 3) << 8) | classes[row + x]!]!++;
    add(pixelAreaM2(grid, firstRow + y));
  }
}

/**
 * The area of every pixel of `grid` in m² when it is the same for every row (projected grids: the whole window can be
 * counted at once), null when it changes with latitude (geographic grids).
 */
export function projectedPixelArea(grid: Grid, row: number): number | null {
  return isGeographic(grid.crs) ? null : pixelAreaM2(grid, row);
}

/** Add class pixel counts (`counts[value]`, 256 entries) of pixels of `area` m² each into `pixels` and `m2`. */
export function addClassCounts(counts: ArrayLike<number>, area: number, pixels: Float64Array, m2: Float64Array): void {
  for (let v = 0; v < 256; v++) {
    const k = counts[v]!;
    if (k === 0) continue;
    pixels[v]! += k;
    m2[v]! += k * area;
  }
}
