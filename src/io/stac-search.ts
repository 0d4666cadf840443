/**
 * Finding Sentinel-2 scenes in a STAC API (Earth Search v1 by default), and reading STAC Items into one normalised
 * shape whatever their vintage: Earth Search v1 asset keys (red, nir, swir16, scl…), older keys (B04, SCL), STAC 1.0
 * `eo:bands`/`raster:bands` and STAC 1.1 `bands`. Also decides the radiometric offset of a band (`radiometryFor`),
 * saying where the decision came from.
 */
import { NetworkError, StacError, isS2ChangeError } from '../errors.js';
import { canonicalBand } from '../indices/bands.js';
import type { LayerName } from './scene.js';
import { httpFetch, type HttpOptions } from './http-source.js';
import { DEFAULT_STAC_API } from './stac-defaults.js';

export { DEFAULT_STAC_API } from './stac-defaults.js';

/** One band asset of a normalised item. */
export interface StacBandAsset {
  /** Absolute href (relative hrefs resolved against the item's location). */
  href: string;
  /** The asset key in the item (e.g. "red", "B04"). */
  key: string;
  /** From raster:bands (STAC 1.0) or bands (1.1): physical = DN * scale + offset (STAC convention). */
  scale?: number;
  offset?: number;
  nodata?: number;
  /** Ground sampling distance in metres. */
  gsd?: number;
}

/** A STAC Item reduced to what s2change needs. */
export interface StacItemSummary {
  id: string;
  collection: string | null;
  datetime: string | null;
  platform: string | null;
  /** MGRS tile, e.g. "29RKH". */
  tile: string | null;
  relativeOrbit: number | null;
  cloudCover: number | null;
  /** e.g. "02.14", "04.00". */
  processingBaseline: string | null;
  /** Earth Search's `earthsearch:boa_offset_applied` (older `sentinel:boa_offset_applied`), null when absent. */
  boaOffsetApplied: boolean | null;
  epsg: number | null;
  bbox: [number, number, number, number] | null;
  /** Item location used to resolve relative hrefs (self link or the file/URL it was read from). */
  selfHref: string | null;
  assets: Partial<Record<LayerName, StacBandAsset>>;
}

type Json = Record<string, unknown>;
const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const str = (v: unknown): string | undefined => (typeof v === 'string' && v.length > 0 ? v : undefined);

/** Asset keys that are not single reflectance bands even though they look like one. */
const SKIP_KEYS = /(^|[-_])(jp2|visual|tci|thumbnail|preview|overview|metadata|aot|wvp)($|[-_])/i;

/** The canonical layer an asset holds, or null. */
function layerOf(key: string, asset: Json): LayerName | null {
  if (SKIP_KEYS.test(key)) return null;
  const href = str(asset.href) ?? '';
  const type = str(asset.type) ?? '';
  if (/jp2/i.test(type) || /\.jp2$/i.test(href)) return null; // the reader does TIFF/COG only
  if (/^scl$/i.test(key)) return 'SCL';
  const direct = canonicalBand(key);
  if (direct) return direct;
  // Unknown key: a single-band asset that names its band (STAC 1.0 eo:bands, 1.1 bands).
  const bands = (Array.isArray(asset['eo:bands']) ? asset['eo:bands'] : Array.isArray(asset.bands) ? asset.bands : []) as unknown[];
  if (bands.length !== 1 || !isObj(bands[0])) return null;
  const b = bands[0];
  const name = str(b.name) ?? str(b['eo:common_name']) ?? str(b.common_name);
  if (name && /^scl$/i.test(name)) return 'SCL';
  return name ? canonicalBand(name) : null;
}

function resolveHref(href: string, base: string | null): string {
  try {
    return base ? new URL(href, base).href : new URL(href).href;
  } catch {
    return href; // a plain path: left for the caller
  }
}

