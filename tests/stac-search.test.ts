import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { isS2ChangeError } from '../src/errors.js';
import { fetchItem, normalizeItem, radiometryFor, searchItems, type StacItemSummary } from '../src/io/stac-search.js';
import { startRangeServer } from './helpers/range-server.js';
import { choosePair } from '../src/io/stac-pair.js';
import { startStacServer, type StacServer } from './helpers/stac-server.js';

const DATA = process.env.S2CHANGE_DATA ?? path.resolve(import.meta.dirname, '../../shared/data');
const ITEM_PATH = path.join(
  DATA,
  's2-l2a-cog-29RKH/tests/fixtures/sentinel-cogs/sentinel-s2-l2a-cogs/29/R/KH/2020/2/S2A_29RKH_20200219_0_L2A/S2A_29RKH_20200219_0_L2A.json',
);
const BASE: Record<string, any> = JSON.parse(readFileSync(ITEM_PATH, 'utf8'));
const COG = 'https://sentinel-cogs.s3.us-west-2.amazonaws.com/sentinel-s2-l2a-cogs/29/R/KH/2020/2/S2A_29RKH_20200219_0_L2A';

/** A copy of the real item with another id/date/cloud/baseline. */
function variant(i: number, cloud: number, baseline = '02.14'): Record<string, any> {
  const it = structuredClone(BASE);
  it.id = `S2A_29RKH_202002${String(10 + i).padStart(2, '0')}_0_L2A`;
  it.properties.datetime = `2020-02-${String(10 + i).padStart(2, '0')}T11:34:25Z`;
  it.properties['eo:cloud_cover'] = cloud;
  it.properties['s2:processing_baseline'] = baseline;
  return it;
}

const ITEMS = [variant(0, 4), variant(1, 80), variant(2, 12), variant(3, 0.5, '04.00'), variant(4, 33)];
const FAST = { allowPrivateNetwork: true, retryBaseMs: 5, timeoutMs: 2000 };

let stac: StacServer;
beforeAll(async () => {
  stac = await startStacServer(ITEMS);
});
afterAll(async () => {
  await stac.close();
});

