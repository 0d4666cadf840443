/**
 * The facts of a Sentinel-2 SAFE product that its metadata XML states: MTD_MSIL1C.xml / MTD_MSIL2A.xml (level, date,
 * spacecraft, orbit, processing baseline, quantification value, per-band additive offsets) and the granule's
 * MTD_TL.xml (tile, CRS and the grid of each resolution). Parsed with fast-xml-parser; pure (no I/O).
 */
import { XMLParser } from 'fast-xml-parser';
import { CorruptTiffError } from '../../errors.js';
import { canonicalBand, type BandName } from '../../indices/bands.js';
import type { GeoTransform } from '../../raster/grid.js';

export interface ProductMetadata {
  level: 'L1C' | 'L2A';
  productUri: string | null;
  productType: string | null;
  /** PRODUCT_START_TIME (UTC, ISO 8601). */
  startTime: string | null;
  spacecraft: string | null;
  relativeOrbit: number | null;
  processingBaseline: string | null;
  /** BOA_QUANTIFICATION_VALUE (L2A) or QUANTIFICATION_VALUE (L1C): reflectance = (DN + offset) / quantification. */
  quantification: number | null;
  /** BOA_ADD_OFFSET (L2A) or RADIO_ADD_OFFSET (L1C) per band; empty when the product has none (baseline < 04.00). */
  offsets: Partial<Record<BandName, number>>;
  /** The element the offsets came from, for provenance. */
  offsetElement: 'BOA_ADD_OFFSET' | 'RADIO_ADD_OFFSET' | null;
  nodataValue: number | null;
  cloudCover: number | null;
}

export interface TileMetadata {
  tileId: string | null;
  sensingTime: string | null;
  epsg: number | null;
  /** Grid per resolution in metres (10, 20, 60). */
  grids: Map<number, { width: number; height: number; transform: GeoTransform }>;
}

const parser = new XMLParser({
  ignoreAttributes: false, removeNSPrefix: true, attributeNamePrefix: '@', parseTagValue: false, processEntities: false,
});

type Node = Record<string, unknown>;

/** Every value of `key` anywhere under `node` (depth-first, document order). */
function findAll(node: unknown, key: string, out: unknown[] = [], depth = 0): unknown[] {
  if (depth > 32 || node === null || typeof node !== 'object') return out;
  if (Array.isArray(node)) {
    for (const n of node) findAll(n, key, out, depth + 1);
    return out;
  }
  for (const [k, v] of Object.entries(node as Node)) {
    if (k === key) {
      if (Array.isArray(v)) out.push(...v);
      else out.push(v);
    } else findAll(v, key, out, depth + 1);
  }
  return out;
}

const text = (v: unknown): string | null => {
  if (v === undefined || v === null) return null;
  if (typeof v === 'object') return text((v as Node)['#text']);
  return String(v).trim();
};
const first = (node: unknown, key: string): string | null => text(findAll(node, key)[0]);
const number = (s: string | null): number | null => (s === null || s === '' || !Number.isFinite(Number(s)) ? null : Number(s));

function parse(xml: string, name: string): Node {
  try {
    return parser.parse(xml) as Node;
  } catch (err) {
    throw new CorruptTiffError('the product metadata is not valid XML', {
      input: name, expected: 'a well-formed Sentinel-2 metadata file', found: (err as Error).message, fix: 'Re-download the product', cause: err,
    });
  }
}

