/**
 * Moving bounds between coordinate reference systems. Pure (proj4 is plain JavaScript).
 */
import proj4 from 'proj4';
import { gridBounds, isGeoreferenced, proj4Definition, sameCrs, WGS84, type Bounds, type Crs, type Grid } from './grid.js';

/**
 * Bounds of `b` (in `from`) expressed in `to`: the edges are densified with `points` points each, as GDAL's
 * `OGRCoordinateTransformation::TransformBounds` does, so curved edges are covered.
 */
export function transformBounds(b: Bounds, from: Crs, to: Crs, points = 21): Bounds {
  if (sameCrs(from, to)) return b;
  const t = proj4(proj4Definition(from), proj4Definition(to));
  let minX = Infinity, minY = Infinity, maxX = -Infinity, maxY = -Infinity;
  for (let i = 0; i <= points; i++) {
    const f = i / points;
    for (const [x, y] of [
      [b.minX + f * (b.maxX - b.minX), b.minY], [b.minX + f * (b.maxX - b.minX), b.maxY],
      [b.minX, b.minY + f * (b.maxY - b.minY)], [b.maxX, b.minY + f * (b.maxY - b.minY)],
    ] as const) {
      const [px, py] = t.forward([x, y]);
      if (!Number.isFinite(px) || !Number.isFinite(py)) continue;
      minX = Math.min(minX, px!); maxX = Math.max(maxX, px!);
      minY = Math.min(minY, py!); maxY = Math.max(maxY, py!);
    }
  }
  return { minX, minY, maxX, maxY };
}

/**
 * West, south, east, north (degrees) of the union of the grids' footprints in WGS84, each footprint's edges densified
 * (transformBounds); null when no grid is georeferenced.
 */
export function wgs84Extent(grids: readonly Grid[]): Bounds | null {
  let w = Infinity, s = Infinity, e = -Infinity, n = -Infinity;
  for (const g of grids) {
    if (!isGeoreferenced(g.crs)) continue;
    const b = transformBounds(gridBounds(g), g.crs, WGS84);
    w = Math.min(w, b.minX); s = Math.min(s, b.minY); e = Math.max(e, b.maxX); n = Math.max(n, b.maxY);
  }
  return Number.isFinite(w) ? { minX: w, minY: s, maxX: e, maxY: n } : null;
}
