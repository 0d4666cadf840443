/**
 * From a place and a date to two scenes: search a STAC API, measure each candidate's clear share INSIDE the AOI
 * from the coarsest SCL overview that still has ≥ 16 × 16 pixels over it (a few KB per scene), and choose the
 * before/after pair (src/io/stac-pair.ts), explaining the choice, the runners-up and the bytes read.
 */
import { isS2ChangeError } from '../errors.js';
import {
  boundsToWindow, gridBounds, isNorthUp, sameCrs, windowGrid, WGS84, type Bounds, type Grid, type Window,
} from '../raster/grid.js';
import { transformBounds } from '../raster/reproject.js';
import type { ByteSource } from '../io/byte-source.js';
import { choosePair, type PairRankingRow } from '../io/stac-pair.js';
import { DEFAULT_STAC_API, normalizeItem, searchItems, type StacItemSummary } from '../io/stac-search.js';
import { remoteAssetUrl, remoteOpener, sceneFromItem, type FetchStats, type RemoteOpener, type RemoteReadOptions } from '../io/stac-scene.js';
import type { BandRef, LayerName, Scene, SceneOptions } from '../io/scene.js';
import { readOnGrid, toPhysical } from './align.js';
import type { BandName } from '../indices/bands.js';
import type { Preset, PresetOptions } from '../change/presets/types.js';
import { openScene } from '../io/scene.js';
import { openTiff, type TiffImage } from '../io/tiff/index.js';

/** SCL classes counted as clear: dark area, vegetation, bare soil, water, unclassified. */
export const SCL_CLEAR = [2, 4, 5, 6, 7] as const;
/** SCL classes counted as not clear: nodata, saturated, cloud shadow, cloud medium/high, cirrus, snow. */
export const SCL_NOT_CLEAR = [0, 1, 3, 8, 9, 10, 11] as const;

/** What to search for. */
export interface SearchParams {
  stacApi: string;
  collections: string[];
  /** [west, south, east, north] in degrees. */
  bbox: [number, number, number, number];
  datetime: string;
  maxCloud: number | null;
  limit: number;
}

/** Options of `searchScenes` / `discoverPair`. */
export interface DiscoverOptions {
  stacApi?: string;
  collections?: string[];
  bbox: Bounds;
  /** RFC 3339 interval, or dates `2024-06-01/2024-07-31` (whole days, UTC). */
  datetime?: string;
  maxCloud?: number;
  limit?: number;
  /** URL policy, retries, timeouts, cache and byte budget for the search and the SCL reads. */
  remote?: RemoteReadOptions;
  /** Smallest AOI window (pixels per side) an SCL overview must have to be used. Default 16. */
  minOverviewPixels?: number;
  log?: (msg: string) => void;
}

/** One scene, briefly: the summary fields that explain a choice, and where to read the item again. */
export type ItemBrief = Pick<StacItemSummary,
  'id' | 'datetime' | 'platform' | 'tile' | 'relativeOrbit' | 'cloudCover' | 'processingBaseline' | 'epsg'> & {
  /** Where the item can be read again: its self link, or `<api>/collections/<c>/items/<id>`. */
  href: string;
  /** Set when the scene is a mosaic of several items of one acquisition (the AOI spans tiles or UTM zones). */
  members?: ItemBrief[];
};

/** The clear share of the AOI in one item, and how it was measured. */
export interface ClearMeasure {
  clearFraction: number;
  /** 'scl-overview' | 'scl' (full resolution) | 'eo:cloud_cover' (no readable SCL). */
  method: string;
  note: string | null;
  sclHref: string | null;
  /** Size of the SCL image used and of the AOI window in it. */
  image: { width: number; height: number; pixelSize: number; overview: boolean } | null;
  window: Window | null;
  /** Pixel counts per SCL class inside the window. */
  classCounts: Record<string, number>;
  bytesFetched: number;
  requests: number;
  cacheHits: number;
}