function bandAsset(key: string, asset: Json, base: string | null): StacBandAsset {
  const out: StacBandAsset = { href: resolveHref(str(asset.href)!, base), key };
  const rb = Array.isArray(asset['raster:bands']) && isObj(asset['raster:bands'][0]) ? (asset['raster:bands'][0] as Json) : undefined;
  const b11 = Array.isArray(asset.bands) && isObj(asset.bands[0]) ? (asset.bands[0] as Json) : undefined;
  const src = rb ?? b11 ?? {};
  const scale = num(src.scale) ?? num(asset.scale);
  const offset = num(src.offset) ?? num(asset.offset);
  const nodata = num(src.nodata) ?? num(asset.nodata);
  const gsd = num(asset.gsd) ?? num(src.spatial_resolution) ?? num(src['raster:spatial_resolution']);
  if (scale !== undefined) out.scale = scale;
  if (offset !== undefined) out.offset = offset;
  if (nodata !== undefined) out.nodata = nodata;
  if (gsd !== undefined) out.gsd = gsd;
  return out;
}

function mgrsTile(p: Json): string | null {
  const direct = str(p['s2:mgrs_tile']);
  if (direct) return direct.replace(/^T/, '');
  const zone = num(p['mgrs:utm_zone']) ?? num(p['sentinel:utm_zone']);
  const band = str(p['mgrs:latitude_band']) ?? str(p['sentinel:latitude_band']);
  const sq = str(p['mgrs:grid_square']) ?? str(p['sentinel:grid_square']);
  if (zone !== undefined && band && sq) return `${String(zone).padStart(2, '0')}${band}${sq}`;
  const grid = /^MGRS-(\w+)$/.exec(str(p['grid:code']) ?? '');
  return grid ? grid[1] : null;
}

/** Product names carry "_R037_" (relative orbit) and "_N0214_" (baseline 02.14). */
function productName(p: Json, id: string): string {
  return str(p['s2:product_uri']) ?? str(p['s2:granule_id']) ?? id;
}

function relativeOrbit(p: Json, id: string): number | null {
  const direct = num(p['sat:relative_orbit']) ?? num(p['sentinel:relative_orbit']);
  if (direct !== undefined) return direct;
  const m = /_R(\d{3})_/.exec(str(p['s2:product_uri']) ?? id);
  return m ? Number(m[1]) : null;
}

function baseline(p: Json, id: string): string | null {
  const direct = str(p['s2:processing_baseline']) ?? str(p['sentinel:processing_baseline']) ?? str(p['processing:version']);
  if (direct) return direct;
  const m = /_N(\d{2})(\d{2})(_|$)/.exec(productName(p, id));
  return m ? `${m[1]}.${m[2]}` : null;
}

function epsgOf(props: Json, assets: Json): number | null {
  const fromProps = (o: Json): number | null => {
    const e = num(o['proj:epsg']);
    if (e !== undefined) return e;
    const m = /^EPSG:(\d+)$/i.exec(str(o['proj:code']) ?? '');
    return m ? Number(m[1]) : null;
  };
  const p = fromProps(props);
  if (p !== null) return p;
  for (const a of Object.values(assets)) if (isObj(a)) {
    const e = fromProps(a);
    if (e !== null) return e;
  }
  return null;
}

/**
 * Normalise a STAC Item (parsed JSON) found at `baseHref` (its URL, or `file:///abs/path/item.json`; default its self
 * link). Throws StacError when `json` is not a STAC Item. Band assets are keyed by canonical name (B02…B12, B8A,
 * SCL); JPEG2000 assets and multi-band previews are skipped (the reader handles TIFF/COG only).
 */
