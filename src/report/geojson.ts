/**
 * Change polygons as RFC 7946 GeoJSON: WGS84 longitude/latitude, right-hand rule, one Feature per connected region.
 *
 * Coordinates: pixel corners are mapped with the grid's geotransform, then reprojected with proj4 and rounded to
 * 7 decimals (about 1 cm). Edges are not densified: polygon edges follow 10-60 m pixel edges and even a 10 km straight
 * edge bends by only millimetres between UTM and lon/lat inside a UTM zone, far below the 1 cm rounding.
 * Areas (`area_ha`) are computed on the ground from pixel counts and `pixelAreaM2` (exact for projected grids and
 * for lat/lon grids on the ellipsoid), never from the degrees of the output.
 */
import { open, rename, unlink } from 'node:fs/promises';
import proj4 from 'proj4';
import { isGeographic, pixelAreaM2, pixelToCrs, proj4Definition, type Grid } from '../raster/grid.js';
import { polygonize, type PixelRing } from '../raster/polygonize.js';
import type { Connectivity } from '../raster/components.js';

export type Position = [number, number];

export interface PolygonGeometry {
  type: 'Polygon';
  coordinates: Position[][];
}

export interface MultiPolygonGeometry {
  type: 'MultiPolygon';
  coordinates: Position[][][];
}

export interface ChangeFeatureProperties {
  /** Class name, e.g. "new water". */
  class: string;
  class_value: number;
  /** Ground area in hectares, rounded to 1 m². */
  area_ha: number;
  pixels: number;
}

export interface ChangeFeature {
  type: 'Feature';
  /** Always a MultiPolygon (one part for most regions), so that the file has one geometry type for GIS tools. */
  geometry: MultiPolygonGeometry;
  properties: ChangeFeatureProperties;
}

/** Foreign member (RFC 7946 section 6.1) describing how the collection was made and what was left out. */
export interface ChangeCollectionMeta {
  source_crs: string;
  connectivity: Connectivity;
  /** Regions in the class map before the `maxFeatures` cap. */
  regions: number;
  features: number;
  /** Regions left out by the `maxFeatures` cap (the smallest ones). */
  dropped_features: number;
  dropped_pixels: number;
  dropped_area_ha: number;
  /** Total area of all regions (kept and dropped), hectares. */
  total_area_ha: number;
  /** With a minimum mapping unit: its size, and the regions smaller than it left out (not in `features`). */
  min_area_ha?: number;
  below_min_area_features?: number;
  below_min_area_ha?: number;
}

export interface ChangeFeatureCollection {
  type: 'FeatureCollection';
  features: ChangeFeature[];
  s2change: ChangeCollectionMeta;
}

export interface ChangeGeoJsonOptions {
  /** Names for class values; values without a name are called "class <v>". */
  classNames: Record<number, string>;
  /** Class values without polygons (default 0 = no change and 255 = nodata). */
  skip?: number[];
  /** 8 (default) or 4. */
  connectivity?: Connectivity;
  /** Keep only the largest this many regions; the rest are counted in `s2change.dropped_*`. */
  maxFeatures?: number;
  /** Decimal places of lon/lat (default 7, about 1 cm). */
  decimals?: number;
  /**
   * Minimum mapping unit (m²): regions of one class smaller than this are left out (`--min-area`; the class map's
   * filter joins touching classes, so a region of one class inside a large patch of several can still be small).
   */
  minAreaM2?: number;
}

const roundHa = (m2: number): number => Math.round(m2) / 1e4;

/**
 * Polygonize a class map on `grid` into an RFC 7946 FeatureCollection in WGS84 with properties
 * `{ class, class_value, area_ha, pixels }`; every geometry a MultiPolygon (a region pinched at a pixel corner with
 * 8-connectivity has several parts).
 */