/** What `s2change pair --json` prints and summary.json holds as `discovery`. */
export interface Discovery {
  search: SearchParams & { found: number };
  eventDate: string;
  windowDays: number;
  before: ItemBrief;
  after: ItemBrief;
  criteria: string;
  ranking: Array<PairRankingRow & { clearMethod: string | null; clearNote: string | null; sclBytesFetched: number | null }>;
  /** Wire totals of the SCL reads that measured the clear shares (the search requests are not counted). */
  sclReads: { bytesFetched: number; requests: number; cacheHits: number };
}

const day = (d: string): boolean => /^\d{4}-\d{2}-\d{2}$/.test(d);

/** `2024-06-01/2024-07-31` → whole-day RFC 3339 interval; other forms pass unchanged. */
export function normalizeDatetime(text: string): string {
  const parts = text.split('/');
  if (parts.length === 2) {
    const [a, b] = parts as [string, string];
    return `${day(a) ? `${a}T00:00:00Z` : a}/${day(b) ? `${b}T23:59:59Z` : b}`;
  }
  return day(text) ? `${text}T00:00:00Z/${text}T23:59:59Z` : text;
}

function searchParams(opts: DiscoverOptions, datetime: string): SearchParams {
  const b = opts.bbox;
  return {
    stacApi: (opts.stacApi ?? DEFAULT_STAC_API).replace(/\/+$/, ''),
    collections: opts.collections ?? ['sentinel-2-l2a'],
    bbox: [b.minX, b.minY, b.maxX, b.maxY],
    datetime,
    maxCloud: opts.maxCloud ?? null,
    limit: opts.limit ?? 100,
  };
}

/** Search the STAC API. Throws NetworkError ("the STAC API cannot be reached", naming local files) when offline. */
export async function searchScenes(opts: DiscoverOptions & { datetime: string }): Promise<{ params: SearchParams; items: StacItemSummary[] }> {
  const params = searchParams(opts, normalizeDatetime(opts.datetime));
  const items = await searchItems({
    ...opts.remote, apiUrl: params.stacApi, collections: params.collections, bbox: params.bbox, datetime: params.datetime,
    maxCloud: params.maxCloud ?? undefined, limit: params.limit,
  });
  return { params, items };
}

/** The URL an item can be fetched from again. */
export function itemHref(item: StacItemSummary, stacApi: string): string {
  if (item.selfHref && /^https?:\/\//i.test(item.selfHref)) return item.selfHref;
  const c = item.collection ?? 'sentinel-2-l2a';
  return `${stacApi.replace(/\/+$/, '')}/collections/${encodeURIComponent(c)}/items/${encodeURIComponent(item.id)}`;
}

/** The brief form of an item. */
export function briefOf(item: StacItemSummary, stacApi: string): ItemBrief {
  return {
    id: item.id, href: itemHref(item, stacApi), datetime: item.datetime, platform: item.platform, tile: item.tile,
    relativeOrbit: item.relativeOrbit, cloudCover: item.cloudCover, processingBaseline: item.processingBaseline, epsg: item.epsg,
  };
}

/**
 * The coarsest image of the pyramid (full resolution or overview) whose window over `aoi` is at least
 * `minPixels` on each side, or the full-resolution image when none is; null window when the AOI misses it.
 */
export function pickSclImage(images: TiffImage[], aoi: Bounds, minPixels = 16): { image: TiffImage; window: Window | null } {
  const geo = images.filter((i) => i.grid);
  if (geo.length === 0) throw new RangeError('pickSclImage: no georeferenced image');
  const full = geo[0]!;
  const b = transformBounds(aoi, WGS84, full.grid!.crs);
  const coarseFirst = [...geo].sort((x, y) => x.width - y.width);
  for (const img of coarseFirst) {
    const w = boundsToWindow(img.grid!, b);
    if (w && w.width >= minPixels && w.height >= minPixels) return { image: img, window: w };
  }
  return { image: full, window: boundsToWindow(full.grid!, b) };
}

/** Count SCL classes in `values`: the clear share over every pixel of the window (nodata counts as not clear). */
export function clearShare(values: ArrayLike<number>): { fraction: number; counts: Record<string, number> } {
  const counts: Record<string, number> = {};
  let clear = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    counts[v] = (counts[v] ?? 0) + 1;
    if (v === 2 || (v >= 4 && v <= 7)) clear++;
  }
  return { fraction: values.length ? clear / values.length : 0, counts };
}