export function normalizeItem(json: unknown, baseHref?: string): StacItemSummary {
  if (!isObj(json) || json.type !== 'Feature' || !str(json.id) || !isObj(json.properties) || !isObj(json.assets)) {
    throw new StacError('not a STAC Item', {
      input: baseHref ?? 'STAC item',
      expected: 'a GeoJSON Feature with "id", "properties" and "assets"',
      found: isObj(json) ? `an object with keys ${Object.keys(json).slice(0, 8).join(', ')}` : typeof json,
      fix: 'Pass a STAC Item JSON file (one scene), not a collection or search result',
    });
  }
  const id = json.id as string;
  const p = json.properties;
  const links = Array.isArray(json.links) ? json.links.filter(isObj) : [];
  const self = links.find((l) => l.rel === 'self' && str(l.href));
  const base = baseHref ?? (self ? (self.href as string) : null);
  const assets: Partial<Record<LayerName, StacBandAsset>> = {};
  for (const [key, a] of Object.entries(json.assets)) {
    if (!isObj(a) || !str(a.href)) continue;
    const layer = layerOf(key, a);
    if (!layer || assets[layer]) continue;
    assets[layer] = bandAsset(key, a, base);
  }
  const bbox = Array.isArray(json.bbox) && json.bbox.length >= 4 && json.bbox.every((v) => typeof v === 'number')
    ? (json.bbox.length === 6 ? [json.bbox[0], json.bbox[1], json.bbox[3], json.bbox[4]] : json.bbox.slice(0, 4)) as [number, number, number, number]
    : null;
  const boa = p['earthsearch:boa_offset_applied'] ?? p['sentinel:boa_offset_applied'];
  return {
    id,
    collection: str(json.collection) ?? null,
    datetime: str(p.datetime) ?? str(p.start_datetime) ?? null,
    platform: str(p.platform) ?? null,
    tile: mgrsTile(p),
    relativeOrbit: relativeOrbit(p, id),
    cloudCover: num(p['eo:cloud_cover']) ?? null,
    processingBaseline: baseline(p, id),
    boaOffsetApplied: typeof boa === 'boolean' ? boa : null,
    epsg: epsgOf(p, json.assets),
    bbox,
    selfHref: base,
    assets,
  };
}

/** How to turn a band's stored values into reflectance, and why. */
export interface RadiometryDecision {
  /** reflectance = (DN + offset) × scale — the convention of src/io/scene.ts; `offset` is in DN. */
  scale: number;
  offset: number;
  /** Where the numbers come from, for the report. */
  source: string;
  /** Set when the item's fields disagree or nothing said what to do (the numbers are then a guess). */
  warning: string | null;
}

const QUANT = 1e-4; // L2A QUANTIFICATION_VALUE 10000

/**
 * Decide scale and offset for `band` of `item`. Order: the asset's `raster:bands` (or 1.1 `bands`) scale/offset;
 * else `earthsearch:boa_offset_applied: true` → offset 0 (DN already harmonised); else processing baseline ≥ 04.00 →
 * offset −1000 DN, < 04.00 → 0; else offset 0 flagged as an assumption. Contradictions between these fields are
 * reported in `warning` (the Earth Search flag is known to be wrong for some 2022–2025 items): check the result's
 * plausibility after reading (many negative reflectances mean the offset was applied twice).
 */