describe('searchItems', () => {
  it('POSTs /search, follows POST next links (body merged), returns every item in order', async () => {
    stac.requests.length = 0;
    stac.paging = 'post';
    const got = await searchItems({ ...FAST, apiUrl: stac.origin, bbox: [-12, 24, -10, 26], datetime: '2020-02-01/2020-03-01', pageSize: 2 });
    expect(got.map((i) => i.id)).toEqual(ITEMS.map((i) => i.id));
    expect(stac.requests.map((r) => r.method)).toEqual(['POST', 'POST', 'POST']);
    const [first, second] = stac.requests.map((r) => r.body!);
    expect(first).toMatchObject({ collections: ['sentinel-2-l2a'], bbox: [-12, 24, -10, 26], datetime: '2020-02-01/2020-03-01', limit: 2 });
    expect(second).toMatchObject({ collections: ['sentinel-2-l2a'], bbox: [-12, 24, -10, 26], next: '2' });
  });

  it('follows GET next links and stops at limit', async () => {
    stac.requests.length = 0;
    stac.paging = 'get';
    const got = await searchItems({ ...FAST, apiUrl: stac.origin, limit: 3, pageSize: 2 });
    expect(got.map((i) => i.id)).toEqual(ITEMS.slice(0, 3).map((i) => i.id));
    expect(stac.requests.map((r) => r.method)).toEqual(['POST', 'GET']);
    stac.paging = 'post';
  });

  it('sends the cloud filter as `query` (default) or CQL2', async () => {
    stac.requests.length = 0;
    const q = await searchItems({ ...FAST, apiUrl: stac.origin, maxCloud: 20, pageSize: 2 });
    expect(q.map((i) => i.cloudCover)).toEqual([4, 12, 0.5]);
    expect(stac.requests[0].body!.query).toEqual({ 'eo:cloud_cover': { lt: 20 } });
    const c = await searchItems({ ...FAST, apiUrl: stac.origin, maxCloud: 20, cloudFilter: 'cql2' });
    expect(c.map((i) => i.cloudCover)).toEqual([4, 12, 0.5]);
    expect(stac.requests.at(-1)!.body).toMatchObject({ 'filter-lang': 'cql2-json', filter: { op: '<', args: [{ property: 'eo:cloud_cover' }, 20] } });
  });

  it('normalises Earth Search v1 items (facts checked against PROVENANCE.md / the JSON by hand)', async () => {
    const [it0] = await searchItems({ ...FAST, apiUrl: stac.origin, limit: 1 });
    expect(it0).toMatchObject({ platform: 'sentinel-2a', tile: '29RKH', relativeOrbit: 37, processingBaseline: '02.14', boaOffsetApplied: false, epsg: 32629, collection: 'sentinel-2-l2a' });
    expect(it0.bbox).toEqual(BASE.bbox);
    expect(Object.keys(it0.assets).sort()).toEqual(['B01', 'B02', 'B03', 'B04', 'B05', 'B06', 'B07', 'B08', 'B09', 'B11', 'B12', 'B8A', 'SCL']);
    expect(it0.assets.B02).toEqual({ href: `${COG}/B02.tif`, key: 'blue', scale: 0.0001, offset: 0, nodata: 0, gsd: 10 });
    expect(it0.assets.B8A!.href).toBe(`${COG}/B8A.tif`);
    expect(it0.assets.B12!.href).toBe(`${COG}/B12.tif`);
    expect(it0.assets.SCL!.href).toBe(`${COG}/SCL.tif`);
  });

  it('says the STAC API cannot be reached and how to work offline', async () => {
    const port = await new Promise<number>((r) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => r(p));
      });
    });
    const err = await searchItems({ ...FAST, apiUrl: `http://127.0.0.1:${port}` }).catch((e) => e);
    expect(isS2ChangeError(err, 'NETWORK')).toBe(true);
    expect(String(err)).toMatch(/STAC API cannot be reached/);
    expect(String(err)).toContain('--before DIR --after DIR');
    const dns = await searchItems({ apiUrl: 'https://earth-search.example', resolve: async () => { throw Object.assign(new Error('x'), { code: 'ENOTFOUND' }); } }).catch((e) => e);
    expect(String(dns)).toMatch(/cannot be reached.*ENOTFOUND/s);
  });

  it('reports an API error status as StacError', async () => {
    stac.failWith = 400;
    const err = await searchItems({ ...FAST, apiUrl: stac.origin }).catch((e) => e);
    stac.failWith = null;
    expect(isS2ChangeError(err, 'STAC')).toBe(true);
    expect(String(err)).toContain('HTTP 400');
  });

  it('fetchItem reads one item by URL (final URL is the base of relative hrefs)', async () => {
    const files = await startRangeServer(path.dirname(ITEM_PATH));
    try {
      const item = await fetchItem(files.url(path.basename(ITEM_PATH)), FAST);
      expect(item).toMatchObject({ id: 'S2A_29RKH_20200219_0_L2A', tile: '29RKH', selfHref: files.url(path.basename(ITEM_PATH)) });
      expect(item.assets.B04!.href).toBe(`${COG}/B04.tif`);
      const missing = await fetchItem(files.url('nope.json'), FAST).catch((e) => e);
      expect(isS2ChangeError(missing, 'STAC')).toBe(true);
    } finally {
      await files.close();
    }
  });

  it('refuses a private API address unless allowed', async () => {
    const err = await searchItems({ apiUrl: stac.origin }).catch((e) => e);
    expect(isS2ChangeError(err, 'URL_REFUSED')).toBe(true);
  });
});