/**
 * The clear share of `aoi` in `item`, from its SCL asset's coarsest sufficient overview (only the AOI window is
 * read). Falls back to 1 − eo:cloud_cover/100 (noted) when the item has no SCL asset or it cannot be read;
 * a byte-cap refusal is rethrown.
 */
export async function measureClearFraction(item: StacItemSummary, aoi: Bounds, remote: RemoteReadOptions = {}, minPixels = 16): Promise<ClearMeasure> {
  const scl = item.assets.SCL;
  const fallback = (note: string, stats?: FetchStats): ClearMeasure => ({
    clearFraction: item.cloudCover !== null ? Math.max(0, 1 - item.cloudCover / 100) : 0,
    method: 'eo:cloud_cover', note, sclHref: scl?.href ?? null, image: null, window: null, classCounts: {},
    bytesFetched: stats?.bytesFetched ?? 0, requests: stats?.requests ?? 0, cacheHits: stats?.cacheHits ?? 0,
  });
  if (!scl) return fallback('no SCL asset in the item: 1 − eo:cloud_cover of the whole tile used');
  const opener = remoteOpener(remote);
  // A search result is a remote item: its SCL href must be an http(s) URL (UrlRefusedError otherwise, rethrown).
  const href = remoteAssetUrl(scl.href, item.id, 'SCL');
  const source: ByteSource = opener.open(href);
  try {
    const tiff = await openTiff(source);
    const { image, window } = pickSclImage(tiff.images, aoi, minPixels);
    const info = { width: image.width, height: image.height, pixelSize: Math.abs(image.grid!.transform[1]), overview: image.isOverview };
    if (!window) {
      return { clearFraction: 0, method: 'scl', note: 'the AOI is outside the SCL raster', sclHref: href, image: info, window: null, classCounts: {}, ...wire(opener.stats()) };
    }
    const [values] = await image.readWindow(window, [0]);
    const { fraction, counts } = clearShare(values!);
    return {
      clearFraction: fraction, method: image.isOverview ? 'scl-overview' : 'scl', note: null, sclHref: href, image: info, window,
      classCounts: counts, ...wire(opener.stats()),
    };
  } catch (err) {
    if (isS2ChangeError(err, 'LIMIT_EXCEEDED', 'URL_REFUSED')) throw err;
    return fallback(`SCL could not be read (${(err as Error).message}): 1 − eo:cloud_cover of the whole tile used`, opener.stats());
  } finally {
    await source.close?.().catch(() => undefined);
  }
}

const wire = (s: FetchStats): { bytesFetched: number; requests: number; cacheHits: number } =>
  ({ bytesFetched: s.bytesFetched, requests: s.requests, cacheHits: s.cacheHits });

/** The discovered pair with the summaries needed to open it. */
export interface DiscoveredPair {
  discovery: Discovery;
  /** The chosen items (for a mosaic: a summary standing for the group; see `scenes`). */
  before: StacItemSummary;
  after: StacItemSummary;
  /** What to open for each date: the input string (href) and the items to mosaic, in fill order. */
  scenes: { before: DiscoveredScene; after: DiscoveredScene };
}

/** One date of the pair: `href` is the input name; `members` are mosaicked in order (one member: no mosaic). */
export interface DiscoveredScene {
  href: string;
  members: StacItemSummary[];
}

/**
 * Group items of one acquisition (same UTC day, platform and relative orbit) whose footprints meet the AOI, so an
 * AOI spanning two MGRS tiles (or two UTM zones) becomes one mosaicked scene. Members are ordered by how much of
 * the AOI their footprint covers (largest first). Items whose footprint misses the AOI stay alone.
 */
