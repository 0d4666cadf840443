/**
 * A STAC Item as a scene: its band assets (Earth Search v1 keys red/nir/swir16…, or older B04/B08/SCL keys)
 * resolved relative to the item, read through the hardened TIFF reader — local paths through the file source,
 * URLs through the HTTP range source (only the tiles a window needs are fetched; bytes and requests are counted).
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { LimitExceededError, MissingBandError, NetworkError, StacError, UrlRefusedError, isS2ChangeError } from '../errors.js';
import type { BandRef, LayerName, Radiometry, Scene, SceneOptions } from './scene.js';
import { tiffOverviews } from './overviews.js';
import { normalizeItem, radiometryFor, type StacItemSummary } from './stac-search.js';
import { openTiff, type TiffFile } from './tiff/index.js';
import { fileSource } from './file-source.js';
import type { ByteSource } from './byte-source.js';
import { httpFetch, httpSource, type HttpOptions, type HttpSource } from './http-source.js';
import { redact } from './url-policy.js';
import type { RangeCache } from './range-cache.js';

/** What a set of remote sources did on the wire. */
export interface FetchStats {
  bytesFetched: number;
  requests: number;
  retries: number;
  cacheHits: number;
  /** Remote files opened. */
  files: number;
}

/** A cap on the bytes fetched by every source that shares it (option --max-fetch-mb). */
export interface FetchBudget {
  readonly maxBytes: number;
  /** Bytes fetched so far by all sharing sources. */
  used(): number;
  /** Called by openers: count this source against the budget. */
  track(stats: { bytesFetched: number }): void;
}

/** A budget of `maxBytes` (default unlimited) shared by the openers it is given to. */
export function createFetchBudget(maxBytes = Infinity): FetchBudget {
  const tracked: Array<{ bytesFetched: number }> = [];
  return {
    maxBytes,
    used: () => tracked.reduce((s, t) => s + t.bytesFetched, 0),
    track: (s) => void tracked.push(s),
  };
}

/** How URLs are read: URL policy, retries and timeouts (HttpOptions), range cache, byte budget. */
export interface RemoteReadOptions extends HttpOptions {
  cache?: RangeCache;
  /** Shared byte cap; without it, reads are unlimited. */
  budget?: FetchBudget;
}

/** Opens URLs as ByteSources and keeps their wire statistics. */
export interface RemoteOpener {
  open(url: string): ByteSource;
  /** Fetch one small document (a STAC item) with the same policy, counting it. */
  fetchJson(url: string): Promise<{ json: unknown; url: string }>;
  stats(): FetchStats;
}

/** A RemoteOpener over `httpSource` with `opts`; every source is counted in `stats()` and against `opts.budget`. */
export function remoteOpener(opts: RemoteReadOptions = {}): RemoteOpener {
  const sources: HttpSource[] = [];
  const extra = { bytesFetched: 0, requests: 0 };
  const budget = opts.budget;
  if (budget) budget.track(extra);
  return {
    open(url) {
      const remaining = budget ? Math.max(0, budget.maxBytes - budget.used()) : Infinity;
      const src = httpSource(url, { ...opts, maxBytes: remaining });
      sources.push(src);
      if (!budget) return src;
      budget.track(src.stats);
      return {
        name: src.name,
        size: () => src.size(),
        close: () => src.close(),
        async read(offset, length) {
          const used = budget.used();
          if (used + length > budget.maxBytes) {
            throw new LimitExceededError('fetch byte cap reached', {
              input: src.name,
              expected: `at most ${budget.maxBytes} bytes fetched in total (${(budget.maxBytes / 1048576).toFixed(1)} MB)`,
              found: `${used + length} bytes needed`,
              fix: 'Raise the cap with --max-fetch-mb, or choose a smaller area (--bbox) so fewer tiles are read',
            });
          }
          return src.read(offset, length);
        },
      };
    },
    async fetchJson(url) {
      let res;
      try {
        res = await httpFetch(url, { ...opts, headers: { accept: 'application/geo+json, application/json' }, maxResponseBytes: 16 * 1024 * 1024 });
      } catch (err) {
        if (isS2ChangeError(err, 'NETWORK')) {
          throw new NetworkError('the STAC item cannot be fetched', {
            input: url, expected: 'an answer from the server', found: err.found ?? err.message,
            fix: 'Check your connection and the URL; to work offline, download the item and its assets and pass local paths', cause: err,
          });
        }
        throw err;
      }
      extra.requests++;
      extra.bytesFetched += res.body.length;
      if (res.status !== 200) {
        throw new StacError(`HTTP ${res.status} for the STAC item`, { input: url, expected: 'HTTP 200 with a STAC Item', found: `HTTP ${res.status}`, fix: 'Check the URL (or the collection/id)' });
      }
      try {
        return { json: JSON.parse(Buffer.from(res.body).toString('utf8')) as unknown, url: res.url.href };
      } catch (err) {
        throw new StacError('STAC item is not JSON', { input: url, expected: 'a JSON STAC Item', found: 'unparseable text', cause: err });
      }
    },
    stats() {
      const s: FetchStats = { bytesFetched: extra.bytesFetched, requests: extra.requests, retries: 0, cacheHits: 0, files: sources.length };
      for (const src of sources) {
        s.bytesFetched += src.stats.bytesFetched;
        s.requests += src.stats.requests;
        s.retries += src.stats.retries;
        s.cacheHits += src.stats.cacheHits;
      }
      return s;
    },
  };
}