export function changePolygonsToGeoJSON(classes: Uint8Array, grid: Grid, opts: ChangeGeoJsonOptions): ChangeFeatureCollection {
  const connectivity = opts.connectivity ?? 8;
  const result = polygonize(classes, grid.width, grid.height, {
    connectivity, skip: opts.skip ?? [0, 255], maxPolygons: opts.maxFeatures, rowAreaM2: (r) => pixelAreaM2(grid, r),
  });
  const t = grid.transform;
  const scale = 10 ** (opts.decimals ?? 7);
  const round = (v: number): number => Math.round(v * scale) / scale;
  const toWgs84 = isGeographic(grid.crs) && grid.crs.epsg === 4326
    ? (x: number, y: number): Position => [x, y]
    : (() => {
      const conv = proj4(proj4Definition(grid.crs), proj4Definition({ epsg: 4326 }));
      return (x: number, y: number): Position => conv.forward([x, y]) as Position;
    })();
  // Pixel rings are counter-clockwise for a transform with a negative determinant (north-up); otherwise reverse.
  const flip = t[1] * t[5] - t[2] * t[4] > 0;
  const ringToLonLat = (r: PixelRing): Position[] => {
    const out: Position[] = new Array(r.length / 2);
    for (let i = 0; i < r.length; i += 2) {
      const [x, y] = pixelToCrs(t, r[i]!, r[i + 1]!);
      const [lon, lat] = toWgs84(x, y);
      out[i / 2] = [round(lon), round(lat)];
    }
    return flip ? out.reverse() : out;
  };

  let totalM2 = result.droppedAreaM2 ?? 0;
  const minM2 = opts.minAreaM2 && opts.minAreaM2 > 0 ? opts.minAreaM2 : 0;
  let smallFeatures = 0;
  let smallM2 = 0;
  for (const p of result.polygons) totalM2 += p.areaM2!;
  const kept = minM2 ? result.polygons.filter((p) => {
    if (p.areaM2! >= minM2) return true;
    smallFeatures++;
    smallM2 += p.areaM2!;
    return false;
  }) : result.polygons;
  const features: ChangeFeature[] = kept.map((p) => {
    const geometry: MultiPolygonGeometry = {
      type: 'MultiPolygon', coordinates: p.parts.map((part) => [ringToLonLat(part.outer), ...part.holes.map(ringToLonLat)]),
    };
    return {
      type: 'Feature',
      geometry,
      properties: { class: opts.classNames[p.value] ?? `class ${p.value}`, class_value: p.value, area_ha: roundHa(p.areaM2!), pixels: p.pixels },
    };
  });
  return {
    type: 'FeatureCollection',
    features,
    s2change: {
      source_crs: `EPSG:${grid.crs.epsg}`,
      connectivity,
      regions: result.regions,
      features: features.length,
      dropped_features: result.droppedRegions,
      dropped_pixels: result.droppedPixels,
      dropped_area_ha: roundHa(result.droppedAreaM2 ?? 0),
      total_area_ha: roundHa(totalM2),
      ...(minM2 ? { min_area_ha: minM2 / 1e4, below_min_area_features: smallFeatures, below_min_area_ha: roundHa(smallM2) } : {}),
    },
  };
}

/**
 * Write a FeatureCollection to `path`, one feature per line, streamed (no single giant string), through a temporary
 * file renamed into place so that a crash never leaves half a file.
 */
export async function writeGeoJSON(path: string, fc: ChangeFeatureCollection): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  const fh = await open(tmp, 'w');
  try {
    const { features, ...head } = fc;
    const headJson = JSON.stringify(head);
    await fh.write(`${headJson.slice(0, -1)},"features":[\n`);
    const batch: string[] = [];
    for (let i = 0; i < features.length; i++) {
      batch.push(JSON.stringify(features[i]) + (i + 1 < features.length ? ',\n' : '\n'));
      if (batch.length >= 1000) await fh.write(batch.splice(0).join(''));
    }
    await fh.write(`${batch.join('')}]}\n`);
    await fh.close();
    await rename(tmp, path);
  } catch (err) {
    await fh.close().catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
}