export function groupAcquisitions(items: StacItemSummary[], aoi: Bounds): StacItemSummary[][] {
  const meets = (i: StacItemSummary): boolean => !i.bbox || (i.bbox[0] <= aoi.maxX && aoi.minX <= i.bbox[2] && i.bbox[1] <= aoi.maxY && aoi.minY <= i.bbox[3]);
  const cover = (i: StacItemSummary): number => !i.bbox ? 0
    : Math.max(0, Math.min(i.bbox[2], aoi.maxX) - Math.max(i.bbox[0], aoi.minX)) * Math.max(0, Math.min(i.bbox[3], aoi.maxY) - Math.max(i.bbox[1], aoi.minY));
  const groups = new Map<string, StacItemSummary[]>();
  const out: StacItemSummary[][] = [];
  for (const it of items) {
    if (!meets(it) || !it.datetime) {
      out.push([it]);
      continue;
    }
    const key = `${it.datetime.slice(0, 10)}|${it.platform ?? '?'}|${it.relativeOrbit ?? it.id}|${it.collection ?? ''}`;
    const g = groups.get(key);
    if (g) {
      if (!g.some((m) => m.tile !== null && m.tile === it.tile)) g.push(it); // a reprocessed duplicate of a tile is not a new tile
    } else {
      const fresh = [it];
      groups.set(key, fresh);
      out.push(fresh);
    }
  }
  return out.map((g) => [...g].sort((a, b) => cover(b) - cover(a)));
}

/** A summary standing for a group of items (ids and tiles joined with '+', bbox the union). */
function groupSummary(members: StacItemSummary[]): StacItemSummary {
  if (members.length === 1) return members[0]!;
  const boxes = members.map((m) => m.bbox).filter((b): b is [number, number, number, number] => b !== null);
  const cc = members.map((m) => m.cloudCover).filter((c): c is number => c !== null);
  return {
    ...members[0]!,
    id: members.map((m) => m.id).join('+'),
    tile: members.map((m) => m.tile ?? '?').join('+'),
    cloudCover: cc.length ? cc.reduce((a, b) => a + b, 0) / cc.length : null,
    bbox: boxes.length ? [Math.min(...boxes.map((b) => b[0])), Math.min(...boxes.map((b) => b[1])), Math.max(...boxes.map((b) => b[2])), Math.max(...boxes.map((b) => b[3]))] : null,
  };
}

/**
 * Search ±`windowDays` around `eventDate` over `bbox`, measure each candidate's clear AOI share from SCL, and choose
 * the before/after pair. Throws NetworkError when the STAC API cannot be reached and StacError when a side has no
 * usable scene (naming the options to change).
 */
