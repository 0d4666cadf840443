/**
 * A raster's place on the ground: CRS, affine geotransform and size. Pure module.
 *
 * The geotransform uses GDAL's order: `[originX, pixelWidth, rowRotation, originY, colRotation, pixelHeight]`,
 * mapping pixel corner (col, row) to `x = t0 + col*t1 + row*t2`, `y = t3 + col*t4 + row*t5`.
 * Pixel (0, 0) covers the square from (t0, t3) to (t0 + t1, t3 + t5): "PixelIsArea", as GDAL reports it.
 */

import { UnsupportedCrsError } from '../errors.js';

export type GeoTransform = readonly [number, number, number, number, number, number];

/** A coordinate reference system known by EPSG code (the only kind GeoTIFFs from Sentinel-2 pipelines carry). */
export interface Crs {
  readonly epsg: number;
}

export interface Grid {
  readonly crs: Crs;
  readonly transform: GeoTransform;
  readonly width: number;
  readonly height: number;
}

/** A pixel window: columns [x, x+width), rows [y, y+height). */
export interface Window {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

/** Axis-aligned bounds in some CRS. */
export interface Bounds {
  readonly minX: number;
  readonly minY: number;
  readonly maxX: number;
  readonly maxY: number;
}

export const WGS84: Crs = { epsg: 4326 };

/** True for CRSs whose coordinates are degrees of longitude/latitude. */
export function isGeographic(crs: Crs): boolean {
  return crs.epsg === 4326 || crs.epsg === 4258 || crs.epsg === 4269;
}

/**
 * The proj4 definition of an EPSG code. Sentinel-2 tiles are in WGS84 / UTM (EPSG 326xx north, 327xx south);
 * sample datasets also use EPSG:4326. Others are refused with a clear message rather than guessed.
 */
export function proj4Definition(crs: Crs): string {
  const code = crs.epsg;
  if (code === 4326) return '+proj=longlat +datum=WGS84 +no_defs';
  if (code === 4258) return '+proj=longlat +ellps=GRS80 +no_defs';
  if (code === 4269) return '+proj=longlat +datum=NAD83 +no_defs';
  if (code === 3857) {
    return '+proj=merc +a=6378137 +b=6378137 +lat_ts=0 +lon_0=0 +x_0=0 +y_0=0 +k=1 +units=m +nadgrids=@null +no_defs';
  }
  if (code >= 32601 && code <= 32660) return `+proj=utm +zone=${code - 32600} +datum=WGS84 +units=m +no_defs`;
  if (code >= 32701 && code <= 32760) return `+proj=utm +zone=${code - 32700} +south +datum=WGS84 +units=m +no_defs`;
  if (code >= 25828 && code <= 25838) return `+proj=utm +zone=${code - 25800} +ellps=GRS80 +units=m +no_defs`;
  throw new UnsupportedCrsError('unsupported coordinate reference system', {
    input: `EPSG:${code}`,
    expected: 'EPSG:4326, EPSG:3857, a WGS84/UTM zone (EPSG:326xx/327xx) or ETRS89/UTM (EPSG:258xx)',
    found: `EPSG:${code}`,
    fix: 'Reproject the input with gdalwarp -t_srs EPSG:326<zone>',
  });
}

export function sameCrs(a: Crs, b: Crs): boolean {
  return a.epsg === b.epsg;
}

/** Map pixel coordinates (col, row; fractional allowed) to CRS coordinates. */
export function pixelToCrs(t: GeoTransform, col: number, row: number): [number, number] {
  return [t[0] + col * t[1] + row * t[2], t[3] + col * t[4] + row * t[5]];
}

/** Inverse of `pixelToCrs`. */
export function crsToPixel(t: GeoTransform, x: number, y: number): [number, number] {
  const det = t[1] * t[5] - t[2] * t[4];
  if (det === 0) throw new RangeError('degenerate geotransform (zero determinant)');
  const dx = x - t[0];
  const dy = y - t[3];
  return [(t[5] * dx - t[2] * dy) / det, (-t[4] * dx + t[1] * dy) / det];
}

/** Bounds of a grid in its own CRS. */
export function gridBounds(g: Grid): Bounds {
  const xs: number[] = [];
  const ys: number[] = [];
  for (const [c, r] of [[0, 0], [g.width, 0], [0, g.height], [g.width, g.height]] as const) {
    const [x, y] = pixelToCrs(g.transform, c, r);
    xs.push(x);
    ys.push(y);
  }
  return { minX: Math.min(...xs), minY: Math.min(...ys), maxX: Math.max(...xs), maxY: Math.max(...ys) };
}

export function intersectBounds(a: Bounds, b: Bounds): Bounds | null {
  const minX = Math.max(a.minX, b.minX);
  const minY = Math.max(a.minY, b.minY);
  const maxX = Math.min(a.maxX, b.maxX);
  const maxY = Math.min(a.maxY, b.maxY);
  return minX < maxX && minY < maxY ? { minX, minY, maxX, maxY } : null;
}

/** The sub-grid covering `w` (a window of `g`). */
export function windowGrid(g: Grid, w: Window): Grid {
  const [x0, y0] = pixelToCrs(g.transform, w.x, w.y);
  const t = g.transform;
  return { crs: g.crs, transform: [x0, t[1], t[2], y0, t[4], t[5]], width: w.width, height: w.height };
}

/** True if the grid has no rotation terms (north-up). */
export function isNorthUp(g: Grid): boolean {
  return g.transform[2] === 0 && g.transform[4] === 0;
}

/**
 * The smallest whole-pixel window of `g` that covers `b` (same CRS), clipped to the grid; null if empty.
 * Requires a north-up grid.
 */
export function boundsToWindow(g: Grid, b: Bounds): Window | null {
  const [c0, r0] = crsToPixel(g.transform, b.minX, b.maxY);
  const [c1, r1] = crsToPixel(g.transform, b.maxX, b.minY);
  const eps = 1e-6;
  const x0 = Math.max(0, Math.floor(Math.min(c0, c1) + eps));
  const y0 = Math.max(0, Math.floor(Math.min(r0, r1) + eps));
  const x1 = Math.min(g.width, Math.ceil(Math.max(c0, c1) - eps));
  const y1 = Math.min(g.height, Math.ceil(Math.max(r0, r1) - eps));
  if (x1 <= x0 || y1 <= y0) return null;
  return { x: x0, y: y0, width: x1 - x0, height: y1 - y0 };
}

/** Absolute pixel size along x and y, in CRS units. */
export function pixelSize(g: Grid): [number, number] {
  const t = g.transform;
  return [Math.hypot(t[1], t[4]), Math.hypot(t[2], t[5])];
}

const WGS84_A = 6378137;
const WGS84_F = 1 / 298.257223563;

/**
 * Area in square metres of each pixel in row `row` of the grid. Projected (metric) CRSs: |det| of the transform.
 * Geographic CRSs: the exact area of the lat/lon cell on the WGS84 ellipsoid (authalic-latitude formula), so that
 * hectares are defensible even for EPSG:4326 inputs.
 */
export function pixelAreaM2(g: Grid, row: number): number {
  const t = g.transform;
  if (!isGeographic(g.crs)) return Math.abs(t[1] * t[5] - t[2] * t[4]);
  const lat0 = t[3] + row * t[5];
  const lat1 = lat0 + t[5];
  const dLonRad = (Math.abs(t[1]) * Math.PI) / 180;
  return Math.abs(ellipsoidZoneArea(lat1) - ellipsoidZoneArea(lat0)) * dLonRad;
}

/** ∫ of the ellipsoid's area element from the equator to `latDeg`, per radian of longitude. */
function ellipsoidZoneArea(latDeg: number): number {
  const e2 = WGS84_F * (2 - WGS84_F);
  const e = Math.sqrt(e2);
  const b2 = (WGS84_A * (1 - WGS84_F)) ** 2;
  const s = Math.sin((latDeg * Math.PI) / 180);
  const q = s / (1 - e2 * s * s) + (1 / (2 * e)) * Math.log((1 + e * s) / (1 - e * s));
  return (b2 / 2) * q;
}

/** Same CRS, size, and transform to within `tolPixels` of a pixel at the far corner. */
export function sameGrid(a: Grid, b: Grid, tolPixels = 1e-3): boolean {
  if (a.width !== b.width || a.height !== b.height || !sameCrs(a.crs, b.crs)) return false;
  const [px, py] = pixelSize(a);
  for (const [c, r] of [[0, 0], [a.width, a.height]] as const) {
    const [ax, ay] = pixelToCrs(a.transform, c, r);
    const [bx, by] = pixelToCrs(b.transform, c, r);
    if (Math.abs(ax - bx) > tolPixels * px || Math.abs(ay - by) > tolPixels * py) return false;
  }
  return true;
}

/**
 * The "CRS" of rasters that are not georeferenced (e.g. OMBRIA PNG patches): pixel coordinates with an assumed
 * pixel size. Such grids get areas (from the assumed size) but no GeoJSON and no GeoKeys.
 */
export const PIXEL_CRS: Crs = { epsg: 0 };

export function isGeoreferenced(crs: Crs): boolean {
  return crs.epsg !== 0;
}