export function radiometryFor(item: StacItemSummary, band: string): RadiometryDecision {
  const layer = /^scl$/i.test(band) ? 'SCL' : canonicalBand(band);
  if (layer === 'SCL') return { scale: 1, offset: 0, source: 'SCL class band: values used as stored', warning: null };
  const asset = layer ? item.assets[layer] : undefined;
  const bl = item.processingBaseline;
  const blNum = bl !== null ? Number.parseFloat(bl) : NaN;
  const expectedByBaseline = Number.isFinite(blNum) ? (blNum >= 4 ? -1000 : 0) : null;
  const flag = item.boaOffsetApplied;
  const blText = bl !== null ? `processing baseline ${bl}` : 'no processing baseline';

  if (asset && (asset.scale !== undefined || asset.offset !== undefined)) {
    const scale = asset.scale ?? QUANT;
    const offset = Math.round(((asset.offset ?? 0) / scale) * 1e6) / 1e6;
    const source = `STAC raster:bands of asset "${asset.key}": scale ${scale}, offset ${asset.offset ?? 0} (= ${offset} DN)`;
    let warning: string | null = null;
    if (flag === true && offset !== 0) {
      warning = `earthsearch:boa_offset_applied is true (DN already harmonised) but raster:bands still gives offset ${offset} DN; using raster:bands`;
    } else if (flag !== true && expectedByBaseline !== null && offset !== expectedByBaseline) {
      warning = `${blText} implies offset ${expectedByBaseline} DN but raster:bands gives ${offset} DN; using raster:bands`;
    }
    return { scale, offset, source, warning };
  }
  if (flag === true) {
    const warning = expectedByBaseline === 0 ? `earthsearch:boa_offset_applied is true although ${blText} < 04.00 has no offset` : null;
    return { scale: QUANT, offset: 0, source: `earthsearch:boa_offset_applied: true (DN already harmonised, ${blText}) → offset 0`, warning };
  }
  if (expectedByBaseline !== null) {
    return {
      scale: QUANT,
      offset: expectedByBaseline,
      source: expectedByBaseline === 0 ? `${blText} < 04.00 → no offset` : `${blText} ≥ 04.00 → BOA_ADD_OFFSET −1000 DN`,
      warning: null,
    };
  }
  return {
    scale: QUANT,
    offset: 0,
    source: 'assumed: no raster:bands, no processing baseline, no boa_offset_applied flag → offset 0',
    warning: `${item.id}: nothing in the item says whether band ${band} carries the −1000 DN offset of baseline 04.00+; assumed none (set the offset explicitly if the reflectances look 0.1 too high)`,
  };
}

/** Options of `searchItems`. */
export interface SearchOptions extends HttpOptions {
  /** STAC API root; default https://earth-search.aws.element84.com/v1. */
  apiUrl?: string;
  /** Default ['sentinel-2-l2a']. */
  collections?: string[];
  /** [west, south, east, north] in degrees. */
  bbox?: [number, number, number, number];
  /** RFC 3339 interval, e.g. "2024-01-01T00:00:00Z/2024-02-01T00:00:00Z". */
  datetime?: string;
  /** Keep items with eo:cloud_cover below this percentage. */
  maxCloud?: number;
  /** Max items returned in total. Default 100. */
  limit?: number;
  /** Items per page asked of the server. Default min(limit, 100). */
  pageSize?: number;
  /** How to send the cloud filter: STAC `query` extension (default) or CQL2-JSON `filter`. */
  cloudFilter?: 'query' | 'cql2';
}

const OFFLINE_FIX =
  'Check your connection (or --stac-api); to work offline, download the two scenes and pass them with --before DIR --after DIR';

/**
 * POST `/search` to a STAC API and follow `links[rel=next]` (POST with the link's body merged into the previous one,
 * or GET its href) until `limit` items or no next page. Returns normalised items in server order.
 * Throws NetworkError when the API cannot be reached (naming the local-files alternative) and StacError when it
 * answers with an error or something that is not a FeatureCollection.
 */
export async function searchItems(opts: SearchOptions = {}): Promise<StacItemSummary[]> {
  const api = (opts.apiUrl ?? DEFAULT_STAC_API).replace(/\/+$/, '');
  const limit = opts.limit ?? 100;
  const body: Json = { collections: opts.collections ?? ['sentinel-2-l2a'], limit: opts.pageSize ?? Math.min(limit, 100) };
  if (opts.bbox) body.bbox = opts.bbox;
  if (opts.datetime) body.datetime = opts.datetime;
  if (opts.maxCloud !== undefined) {
    if (opts.cloudFilter === 'cql2') {
      body['filter-lang'] = 'cql2-json';
      body.filter = { op: '<', args: [{ property: 'eo:cloud_cover' }, opts.maxCloud] };
    } else {
      body.query = { 'eo:cloud_cover': { lt: opts.maxCloud } };
    }
  }
  const out: StacItemSummary[] = [];
  let req: { url: string; method: 'GET' | 'POST'; body?: Json } | null = { url: `${api}/search`, method: 'POST', body };
  const seen = new Set<string>();
  for (let page = 0; req && out.length < limit; page++) {
    const sig = `${req.method} ${req.url} ${JSON.stringify(req.body ?? null)}`;
    if (seen.has(sig) || page >= 1000) break; // a server repeating its next link
    seen.add(sig);
    const fc = await stacRequest(req.url, req.method, req.body, opts);
    for (const f of fc.features as unknown[]) {
      if (out.length >= limit) break;
      const self = isObj(f) && Array.isArray(f.links) ? f.links.find((l) => isObj(l) && l.rel === 'self') : undefined;
      out.push(normalizeItem(f, isObj(self) && str(self.href) ? (self.href as string) : undefined));
    }
    const next = Array.isArray(fc.links) ? fc.links.find((l) => isObj(l) && l.rel === 'next') : undefined;
    if (!isObj(next) || !str(next.href) || (fc.features as unknown[]).length === 0) break;
    const method = next.method === 'POST' || (next.method === undefined && isObj(next.body)) ? 'POST' : 'GET';
    req = method === 'POST'
      ? { url: next.href as string, method, body: { ...(req.body ?? {}), ...(isObj(next.body) ? next.body : {}) } }
      : { url: next.href as string, method };
  }
  return out;
}