export async function discoverPair(opts: DiscoverOptions & { eventDate: string; windowDays: number }): Promise<DiscoveredPair> {
  const event = new Date(`${opts.eventDate}${day(opts.eventDate) ? 'T00:00:00Z' : ''}`);
  const DAY = 86_400_000;
  const iso = (t: number): string => new Date(t).toISOString().replace(/\.\d{3}Z$/, 'Z');
  const datetime = opts.datetime ?? `${iso(event.getTime() - opts.windowDays * DAY)}/${iso(event.getTime() + opts.windowDays * DAY)}`;
  const log = opts.log ?? (() => {});
  const { params, items } = await searchScenes({ ...opts, datetime });
  log(`search: ${items.length} items from ${params.stacApi} (${params.collections.join(',')}, ${params.datetime})`);
  const measures = new Map<string, ClearMeasure>();
  const aoi = opts.bbox;
  const groups = groupAcquisitions(items, aoi);
  const membersOf = new Map(groups.map((g) => [groupSummary(g).id, g]));
  const choice = await choosePair([...membersOf.keys()].map((id) => groupSummary(membersOf.get(id)!)), {
    eventDate: event, windowDays: opts.windowDays, aoi: [aoi.minX, aoi.minY, aoi.maxX, aoi.maxY],
    clearFraction: async (item) => {
      const parts = await Promise.all(membersOf.get(item.id)!.map((mem) => measureClearFraction(mem, aoi, opts.remote, opts.minOverviewPixels ?? 16)));
      const m = parts.length === 1 ? parts[0]! : combineMeasures(parts);
      measures.set(item.id, m);
      log(`  ${item.id}: clear ${(100 * m.clearFraction).toFixed(1)} % of the AOI (${m.method}, ${m.bytesFetched} bytes)`);
      return m.clearFraction;
    },
  });
  let bytesFetched = 0;
  let requests = 0;
  let cacheHits = 0;
  for (const m of measures.values()) {
    bytesFetched += m.bytesFetched;
    requests += m.requests;
    cacheHits += m.cacheHits;
  }
  const discovery: Discovery = {
    search: { ...params, found: items.length },
    eventDate: opts.eventDate,
    windowDays: opts.windowDays,
    before: groupBrief(membersOf.get(choice.before.id)!, params.stacApi),
    after: groupBrief(membersOf.get(choice.after.id)!, params.stacApi),
    criteria: 'clear share of the AOI (SCL classes 2,4,5,6,7 over all pixels of the AOI window, from the coarsest SCL overview with ≥ '
      + `${opts.minOverviewPixels ?? 16}×${opts.minOverviewPixels ?? 16} px over the AOI) of the worse scene, then the mean clear share `
      + '(2 % steps), then same relative orbit, same MGRS tile, then fewest days from the event; eo:cloud_cover only when no SCL is readable',
    ranking: choice.ranking.map((r) => {
      const m = measures.get(r.id);
      return { ...r, clearMethod: m?.method ?? null, clearNote: m?.note ?? null, sclBytesFetched: m?.bytesFetched ?? null };
    }),
    sclReads: { bytesFetched, requests, cacheHits },
  };
  const scene = (id: string): DiscoveredScene => ({ href: groupBrief(membersOf.get(id)!, params.stacApi).href, members: membersOf.get(id)! });
  return { discovery, before: choice.before, after: choice.after, scenes: { before: scene(choice.before.id), after: scene(choice.after.id) } };
}

/** Brief of a group: one item as is; several as a mosaic with members and hrefs joined by " + ". */
function groupBrief(members: StacItemSummary[], stacApi: string): ItemBrief {
  if (members.length === 1) return briefOf(members[0]!, stacApi);
  const briefs = members.map((m) => briefOf(m, stacApi));
  return { ...briefOf(groupSummary(members), stacApi), href: briefs.map((b) => b.href).join(' + '), members: briefs };
}

/**
 * The clear share of a mosaic: the members' clear AOI pixels added up (each member's nodata outside its footprint
 * counts as not clear), capped at 1. Tile overlaps are counted twice, so this is an upper estimate; noted.
 */
function combineMeasures(parts: ClearMeasure[]): ClearMeasure {
  const sum = (f: (m: ClearMeasure) => number): number => parts.reduce((a, m) => a + f(m), 0);
  return {
    clearFraction: Math.min(1, sum((m) => m.clearFraction)),
    method: `mosaic of ${parts.length}: ${parts.map((m) => m.method).join(', ')}`,
    note: 'clear shares of the members added (tile overlaps counted twice), capped at 100 %',
    sclHref: parts.map((m) => m.sclHref ?? '-').join(' + '),
    image: parts[0]!.image, window: parts[0]!.window,
    classCounts: parts.reduce<Record<string, number>>((acc, m) => {
      for (const [k, v] of Object.entries(m.classCounts)) acc[k] = (acc[k] ?? 0) + v;
      return acc;
    }, {}),
    bytesFetched: sum((m) => m.bytesFetched), requests: sum((m) => m.requests), cacheHits: sum((m) => m.cacheHits),
  };
}

/**
 * The layers a run of `preset` on these items reads: the preset's bands (chosen from the assets both items offer),
 * SCL, and the quicklook bands (B04, B03, B02, or B11, B08, B03). Null when the preset cannot choose (detect
 * then reports the missing band itself).
 */