describe('normalizeItem variants', () => {
  it('older B04/SCL keys with relative hrefs resolve against the self link or the file path', () => {
    const item = {
      type: 'Feature', id: 'S2B_MSIL2A_20230105T105339_N0509_R051_T31UFU_20230105T120000', collection: 'x',
      properties: { datetime: '2023-01-05T10:53:39Z', 'sentinel:utm_zone': 31, 'sentinel:latitude_band': 'U', 'sentinel:grid_square': 'FU', 'proj:code': 'EPSG:32631' },
      links: [{ rel: 'self', href: 'https://example.org/items/a/item.json' }],
      assets: { B04: { href: './B04.tif' }, SCL: { href: 'SCL.tif' }, B8A: { href: '../b/B8A.tif' }, 'B04-jp2': { href: 'B04.jp2' } },
    };
    const n = normalizeItem(item);
    expect(n.assets.B04!.href).toBe('https://example.org/items/a/B04.tif');
    expect(n.assets.SCL!.href).toBe('https://example.org/items/a/SCL.tif');
    expect(n.assets.B8A!.href).toBe('https://example.org/items/b/B8A.tif');
    expect(n).toMatchObject({ tile: '31UFU', relativeOrbit: 51, processingBaseline: '05.09', epsg: 32631, boaOffsetApplied: null });
    const local = normalizeItem(item, 'file:///data/scene/item.json');
    expect(local.assets.B04!.href).toBe('file:///data/scene/B04.tif');
  });

  it('STAC 1.1 `bands` with an unknown asset key, and rejects non-items', () => {
    const item = {
      type: 'Feature', id: 'x', properties: { datetime: '2024-01-01T00:00:00Z', 's2:mgrs_tile': '33UXP' },
      assets: { 'reflectance-red': { href: 'https://h/r.tif', bands: [{ name: 'B04', scale: 0.0001, offset: -0.1, nodata: 0 }], 'proj:code': 'EPSG:32633' } },
    };
    const n = normalizeItem(item);
    expect(n.assets.B04).toMatchObject({ href: 'https://h/r.tif', key: 'reflectance-red', scale: 0.0001, offset: -0.1, nodata: 0 });
    expect(n.epsg).toBe(32633);
    expect(n.tile).toBe('33UXP');
    expect(() => normalizeItem({ type: 'FeatureCollection', features: [] }, 'x.json')).toThrow(/not a STAC Item/);
  });
});

describe('radiometryFor', () => {
  const make = (baseline: string | null, boa: boolean | null, raster?: { scale: number; offset: number }): StacItemSummary => {
    const it = structuredClone(BASE);
    if (baseline === null) {
      delete it.properties['s2:processing_baseline'];
      it.properties['s2:product_uri'] = 'unknown';
      it.id = 'noinfo';
    } else it.properties['s2:processing_baseline'] = baseline;
    if (boa === null) delete it.properties['earthsearch:boa_offset_applied'];
    else it.properties['earthsearch:boa_offset_applied'] = boa;
    for (const a of Object.values<any>(it.assets)) {
      if (raster) a['raster:bands'] = [{ nodata: 0, data_type: 'uint16', ...raster }];
      else delete a['raster:bands'];
    }
    return normalizeItem(it);
  };
  /** reflectance of a DN under a decision: (DN + offset) * scale. */
  const refl = (r: { scale: number; offset: number }, dn: number) => (dn + r.offset) * r.scale;

  it('baseline 02.14 → no offset; 04.00 → −1000 DN', () => {
    const old = radiometryFor(make('02.14', false), 'B04');
    expect(old).toMatchObject({ scale: 0.0001, offset: 0, warning: null });
    expect(old.source).toMatch(/02\.14/);
    const nu = radiometryFor(make('04.00', false), 'red');
    expect(nu).toMatchObject({ scale: 0.0001, offset: -1000, warning: null });
    expect(refl(nu, 2000)).toBeCloseTo(0.1, 12);
    expect(radiometryFor(make('05.09', null), 'B8A').offset).toBe(-1000);
  });

  it('boa_offset_applied true → offset 0 and says so', () => {
    const r = radiometryFor(make('04.00', true), 'B11');
    expect(r.offset).toBe(0);
    expect(r.source).toMatch(/boa_offset_applied: true/);
  });

  it('raster:bands wins, converted to DN; contradictions are reported', () => {
    const r = radiometryFor(make('04.00', false, { scale: 0.0001, offset: -0.1 }), 'B04');
    expect(r.offset).toBeCloseTo(-1000, 9);
    expect(r.source).toMatch(/raster:bands/);
    expect(r.warning).toBeNull();
    expect(refl(r, 3000)).toBeCloseTo(0.2, 9);
    const clash = radiometryFor(make('04.00', true, { scale: 0.0001, offset: -0.1 }), 'B04');
    expect(clash.offset).toBeCloseTo(-1000, 9);
    expect(clash.warning).toMatch(/boa_offset_applied is true/);
    const clash2 = radiometryFor(make('04.00', false, { scale: 0.0001, offset: 0 }), 'B04');
    expect(clash2.warning).toMatch(/implies offset -1000/);
    // the real fixture: raster:bands offset 0, baseline 02.14 → consistent
    expect(radiometryFor(normalizeItem(BASE), 'B02')).toMatchObject({ scale: 0.0001, offset: 0, warning: null });
  });

  it('nothing known → offset 0 flagged as an assumption', () => {
    const r = radiometryFor(make(null, null), 'B04');
    expect(r.offset).toBe(0);
    expect(r.source).toMatch(/assumed/);
    expect(r.warning).toMatch(/assumed none/);
  });
});