/** Options of the STAC scene loaders. */
export interface StacSceneOptions extends SceneOptions {
  /** Opens a URL as a ByteSource (the HTTP source); without it only local assets can be read. */
  openUrl?: (url: string) => ByteSource;
  /**
   * Where the item itself was read from. Default 'remote' (fetched over HTTP, or a search result): its assets may
   * only be http(s) URLs. Only an item read from a local file ('local') may name local files.
   */
  itemOrigin?: ItemOrigin;
}

/** Where a STAC item was read from; it decides what its asset hrefs may reach (see `assetTarget`). */
export type ItemOrigin = 'local' | 'remote';

/** What an asset href of an item may be read from: a URL (HTTP range source) or a local path (file source). */
export type AssetTarget = { kind: 'url'; url: string } | { kind: 'file'; path: string };

/**
 * Decide what the asset `href` of an item from `origin` reads, before anything is opened. Hrefs were already
 * resolved against the item's own location by `normalizeItem` (a remote item's relative hrefs against its URL, so
 * `../../etc/passwd` stays on that server). A remote item reaches http(s) URLs only: `file://`, plain paths and any
 * other scheme are `UrlRefusedError`. A local item may also name local files (`file://` or a path); other schemes
 * (`ftp:`, `s3:`, `data:` …) are refused too. The message quotes the item's own text, never a local file's bytes.
 */
export function assetTarget(href: string, origin: ItemOrigin, input: string, asset: string): AssetTarget {
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(href)?.[1]?.toLowerCase();
  if (scheme === 'http' || scheme === 'https') return { kind: 'url', url: href };
  const shown = scheme === undefined ? JSON.stringify(href.slice(0, 200)) : safeHref(href);
  if (origin === 'remote') {
    throw new UrlRefusedError('a remote STAC item may not name local files or non-HTTP URLs', {
      input: `${input} (asset ${asset})`,
      expected: 'an http(s) URL (relative hrefs resolve against the item\'s own URL)',
      found: scheme === undefined ? `the path ${shown}` : `scheme ${scheme}:// in ${shown}`,
      fix: 'Nothing was opened. If you trust this item and its files, download them and pass the item\'s local path',
    });
  }
  if (scheme === 'file') {
    const u = new URL(href);
    if (u.host !== '' && u.host !== 'localhost') {
      throw new UrlRefusedError('file:// href names another host', {
        input: `${input} (asset ${asset})`, expected: 'file:///absolute/path or a path relative to the item', found: shown,
        fix: 'Copy the asset to this machine and give its local path',
      });
    }
    return { kind: 'file', path: decodeURIComponent(u.pathname) };
  }
  if (scheme === undefined) return { kind: 'file', path: href };
  throw new UrlRefusedError('asset href scheme not supported', {
    input: `${input} (asset ${asset})`, expected: 'an http(s) URL, a file:// URL or a path relative to the item',
    found: `scheme ${scheme}:// in ${shown}`, fix: 'Use the asset\'s https:// URL, or download it and give its local path',
  });
}

/** The URL a remote item's asset `href` reads (`assetTarget` with origin 'remote', which never yields a file). */
export function remoteAssetUrl(href: string, input: string, asset: string): string {
  const target = assetTarget(href, 'remote', input, asset);
  if (target.kind !== 'url') throw new Error('unreachable: a remote item yields URLs only');
  return target.url;
}

function safeHref(href: string): string {
  try {
    return redact(new URL(href));
  } catch {
    return JSON.stringify(href.slice(0, 200));
  }
}

/** Build a scene from a parsed STAC item found at `itemPath` (a file path or URL). */
export async function loadStacItemScene(itemPath: string, json: unknown, opts: StacSceneOptions): Promise<Scene> {
  const isUrl = /^https?:\/\//i.test(itemPath);
  const base = isUrl ? itemPath : `file://${path.resolve(itemPath)}`;
  let item;
  try {
    item = normalizeItem(json, base);
  } catch (err) {
    throw new StacError('not a usable STAC item', {
      input: itemPath, expected: 'a STAC Item (type "Feature") with band assets', found: String((err as Error).message), cause: err,
    });
  }
  if (!isUrl) item = { ...item, assets: assetsBeside(item.assets, path.dirname(path.resolve(itemPath))) };
  return sceneFromItem(item, itemPath, { ...opts, itemOrigin: isUrl ? 'remote' : 'local' });
}

/**
 * Assets whose URL names a file that already sits next to the item (downloaded with it, e.g. B04.tif beside
 * S2A_…_L2A.json) point to that local file instead, so the item reads offline; other assets are unchanged.
 */