export function layersFor(preset: Preset, items: StacItemSummary[], options: PresetOptions): LayerName[] | null {
  const sets = items.map((i) => new Set(Object.keys(i.assets) as LayerName[]));
  const common = [...sets[0] ?? []].filter((l) => l !== 'SCL' && sets.every((s) => s.has(l))) as BandName[];
  let used: BandName[];
  try {
    used = preset.chooseBands(new Set(common), options);
  } catch {
    return null;
  }
  const rgb: BandName[] = ['B04', 'B03', 'B02'].every((b) => common.includes(b as BandName)) ? ['B04', 'B03', 'B02'] : ['B11', 'B08', 'B03'];
  return [...new Set<LayerName>([...used, 'SCL', ...rgb])];
}

/**
 * When every input is an http(s) STAC item URL: fetch the items once and return a scene opener that opens only
 * the layers `preset` reads (see `layersFor`), so unused bands cost no header request. Null otherwise (openScene
 * then opens every asset of a URL item).
 */
export async function itemUrlOpener(srcs: string[], remote: RemoteReadOptions, preset: Preset, options: PresetOptions):
  Promise<((src: string, opts: SceneOptions) => Promise<Scene>) | null> {
  const isItemUrl = (s: string): boolean => /^https?:\/\//i.test(s) && !/\.tiff?$/i.test(new URL(s).pathname);
  if (srcs.length === 0 || !srcs.every(isItemUrl)) return null;
  const opener = remoteOpener(remote);
  const items = await Promise.all(srcs.map(async (u) => {
    const { json, url } = await opener.fetchJson(u);
    return normalizeItem(json, url);
  }));
  return discoveredSceneOpener(srcs.map((href, i) => ({ href, members: [items[i]!] })), remote, layersFor(preset, items, options));
}

/**
 * A scene opener for `detect` that opens the discovered scenes from their search summaries (no second fetch of
 * the items) with `remote` read options, counting bytes per scene, opening only `layers` (when given) so no header
 * of an unused band is fetched, and mosaicking multi-item scenes; any other input goes to `openScene`.
 */
export function discoveredSceneOpener(scenes: DiscoveredScene[], remote: RemoteReadOptions = {},
  layers: LayerName[] | null = null): (src: string, opts: SceneOptions) => Promise<Scene> {
  const byHref = new Map(scenes.map((s) => [s.href, s.members]));
  return async (src, opts) => {
    const members = byHref.get(src);
    if (!members) return openScene(src, { ...opts, remote: opts.remote ?? remote });
    const opener = remoteOpener(opts.remote ?? remote);
    const only = (item: StacItemSummary): StacItemSummary =>
      layers ? { ...item, assets: Object.fromEntries(Object.entries(item.assets).filter(([k]) => layers.includes(k as LayerName))) } : item;
    if (members.length === 1) return sceneFromItem(only(members[0]!), src, opts, opener);
    const opened: Scene[] = [];
    try {
      for (const m of members) opened.push(await sceneFromItem(only(m), m.id, opts, opener));
    } catch (err) {
      await Promise.all(opened.map((s) => s.close()));
      throw err;
    }
    return mosaicScene(opened, src, opener);
  };
}

/**
 * One scene from several scenes of the same acquisition: each layer present in all of them gets the grid of the
 * first scene's band extended (on the same pixel lattice) to cover every member's footprint, and reads fill that
 * grid member by member, each filling only pixels still NaN (same CRS and lattice: exact copies; otherwise
 * reprojected with align.readOnGrid — bilinear for reflectance, nearest for SCL). Values come out physical
 * (reflectance or class), so the mosaic band's radiometry is the identity.
 */
export function mosaicScene(scenes: Scene[], input: string, opener?: RemoteOpener): Scene {
  const first = scenes[0]!;
  const bands = new Map<LayerName, BandRef>();
  for (const layer of first.bands.keys()) {
    const refs = scenes.map((s) => s.bands.get(layer));
    if (refs.some((r) => !r)) continue;
    bands.set(layer, mosaicBand(refs as BandRef[]));
  }
  const warnings = [...new Set(scenes.flatMap((s) => s.warnings))];
  warnings.push(`${input}: mosaic of ${scenes.length} items (${scenes.map((s) => s.provenance.tile ?? s.input).join(', ')}), gaps filled in that order`);
  return {
    input, format: 'stac-item', bands, georeferenced: true, warnings,
    provenance: { ...first.provenance, mosaic: scenes.map((s) => s.provenance) },
    ...(opener ? { fetchStats: () => opener.stats() } : {}),
    close: async () => { await Promise.all(scenes.map((s) => s.close())); },
  };
}