describe('choosePair', () => {
  const item = (id: string, date: string, orbit: number, tile = '29RKH', cloud = 10): StacItemSummary => ({
    ...normalizeItem(BASE), id, datetime: date, relativeOrbit: orbit, tile, cloudCover: cloud,
  });
  const clear: Record<string, number> = {};
  const clearFraction = async (i: StacItemSummary) => clear[i.id];

  it('prefers the clearest scenes, then same orbit, then closeness; explains every item', async () => {
    const items = [
      item('b-far', '2020-02-01T11:00:00Z', 37), // 18 days before
      item('b-near-other-orbit', '2020-02-17T11:00:00Z', 80),
      item('b-cloudy', '2020-02-18T11:00:00Z', 37),
      item('b-out', '2019-12-01T11:00:00Z', 37),
      item('a-near', '2020-02-21T11:00:00Z', 37),
      item('a-later', '2020-02-26T11:00:00Z', 37),
    ];
    Object.assign(clear, { 'b-far': 0.95, 'b-near-other-orbit': 0.96, 'b-cloudy': 0.4, 'a-near': 0.97, 'a-later': 0.97 });
    const res = await choosePair(items, { eventDate: '2020-02-19', windowDays: 30, clearFraction });
    // b-far and b-near-other-orbit tie on clearness (within 2 %), orbit 37 matches the after scene → b-far.
    expect(res.before.id).toBe('b-far');
    expect(res.after.id).toBe('a-near');
    const row = (id: string) => res.ranking.find((r) => r.id === id)!;
    expect(row('b-out').reason).toMatch(/outside the ±30-day window/);
    expect(row('b-out').clearFraction).toBeNull();
    expect(row('b-near-other-orbit').reason).toMatch(/same relative orbit/);
    expect(row('b-cloudy').reason).toMatch(/clearer worst scene/);
    expect(row('a-later').reason).toMatch(/closer to the event/);
    expect(row('b-far').daysFromEvent).toBeCloseTo(-17.54, 2);
    expect(res.ranking.filter((r) => r.chosen).map((r) => r.id)).toEqual(['b-far', 'a-near']);
  });

  it('a much clearer scene beats orbit matching; no candidate on one side is an error naming the fix', async () => {
    const items = [item('b1', '2020-02-10T00:00:00Z', 37), item('b2', '2020-02-12T00:00:00Z', 80), item('a1', '2020-02-20T00:00:00Z', 37)];
    Object.assign(clear, { b1: 0.5, b2: 0.9, a1: 0.9 });
    expect((await choosePair(items, { eventDate: '2020-02-19', windowDays: 15, clearFraction })).before.id).toBe('b2');
    const err = await choosePair(items.slice(0, 2), { eventDate: '2020-02-19', windowDays: 15, clearFraction }).catch((e) => e);
    expect(isS2ChangeError(err, 'STAC')).toBe(true);
    expect(String(err)).toMatch(/no usable scene after the event.*--window-days/s);
  });

  it('excludes items whose footprint misses the AOI', async () => {
    const items = [item('b1', '2020-02-10T00:00:00Z', 37), item('b2', '2020-02-12T00:00:00Z', 37), item('a1', '2020-02-20T00:00:00Z', 37)];
    items[1] = { ...items[1], bbox: [10, 10, 11, 11] };
    Object.assign(clear, { b1: 0.5, b2: 0.99, a1: 0.9 });
    const res = await choosePair(items, { eventDate: '2020-02-19', windowDays: 15, aoi: [-11.5, 24.5, -11.4, 24.6], clearFraction });
    expect(res.before.id).toBe('b1');
    expect(res.ranking.find((r) => r.id === 'b2')!.reason).toMatch(/does not meet the AOI/);
  });
});