function assetsBeside<T extends { href: string }>(assets: Record<string, T>, dir: string): Record<string, T> {
  const out: Record<string, T> = {};
  for (const [k, a] of Object.entries(assets)) {
    let local: string | null = null;
    if (/^https?:\/\//i.test(a.href)) {
      const name = path.basename(decodeURIComponent(new URL(a.href).pathname));
      if (name && existsSync(path.join(dir, name))) local = path.join(dir, name);
    }
    out[k] = local ? { ...a, href: local } : a;
  }
  return out;
}

/**
 * Open the STAC item at `url` (fetched with the opener's policy) and read its assets over HTTP; the scene's
 * `fetchStats()` counts the item request and every range request of its assets.
 */
export async function loadStacItemUrl(url: string, opts: SceneOptions, opener = remoteOpener(opts.remote)): Promise<Scene> {
  const { json, url: finalUrl } = await opener.fetchJson(url);
  let item;
  try {
    item = normalizeItem(json, finalUrl);
  } catch (err) {
    throw new StacError('not a usable STAC item', {
      input: url, expected: 'a STAC Item (type "Feature") with band assets', found: String((err as Error).message), cause: err,
    });
  }
  return sceneFromItem(item, url, { ...opts, openUrl: (u) => opener.open(u), itemOrigin: 'remote' }, opener);
}

/**
 * A scene over the assets of a normalised STAC item (e.g. a search result). URL assets are opened with
 * `opts.openUrl`, or with `opener` (whose statistics the scene then reports), or skipped when neither is given.
 * Only headers are read here; pixels are read per window later.
 */
export async function sceneFromItem(item: StacItemSummary, input: string, opts: StacSceneOptions, opener?: RemoteOpener): Promise<Scene> {
  const openUrl = opts.openUrl ?? (opener ? (u: string) => opener.open(u) : undefined);
  const origin = opts.itemOrigin ?? 'remote';
  // Every href is judged before any asset is opened: one refused href opens nothing at all.
  for (const [name, asset] of Object.entries(item.assets)) assetTarget(asset.href, origin, input, name);
  const files: TiffFile[] = [];
  const bands = new Map<LayerName, BandRef>();
  const warnings: string[] = [];
  try {
    const entries = Object.entries(item.assets);
    const settled = await Promise.allSettled(entries.map(async ([name, asset]) => {
      const target = assetTarget(asset.href, origin, input, name);
      const href = target.kind === 'url' ? target.url : target.path;
      let source: ByteSource;
      if (target.kind === 'url') {
        if (!openUrl) return null; // URLs are opened only by callers that allow the network
        source = openUrl(href);
      } else {
        source = fileSource(href);
      }
      const file = await openTiff(source, opts.limits).catch(async (err: unknown) => {
        await source.close?.().catch(() => undefined);
        throw err;
      });
      files.push(file);
      return { layer: name as LayerName, asset, href, file };
    }));
    const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason; // every file that did open is in `files` and closed below
    const opened = settled.flatMap((r) => (r.status === 'fulfilled' && r.value ? [r.value] : []));
    for (const o of opened) {
      const { layer, asset, href, file } = o;
      const img = file.images[0]!;
      if (!img.grid) continue;
      const kind = layer === 'SCL' ? 'class' : 'reflectance';
      let radiometry: Radiometry;
      if (kind === 'class') radiometry = { scale: 1, offset: 0, nodata: img.nodata ?? 0, source: 'class band: values used as stored' };
      else {
        const r = radiometryFor(item, layer);
        if (r.warning) warnings.push(r.warning);
        radiometry = { scale: opts.scale ?? r.scale, offset: opts.offset ?? r.offset, nodata: asset.nodata ?? img.nodata ?? 0, source: r.source };
      }
      bands.set(layer, {
        name: layer, href, sample: 0, grid: img.grid, radiometry, kind, overviews: tiffOverviews(file, img, 0),
        async readStored(w) {
          const [a] = await img.readWindow(w, [0]);
          return a!;
        },
      });
    }
  } catch (err) {
    await Promise.all(files.map((f) => f.close()));
    throw err;
  }
  if (bands.size === 0) {
    await Promise.all(files.map((f) => f.close()));
    throw new MissingBandError('no readable band assets in the STAC item', {
      input, expected: 'band assets (red, nir, swir16, … or B04, B08, …) with local hrefs or reachable URLs',
      found: Object.keys(item.assets).join(', ') || 'none',
      fix: 'Download the assets next to the item, or allow network reads',
    });
  }
  return {
    input, format: 'stac-item', bands, georeferenced: true, warnings: [...new Set(warnings)],
    provenance: {
      stacItem: item.id, datetime: item.datetime, platform: item.platform, tile: item.tile,
      processingBaseline: item.processingBaseline, boaOffsetApplied: item.boaOffsetApplied, cloudCover: item.cloudCover,
    },
    ...(opener ? { fetchStats: () => opener.stats() } : {}),
    close: async () => { await Promise.all(files.map((f) => f.close())); },
  };
}