function mosaicBand(refs: BandRef[]): BandRef {
  const base = refs[0]!;
  const g = base.grid;
  if (!isNorthUp(g)) throw new RangeError('mosaic needs north-up grids');
  const t = g.transform;
  let b = gridBounds(g);
  for (const r of refs.slice(1)) {
    const rb = sameCrs(r.grid.crs, g.crs) ? gridBounds(r.grid) : transformBounds(gridBounds(r.grid), r.grid.crs, g.crs);
    b = { minX: Math.min(b.minX, rb.minX), minY: Math.min(b.minY, rb.minY), maxX: Math.max(b.maxX, rb.maxX), maxY: Math.max(b.maxY, rb.maxY) };
  }
  const c0 = Math.floor((b.minX - t[0]) / t[1] + 1e-6);
  const c1 = Math.ceil((b.maxX - t[0]) / t[1] - 1e-6);
  const r0 = Math.floor((b.maxY - t[3]) / t[5] + 1e-6);
  const r1 = Math.ceil((b.minY - t[3]) / t[5] - 1e-6);
  const grid: Grid = { crs: g.crs, transform: [t[0] + c0 * t[1], t[1], 0, t[3] + r0 * t[5], 0, t[5]], width: c1 - c0, height: r1 - r0 };
  return {
    name: base.name, href: refs.map((r) => r.href).join(' + '), sample: 0, grid, kind: base.kind,
    radiometry: { scale: 1, offset: 0, nodata: null, source: `mosaic of ${refs.length}: ${[...new Set(refs.map((r) => r.radiometry.source))].join(' | ')}` },
    async readStored(w) {
      const target = windowGrid(grid, w);
      const out = new Float32Array(w.width * w.height).fill(NaN);
      // A gap is NaN, or for class bands (SCL) the class nodata value (0 outside a tile's swath).
      const classNodata = base.kind === 'class' ? base.radiometry.nodata ?? 0 : NaN;
      for (const ref of refs) {
        const part = await readExact(ref, target) ?? await readOnGrid(ref, target);
        for (let i = 0; i < out.length; i++) if (out[i] !== out[i] || out[i] === classNodata) out[i] = part[i]!;
      }
      return out;
    },
  };
}

/** `ref` on `target` when both share CRS and pixel lattice (integer offset): an exact copy, NaN outside; else null. */
async function readExact(ref: BandRef, target: Grid): Promise<Float32Array | null> {
  const s = ref.grid.transform;
  const t = target.transform;
  if (!sameCrs(ref.grid.crs, target.crs) || !isNorthUp(ref.grid) || s[1] !== t[1] || s[5] !== t[5]) return null;
  const dx = (t[0] - s[0]) / s[1];
  const dy = (t[3] - s[3]) / s[5];
  if (Math.abs(dx - Math.round(dx)) > 1e-6 || Math.abs(dy - Math.round(dy)) > 1e-6) return null;
  const ox = Math.round(dx);
  const oy = Math.round(dy);
  const out = new Float32Array(target.width * target.height).fill(NaN);
  const x0 = Math.max(0, ox), y0 = Math.max(0, oy);
  const x1 = Math.min(ref.grid.width, ox + target.width), y1 = Math.min(ref.grid.height, oy + target.height);
  if (x1 <= x0 || y1 <= y0) return out;
  const win = { x: x0, y: y0, width: x1 - x0, height: y1 - y0 };
  const vals = toPhysical(await ref.readStored(win), ref);
  for (let r = 0; r < win.height; r++) {
    out.set(vals.subarray(r * win.width, (r + 1) * win.width), (y0 - oy + r) * target.width + (x0 - ox));
  }
  return out;
}