/** Parse MTD_MSIL1C.xml or MTD_MSIL2A.xml. */
export function parseProductMetadata(xml: string, name: string): ProductMetadata {
  const doc = parse(xml, name);
  const root = Object.keys(doc).find((k) => /User_Product$/.test(k));
  if (!root) {
    throw new CorruptTiffError('not a Sentinel-2 product metadata file', {
      input: name, expected: 'a Level-1C_User_Product or Level-2A_User_Product document', found: Object.keys(doc).filter((k) => !k.startsWith('?')).join(', ') || 'nothing',
    });
  }
  const level = /2A/.test(root) ? 'L2A' : 'L1C';
  const top = doc[root];
  // band_id (0..12) → band name, from the spectral information list.
  const idToBand = new Map<string, BandName>();
  for (const s of findAll(top, 'Spectral_Information') as Node[]) {
    const b = canonicalBand(String(s['@physicalBand'] ?? ''));
    if (b && s['@bandId'] !== undefined) idToBand.set(String(s['@bandId']), b);
  }
  if (idToBand.size === 0) {
    const order: BandName[] = ['B01', 'B02', 'B03', 'B04', 'B05', 'B06', 'B07', 'B08', 'B8A', 'B09', 'B10', 'B11', 'B12'];
    order.forEach((b, i) => idToBand.set(String(i), b));
  }
  const offsetElement = level === 'L2A' ? 'BOA_ADD_OFFSET' : 'RADIO_ADD_OFFSET';
  const offsets: Partial<Record<BandName, number>> = {};
  for (const o of findAll(top, offsetElement) as Node[]) {
    const band = idToBand.get(String(o['@band_id']));
    const v = number(text(o));
    if (band && v !== null) offsets[band] = v;
  }
  const quantification = number(first(top, level === 'L2A' ? 'BOA_QUANTIFICATION_VALUE' : 'QUANTIFICATION_VALUE'));
  let nodataValue: number | null = null;
  for (const sv of findAll(top, 'Special_Values') as Node[]) {
    if (text(sv['SPECIAL_VALUE_TEXT']) === 'NODATA') nodataValue = number(text(sv['SPECIAL_VALUE_INDEX']));
  }
  return {
    level, productUri: first(top, 'PRODUCT_URI'), productType: first(top, 'PRODUCT_TYPE'), startTime: first(top, 'PRODUCT_START_TIME'),
    spacecraft: first(top, 'SPACECRAFT_NAME'), relativeOrbit: number(first(top, 'SENSING_ORBIT_NUMBER')),
    processingBaseline: first(top, 'PROCESSING_BASELINE'), quantification, offsets,
    offsetElement: Object.keys(offsets).length ? offsetElement : null, nodataValue,
    cloudCover: number(first(top, 'Cloud_Coverage_Assessment')),
  };
}

/** Parse a granule's MTD_TL.xml: tile id, sensing time, EPSG code and the grid of each resolution. */
export function parseTileMetadata(xml: string, name: string): TileMetadata {
  const doc = parse(xml, name);
  const code = first(doc, 'HORIZONTAL_CS_CODE');
  const epsg = code && /EPSG:(\d+)/i.test(code) ? Number(/EPSG:(\d+)/i.exec(code)![1]) : null;
  const sizes = new Map<number, { width: number; height: number }>();
  for (const s of findAll(doc, 'Size') as Node[]) {
    const r = number(String(s['@resolution'] ?? ''));
    const w = number(text(s['NCOLS']));
    const h = number(text(s['NROWS']));
    if (r !== null && w !== null && h !== null) sizes.set(r, { width: w, height: h });
  }
  const grids = new Map<number, { width: number; height: number; transform: GeoTransform }>();
  for (const g of findAll(doc, 'Geoposition') as Node[]) {
    const r = number(String(g['@resolution'] ?? ''));
    const [ulx, uly, xd, yd] = ['ULX', 'ULY', 'XDIM', 'YDIM'].map((k) => number(text(g[k])));
    const size = r !== null ? sizes.get(r) : undefined;
    if (r === null || !size || ulx == null || uly == null || xd == null || yd == null) continue;
    grids.set(r, { ...size, transform: [ulx, xd, 0, uly, 0, yd] });
  }
  const tileId = first(doc, 'TILE_ID');
  return { tileId, sensingTime: first(doc, 'SENSING_TIME'), epsg, grids };
}

/** The MGRS tile (e.g. "29UNU") in a tile id or product name. */
export function mgrsTile(s: string | null): string | null {
  const m = s ? /_T(\d{2}[A-Z]{3})(?:_|$)/.exec(s) : null;
  return m ? m[1]! : null;
}
