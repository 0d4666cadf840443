/**
 * GeoTIFF georeferencing (GeoKeys + ModelPixelScale/Tiepoint/Transformation) and GDAL's private tags
 * (GDAL_NODATA, GDAL_METADATA), mapped the way GDAL reports them.
 */
import type { GeoTransform } from '../../raster/grid.js';

/** GeoKey ids we use. */
const GT_MODEL_TYPE = 1024;
const GT_RASTER_TYPE = 1025;
const GEOGRAPHIC_TYPE = 2048;
const PROJECTED_CS_TYPE = 3072;
const RASTER_PIXEL_IS_POINT = 2;
const USER_DEFINED = 32767;

/** Raw georeferencing tag values of IFD 0. */
export interface GeoTags {
  geoKeyDirectory: number[] | null;
  pixelScale: number[] | null;
  tiepoints: number[] | null;
  transformation: number[] | null;
}

/** Result of interpreting the GeoTIFF tags. */
export interface Georef {
  epsg: number | null;
  transform: GeoTransform | null;
  /** Why there is no usable grid although the file has some georeferencing, or null. */
  warning: string | null;
}

/** Parse the GeoKeyDirectory's short-valued keys into a map (keys stored elsewhere are ignored). */
export function parseGeoKeys(dir: number[]): Map<number, number> {
  const keys = new Map<number, number>();
  if (dir.length < 4) return keys;
  const n = dir[3];
  for (let i = 0; i < n && 4 + i * 4 + 3 < dir.length; i++) {
    const [id, loc, count, value] = dir.slice(4 + i * 4, 8 + i * 4);
    if (loc === 0 && count === 1) keys.set(id, value);
  }
  return keys;
}

/** EPSG code and GDAL-style geotransform (PixelIsArea) from the GeoTIFF tags. */
export function interpretGeoTags(t: GeoTags): Georef {
  const keys = t.geoKeyDirectory ? parseGeoKeys(t.geoKeyDirectory) : new Map<number, number>();
  let transform: GeoTransform | null = null;
  let warning: string | null = null;
  if (t.transformation && t.transformation.length >= 16) {
    const m = t.transformation;
    transform = [m[3], m[0], m[1], m[7], m[4], m[5]];
  } else if (t.tiepoints && t.tiepoints.length >= 6 && t.pixelScale && t.pixelScale.length >= 2) {
    if (t.tiepoints.length > 6) warning = `the file has ${t.tiepoints.length / 6} tie points (GCPs), only the first is used`;
    const [i, j, , x, y] = t.tiepoints;
    const [sx, sy] = t.pixelScale;
    transform = [x - i * sx, sx, 0, y + j * sy, 0, -sy];
  } else if (t.tiepoints && t.tiepoints.length >= 6) {
    return { epsg: null, transform: null, warning: 'the file has tie points (GCPs) but no pixel scale; warp it first with gdalwarp' };
  }
  if (transform && keys.get(GT_RASTER_TYPE) === RASTER_PIXEL_IS_POINT) {
    // GDAL reports PixelIsPoint files shifted by half a pixel so that the transform maps pixel corners.
    transform = [
      transform[0] - 0.5 * transform[1] - 0.5 * transform[2], transform[1], transform[2],
      transform[3] - 0.5 * transform[4] - 0.5 * transform[5], transform[4], transform[5],
    ];
  }
  let epsg: number | null = null;
  const projected = keys.get(PROJECTED_CS_TYPE);
  const geographic = keys.get(GEOGRAPHIC_TYPE);
  const modelType = keys.get(GT_MODEL_TYPE);
  if (projected !== undefined && projected !== USER_DEFINED && modelType !== 2) epsg = projected;
  else if (geographic !== undefined && geographic !== USER_DEFINED && modelType !== 1) epsg = geographic;
  if (transform && epsg === null) {
    warning = t.geoKeyDirectory
      ? 'the file has a geotransform but its CRS is not given as an EPSG code (user-defined CRS); reproject it with gdalwarp -t_srs EPSG:<code>'
      : 'the file has a geotransform but no GeoKeys (no CRS); assign one with gdal_edit.py -a_srs EPSG:<code>';
  }
  return { epsg, transform, warning };
}

/** Parse GDAL_NODATA text ("0", "-9999", "nan", "inf"); undefined when it is not a number. */
export function parseNodata(text: string): number | undefined {
  const s = text.trim().toLowerCase();
  if (s === 'nan' || s === '-nan') return NaN;
  if (s === 'inf' || s === '+inf' || s === 'infinity') return Infinity;
  if (s === '-inf' || s === '-infinity') return -Infinity;
  const v = Number(s);
  return s === '' || Number.isNaN(v) ? undefined : v;
}

/** Band descriptions, scales and offsets from GDAL_METADATA XML, each of length `samples`. */
export interface GdalBandMetadata {
  descriptions: (string | null)[];
  scales: (number | null)[];
  offsets: (number | null)[];
}

/** Parse `<Item name=".." sample="0" role="description">B2</Item>` items of GDAL_METADATA. */
export function parseGdalMetadata(xml: string | null, samples: number): GdalBandMetadata {
  const md: GdalBandMetadata = {
    descriptions: new Array(samples).fill(null),
    scales: new Array(samples).fill(null),
    offsets: new Array(samples).fill(null),
  };
  if (!xml) return md;
  const itemRe = /<Item\b([^>]*)>([^<]*)<\/Item>/g;
  for (const m of xml.matchAll(itemRe)) {
    const attrs = new Map<string, string>();
    for (const a of m[1].matchAll(/(\w+)\s*=\s*"([^"]*)"/g)) attrs.set(a[1].toLowerCase(), a[2]);
    const sample = attrs.has('sample') ? Number(attrs.get('sample')) : NaN;
    if (!Number.isInteger(sample) || sample < 0 || sample >= samples) continue;
    const role = (attrs.get('role') ?? '').toLowerCase();
    const value = unescapeXml(m[2]);
    if (role === 'description') md.descriptions[sample] = value;
    else if (role === 'scale' || role === 'offset') {
      const v = Number(value.trim());
      if (Number.isFinite(v)) (role === 'scale' ? md.scales : md.offsets)[sample] = v;
    }
  }
  return md;
}

/** Dataset-level `<Item name="KEY">value</Item>` items of GDAL_METADATA (no `sample` attribute, no role). */
export function parseGdalDatasetItems(xml: string | null): Record<string, string> {
  const out: Record<string, string> = {};
  if (!xml) return out;
  for (const m of xml.matchAll(/<Item\b([^>]*)>([^<]*)<\/Item>/g)) {
    const attrs = new Map<string, string>();
    for (const a of m[1].matchAll(/(\w+)\s*=\s*"([^"]*)"/g)) attrs.set(a[1].toLowerCase(), a[2]);
    const name = attrs.get('name');
    if (name === undefined || attrs.has('sample') || attrs.has('role')) continue;
    // GDAL escapes item values twice when writing GDAL_METADATA ("a & b" is stored as "a &amp;amp; b") and unescapes
    // twice when reading: so do we, so that the items read as gdalinfo shows them.
    out[unescapeXml(name)] = unescapeXml(unescapeXml(m[2]));
  }
  return out;
}

function unescapeXml(s: string): string {
  return s
    .replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;/g, "'")
    .replace(/&#(\d+);/g, (_, d: string) => String.fromCodePoint(Number(d)))
    .replace(/&amp;/g, '&');
}