async function stacRequest(url: string, method: 'GET' | 'POST', body: Json | undefined, opts: HttpOptions): Promise<Json> {
  let res;
  try {
    res = await httpFetch(url, {
      ...opts,
      method,
      headers: { accept: 'application/geo+json, application/json', ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
  } catch (err) {
    if (isS2ChangeError(err, 'NETWORK')) {
      throw new NetworkError('the STAC API cannot be reached', {
        input: url,
        expected: 'an answer from the STAC API',
        found: err.found ?? err.message,
        fix: OFFLINE_FIX,
        cause: err,
      });
    }
    throw err;
  }
  const text = Buffer.from(res.body).toString('utf8');
  if (res.status < 200 || res.status >= 300) {
    throw new StacError(`STAC API answered HTTP ${res.status}`, {
      input: url,
      expected: 'HTTP 200 with a FeatureCollection',
      found: `HTTP ${res.status}: ${text.slice(0, 300)}`,
      fix: res.status >= 500 || res.status === 429 ? OFFLINE_FIX : 'Check the search parameters (--bbox, --datetime, --collection)',
    });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new StacError('STAC API answer is not JSON', { input: url, expected: 'JSON', found: text.slice(0, 120), cause: err });
  }
  if (!isObj(json) || !Array.isArray(json.features)) {
    throw new StacError('STAC API answer is not a FeatureCollection', {
      input: url,
      expected: 'an object with a "features" array',
      found: isObj(json) ? `keys ${Object.keys(json).join(', ')}` : typeof json,
      fix: 'Check --stac-api points at the API root (e.g. https://earth-search.aws.element84.com/v1)',
    });
  }
  return json;
}

/** Fetch one STAC Item by URL and normalise it (relative asset hrefs resolve against the final URL). */
export async function fetchItem(url: string, opts: HttpOptions = {}): Promise<StacItemSummary> {
  const json = await stacRequestItem(url, opts);
  return normalizeItem(json.json, json.url);
}

async function stacRequestItem(url: string, opts: HttpOptions): Promise<{ json: unknown; url: string }> {
  let res;
  try {
    res = await httpFetch(url, { ...opts, headers: { accept: 'application/geo+json, application/json' } });
  } catch (err) {
    if (isS2ChangeError(err, 'NETWORK')) throw new NetworkError('the STAC item cannot be fetched', { input: url, found: err.message, fix: OFFLINE_FIX, cause: err });
    throw err;
  }
  if (res.status !== 200) {
    throw new StacError(`HTTP ${res.status} for the STAC item`, { input: url, expected: 'HTTP 200', found: `HTTP ${res.status}`, fix: 'Check the URL' });
  }
  try {
    return { json: JSON.parse(Buffer.from(res.body).toString('utf8')), url: res.url.href };
  } catch (err) {
    throw new StacError('STAC item is not JSON', { input: url, expected: 'a JSON STAC Item', found: 'unparseable text', cause: err });
  }
}
