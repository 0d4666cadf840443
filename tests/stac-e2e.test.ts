/**
 * Issue #6 end to end, offline: a STAC API on 127.0.0.1 (items shaped like Earth Search v1, built from the real
 * 29RKH item) whose assets are the real COGs served with HTTP Range by a second local server. Checks the pair
 * choice (AOI clear share from SCL, not eo:cloud_cover), that only the AOI's tiles are fetched (byte counts from
 * GDAL's block offsets/sizes), that pixels equal a run on the same files from disk, and the offline message.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isS2ChangeError } from '../src/errors.js';
import { writeCog } from '../src/io/cog-writer.js';
import { diskRangeCache } from '../src/io/range-cache.js';
import { createFetchBudget } from '../src/io/stac-scene.js';
import { openTiffFile } from '../src/io/tiff/index.js';
import { windowGrid } from '../src/raster/grid.js';
import { getPreset } from '../src/change/presets/index.js';
import { detect } from '../src/pipeline/detect.js';
import { discoveredSceneOpener, discoverPair, layersFor, searchScenes } from '../src/pipeline/discover.js';
import { dataDir, hasGdal, pythonJson } from './helpers/gdal.js';
import { startRangeServer, type RangeServer } from './helpers/range-server.js';
import { startStacServer, type StacServer } from './helpers/stac-server.js';

const DATA = dataDir();
const D = path.join(DATA, 's2-l2a-cog-29RKH/tests/fixtures/sentinel-cogs/sentinel-s2-l2a-cogs/29/R/KH/2020/2/S2A_29RKH_20200219_0_L2A');
const CLI = path.resolve('dist/cli/main.js');
/**
 * AOI: UTM 29N x 219980..227980, y 2732020..2740020 (SCL rows 300..340, cols 100..140; B04 rows 600..680,
 * cols 200..280: inside tile (1, 0) of the 10 m bands and tile (0, 0) of the 20 m bands), as lon/lat (GDAL osr).
 */
const AOI = { minX: -11.765, minY: 24.68, maxX: -11.69, maxY: 24.745 };
const BBOX = `${AOI.minX},${AOI.minY},${AOI.maxX},${AOI.maxY}`;
const EVENT = '2020-02-15';
const LAYERS = ['B02', 'B03', 'B04', 'B08', 'SCL'];
const FILE_OF: Record<string, string> = { B02: 'B02.tif', B03: 'B03.tif', B04: 'B04.tif', B08: 'B08.tif', SCL: 'SCL.tif' };

const tmp = mkdtempSync(path.join(os.tmpdir(), 's2change-stac-e2e-'));
const SYN = path.join(tmp, 'synthetic');
const DISK = path.join(tmp, 'disk');
let real: RangeServer;
let syn: RangeServer;
let stac: StacServer;
let items: Record<string, any>[];
const FAST = { allowPrivateNetwork: true, retryBaseMs: 5, timeoutMs: 5000 };

/** The real item with another id/date/cloud cover; asset hrefs made by `href(assetFile)`. */
function variant(id: string, datetime: string, cloud: number, href: (file: string, key: string) => string): Record<string, any> {
  const base = JSON.parse(readFileSync(path.join(D, 'S2A_29RKH_20200219_0_L2A.json'), 'utf8'));
  base.id = id;
  base.properties.datetime = datetime;
  base.properties['eo:cloud_cover'] = cloud;
  base.links = base.links.filter((l: any) => l.rel !== 'self' && l.rel !== 'canonical');
  for (const [key, a] of Object.entries<any>(base.assets)) {
    const m = /\/([^/]+)$/.exec(a.href);
    if (m) a.href = href(m[1]!, key);
  }
  return base;
}

async function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

beforeAll(async () => {
  mkdirSync(SYN, { recursive: true });
  mkdirSync(DISK, { recursive: true });
  // Synthetic SCL: clear (5) everywhere except thick cloud (9) over the AOI with a margin (rows 290..350, cols 90..150).
  const scl = await openTiffFile(path.join(D, 'SCL.tif'));
  const grid = scl.images[0]!.grid!;
  const cloudy = new Uint8Array(grid.width * grid.height).fill(5);
  for (let r = 290; r < 350; r++) for (let c = 90; c < 150; c++) cloudy[r * grid.width + c] = 9;
  await scl.close();
  await writeCog(path.join(SYN, 'SCL_cloudy_aoi.tif'), { grid, bands: [cloudy] }, { nodata: 0 });
  // Synthetic after NIR: the real B08 with NIR × 0.3 in rows 630..660, cols 220..250 (inside the AOI): NDVI loss.
  const b08 = await openTiffFile(path.join(D, 'B08.tif'));
  const g8 = b08.images[0]!.grid!;
  const [nir] = await b08.images[0]!.readWindow();
  await b08.close();
  const lowered = new Uint16Array(nir as Uint16Array);
  for (let r = 630; r < 660; r++) for (let c = 220; c < 250; c++) lowered[r * g8.width + c] = Math.round(lowered[r * g8.width + c]! * 0.3);
  await writeCog(path.join(SYN, 'B08_after.tif'), { grid: g8, bands: [lowered] }, { nodata: 0 });

  real = await startRangeServer(D);
  syn = await startRangeServer(SYN);
  // Distinct URLs per item (?item=) so one item's reads never hit the cache entries of another.
  const remoteHref = (item: string) => (file: string, key: string) =>
    key === 'scl' && item === 'B' ? syn.url('SCL_cloudy_aoi.tif')
      : key === 'nir' && item === 'C' ? `${syn.url('B08_after.tif')}?item=C`
        : `${real.url(file)}?item=${item}`;
  items = [
    variant('S2A_29RKH_20200201_0_L2A', '2020-02-01T11:34:25Z', 30, remoteHref('A')),
    variant('S2A_29RKH_20200210_0_L2A', '2020-02-10T11:34:25Z', 1, remoteHref('B')),
    variant('S2A_29RKH_20200219_0_L2A', '2020-02-19T11:34:25Z', 4.05, remoteHref('C')),
    variant('S2B_29RKH_20200305_0_L2A', '2020-03-05T11:34:25Z', 60, remoteHref('D')),
  ];
  items[3]!.properties['sat:relative_orbit'] = 80; // another viewing geometry
  stac = await startStacServer(items);
  // The same two scenes as local STAC items (absolute paths) for the from-disk run.
  const localHref = (item: string) => (file: string, key: string) => (key === 'nir' && item === 'C' ? path.join(SYN, 'B08_after.tif') : path.join(D, file));
  writeFileSync(path.join(DISK, 'before.json'), JSON.stringify(variant(items[0]!.id, items[0]!.properties.datetime, 30, localHref('A'))));
  writeFileSync(path.join(DISK, 'after.json'), JSON.stringify(variant(items[2]!.id, items[2]!.properties.datetime, 4.05, localHref('C'))));
});

afterAll(async () => {
  await Promise.all([real?.close(), syn?.close(), stac?.close()]);
});

describe('pair selection from the AOI clear share', () => {
  it('picks the clear-in-the-AOI scene, not the lowest eo:cloud_cover, and explains the runners-up', async () => {
    const { discovery, before, after } = await discoverPair({
      stacApi: stac.origin, bbox: AOI, eventDate: EVENT, windowDays: 30, remote: FAST,
    });
    // Fixture sanity: eo:cloud_cover alone would choose B (1 % vs 30 %) before the event.
    expect(items[1]!.properties['eo:cloud_cover']).toBeLessThan(items[0]!.properties['eo:cloud_cover']);
    expect(before.id).toBe(items[0]!.id);
    expect(after.id).toBe(items[2]!.id);
    const row = (i: number) => discovery.ranking.find((r) => r.id === items[i]!.id)!;
    expect(row(1).clearFraction).toBe(0); // all cloud (9) over the AOI, by construction
    expect(row(1).reason).toMatch(/excluded: no clear pixels in the AOI/);
    expect(row(3).reason).toMatch(/not chosen \(the chosen pair has the same relative orbit\)/);
    expect(row(0).chosen && row(2).chosen).toBe(true);
    expect(row(0).clearMethod).toBe('scl-overview');
    expect(discovery.search).toMatchObject({ stacApi: stac.origin, collections: ['sentinel-2-l2a'], found: 4, bbox: [AOI.minX, AOI.minY, AOI.maxX, AOI.maxY] });
    expect(discovery.before.href).toBe(`${stac.origin}/collections/sentinel-2-l2a/items/${items[0]!.id}`);
    // SCL reads: at most the (small) SCL files, never more.
    for (const r of discovery.ranking) expect(r.sclBytesFetched!).toBeLessThanOrEqual(statSync(path.join(D, 'SCL.tif')).size + 16384);
  });

  it.skipIf(!hasGdal())(`clear share of a real item matches numpy on the full-resolution SCL within 2 % (GDAL oracle)`, async () => {
    const truth = pythonJson(`
import sys, json, numpy as np
from osgeo import gdal, osr
ds = gdal.Open(sys.argv[1]); a = ds.ReadAsArray(); gt = ds.GetGeoTransform()
s = osr.SpatialReference(); s.ImportFromEPSG(4326); s.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
t = osr.SpatialReference(); t.ImportFromWkt(ds.GetProjection())
ct = osr.CoordinateTransformation(s, t)
w, so, e, n = [float(v) for v in sys.argv[2].split(',')]
xs, ys = [], []
for f in np.linspace(0, 1, 21):
    for (x, y) in [(w + f*(e-w), so), (w + f*(e-w), n), (w, so + f*(n-so)), (e, so + f*(n-so))]:
        px, py, _ = ct.TransformPoint(x, y); xs.append(px); ys.append(py)
c0 = int(np.floor((min(xs) - gt[0]) / gt[1])); c1 = int(np.ceil((max(xs) - gt[0]) / gt[1]))
r0 = int(np.floor((max(ys) - gt[3]) / gt[5])); r1 = int(np.ceil((min(ys) - gt[3]) / gt[5]))
win = a[r0:r1, c0:c1]
print(json.dumps({"clear": float(np.isin(win, [2, 4, 5, 6, 7]).mean())}))
`, [path.join(D, 'SCL.tif'), BBOX]);
    const { discovery } = await discoverPair({ stacApi: stac.origin, bbox: AOI, eventDate: EVENT, windowDays: 30, remote: FAST });
    const mine = discovery.ranking.find((r) => r.id === items[0]!.id)!.clearFraction!;
    expect(Math.abs(mine - truth.clear)).toBeLessThanOrEqual(0.02);
  });
});

/**
 * `detect` (vegetation, AOI) on the discovered scenes over HTTP, checked against the same run on the items on disk:
 * the same grid, classes and products, byte for byte. Returns the HTTP run.
 */
async function detectSameAsDisk(found: Awaited<ReturnType<typeof discoverPair>>, remote: Parameters<typeof discoveredSceneOpener>[1],
  layers: ReturnType<typeof layersFor>) {
  const viaHttp = await detect({
    before: found.scenes.before.href, after: found.scenes.after.href, preset: 'vegetation', bbox: AOI,
    open: discoveredSceneOpener([found.scenes.before, found.scenes.after], remote, layers), scene: { remote },
  });
  const fromDisk = await detect({ before: path.join(DISK, 'before.json'), after: path.join(DISK, 'after.json'), preset: 'vegetation', bbox: AOI });
  expect(viaHttp.grid).toEqual(fromDisk.grid);
  expect(Buffer.from(viaHttp.result.classes).equals(Buffer.from(fromDisk.result.classes))).toBe(true);
  expect(fromDisk.result.products.length).toBeGreaterThan(0);
  for (let k = 0; k < fromDisk.result.products.length; k++) {
    expect(Buffer.from(viaHttp.result.products[k]!.values.buffer).equals(Buffer.from(fromDisk.result.products[k]!.values.buffer))).toBe(true);
  }
  return viaHttp;
}

describe('detect on discovered scenes over HTTP', () => {
  it.skipIf(!hasGdal())(`reads only the AOI tiles, and its pixels equal a run on the same files from disk (GDAL oracle)`, async () => {
    const cache = diskRangeCache({ dir: path.join(tmp, 'cache-fn') });
    const remote = { ...FAST, cache, budget: createFetchBudget(64 * 1024 * 1024) };
    const found = await discoverPair({ stacApi: stac.origin, bbox: AOI, eventDate: EVENT, windowDays: 30, remote });
    const layers = layersFor(getPreset('vegetation'), [...found.scenes.before.members, ...found.scenes.after.members], {});
    expect([...layers!].sort()).toEqual(LAYERS);
    const viaHttp = await detectSameAsDisk(found, remote, layers);
    // The lowered NIR block is found as change (so the comparison above compares something).
    const changed = viaHttp.result.classes.filter((v) => v !== 0 && v !== 255).length;
    expect(changed).toBeGreaterThan(100);

    // Bytes: per file, the 64 KiB header read (or the whole file if smaller) + every tile the AOI window (with the
    // 2-pixel resampling halo) touches that lies past the header, each once (repeats come from the range cache).
    const oracle = pythonJson(`
import sys, json, numpy as np
from osgeo import gdal, osr
w, so, e, n = [float(v) for v in sys.argv[1].split(',')]
out = {}
for f in sys.argv[2:]:
    ds = gdal.Open(f); b = ds.GetRasterBand(1); gt = ds.GetGeoTransform()
    s = osr.SpatialReference(); s.ImportFromEPSG(4326); s.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    t = osr.SpatialReference(); t.ImportFromWkt(ds.GetProjection())
    ct = osr.CoordinateTransformation(s, t)
    xs, ys = [], []
    for fr in np.linspace(0, 1, 21):
        for (x, y) in [(w + fr*(e-w), so), (w + fr*(e-w), n), (w, so + fr*(n-so)), (e, so + fr*(n-so))]:
            px, py, _ = ct.TransformPoint(x, y); xs.append(px); ys.append(py)
    c0 = int(np.floor((min(xs) - gt[0]) / gt[1])) - 3; c1 = int(np.ceil((max(xs) - gt[0]) / gt[1])) + 3
    r0 = int(np.floor((max(ys) - gt[3]) / gt[5])) - 3; r1 = int(np.ceil((min(ys) - gt[3]) / gt[5])) + 3
    bx, by = b.GetBlockSize()
    size = __import__('os').path.getsize(f)
    head = min(65536, size)
    blocks = set((cx, cy) for cx in range(c0 // bx, (c1 - 1) // bx + 1) for cy in range(r0 // by, (r1 - 1) // by + 1))
    tiles = 0
    for (cx, cy) in blocks:
        off = int(b.GetMetadataItem('BLOCK_OFFSET_%d_%d' % (cx, cy), 'TIFF')); sz = int(b.GetMetadataItem('BLOCK_SIZE_%d_%d' % (cx, cy), 'TIFF'))
        if off + sz > head: tiles += sz
    out[f] = {"bytes": head + tiles, "blocks": len(blocks), "size": size}
    del b; ds = None
print(json.dumps(out))
`, [BBOX, ...LAYERS.map((l) => path.join(D, FILE_OF[l]!)), path.join(SYN, 'B08_after.tif')]);
    const file = (l: string, role: 'before' | 'after') => (role === 'after' && l === 'B08' ? path.join(SYN, 'B08_after.tif') : path.join(D, FILE_OF[l]!));
    for (const role of ['before', 'after'] as const) {
      const input = viaHttp.inputs.find((i) => i.role === role)!;
      const expected = LAYERS.reduce((s, l) => s + oracle[file(l, role)].bytes, 0);
      const whole = LAYERS.reduce((s, l) => s + oracle[file(l, role)].size, 0);
      for (const l of LAYERS) expect(oracle[file(l, role)].blocks, `${l}: the AOI fits one tile`).toBe(1);
      expect(input.bytesFetched, role).toBe(expected);
      expect(input.bytesFetched!).toBeLessThan(whole / 4); // 5 files of ~9 MB in all: one tile each + headers
      expect(input.cacheHits!).toBeGreaterThanOrEqual(1); // B04 read twice (NDVI, quicklook): once on the wire
    }
  });
});

describe('byte cap and range cache', () => {
  const run = async (remote: Parameters<typeof discoverPair>[0]['remote']) => {
    const found = await discoverPair({ stacApi: stac.origin, bbox: AOI, eventDate: EVENT, windowDays: 30, remote });
    const layers = layersFor(getPreset('vegetation'), [...found.scenes.before.members, ...found.scenes.after.members], {});
    return detect({
      before: found.scenes.before.href, after: found.scenes.after.href, preset: 'vegetation', bbox: AOI,
      open: discoveredSceneOpener([found.scenes.before, found.scenes.after], remote, layers), scene: { remote },
    });
  };

  it('--max-fetch-mb: a run needing more than the cap stops with LIMIT_EXCEEDED naming the option', async () => {
    const err = await run({ ...FAST, budget: createFetchBudget(1024 * 1024) }).catch((e) => e);
    expect(isS2ChangeError(err, 'LIMIT_EXCEEDED')).toBe(true);
    expect(err.message).toMatch(/--max-fetch-mb/);
  });

  it('a second run over the same AOI takes every tile from the cache: only the headers go over the wire again', async () => {
    const dir = path.join(tmp, 'cache-twice');
    const first = await run({ ...FAST, cache: diskRangeCache({ dir }) });
    const second = await run({ ...FAST, cache: diskRangeCache({ dir }) });
    for (const role of ['before', 'after'] as const) {
      const a = first.inputs.find((i) => i.role === role)!;
      const b = second.inputs.find((i) => i.role === role)!;
      // Headers: 64 KiB for each of B02, B03, B04, B08 and the whole 8268-byte SCL.
      expect(b.bytesFetched, role).toBe(4 * 65536 + statSync(path.join(D, 'SCL.tif')).size);
      expect(b.cacheHits!).toBe(a.cacheHits! + 4); // the four band tiles
    }
    expect(Buffer.from(second.result.classes).equals(Buffer.from(first.result.classes))).toBe(true);
  });
});

describe('an AOI spanning two tiles of one acquisition', () => {
  let stac2: StacServer;
  beforeAll(async () => {
    // Split the after scene into a western (cols 0..260 at 100 m) and an eastern (240..end) "tile" overlapping by
    // 20 columns, both crossing the AOI (B04 cols 200..280); the mosaic must rebuild the original pixels exactly.
    const dir = path.join(SYN, 'mosaic');
    mkdirSync(dir, { recursive: true });
    const sources: Record<string, string> = {
      blue: path.join(D, 'B02.tif'), green: path.join(D, 'B03.tif'), red: path.join(D, 'B04.tif'),
      nir: path.join(SYN, 'B08_after.tif'), scl: path.join(D, 'SCL.tif'),
    };
    for (const [key, file] of Object.entries(sources)) {
      const tif = await openTiffFile(file);
      const img = tif.images[0]!;
      const [all] = await img.readWindow();
      await tif.close();
      const split = Math.round(img.width * 240 / 1098);
      const over = Math.round(img.width * 20 / 1098);
      for (const [side, x0, x1] of [['W', 0, split + over], ['E', split, img.width]] as const) {
        const w = { x: x0, y: 0, width: x1 - x0, height: img.height };
        const Ctor = all!.constructor as Uint8ArrayConstructor;
        const part = new Ctor(w.width * w.height);
        for (let r = 0; r < w.height; r++) part.set((all as Uint8Array).subarray(r * img.width + x0, r * img.width + x1), r * w.width);
        await writeCog(path.join(dir, `${side}_${key}.tif`), { grid: windowGrid(img.grid!, w), bands: [part] }, { nodata: 0 });
      }
    }
    const half = (side: 'W' | 'E') => (file: string, key: string) =>
      sources[key] ? `${syn.url(`mosaic/${side}_${key}.tif`)}` : real.url(file);
    const west = variant('S2A_29RKW_20200219_0_L2A', '2020-02-19T11:34:25Z', 4, half('W'));
    const east = variant('S2A_29RKE_20200219_0_L2A', '2020-02-19T11:34:25Z', 4, half('E'));
    west.properties['s2:mgrs_tile'] = '29RKW';
    east.properties['s2:mgrs_tile'] = '29RKE';
    west.bbox = [-11.98, 24.29, -11.72, 25.31];
    east.bbox = [-11.76, 24.29, -10.87, 25.31];
    stac2 = await startStacServer([items[0]!, west, east]);
  });
  afterAll(async () => {
    await stac2?.close();
  });

  it('mosaics the two items of the after date and equals the single-tile run from disk', async () => {
    const remote = { ...FAST, cache: diskRangeCache({ dir: path.join(tmp, 'cache-mosaic') }) };
    const found = await discoverPair({ stacApi: stac2.origin, bbox: AOI, eventDate: EVENT, windowDays: 30, remote });
    expect(found.scenes.after.members.map((m) => m.tile).sort()).toEqual(['29RKE', '29RKW']);
    expect(found.discovery.after.members).toHaveLength(2);
    expect(found.discovery.after.href).toContain(' + ');
    const layers = layersFor(getPreset('vegetation'), [...found.scenes.before.members, ...found.scenes.after.members], {});
    const viaHttp = await detectSameAsDisk(found, remote, layers);
    expect(viaHttp.warnings.join(' ')).toMatch(/mosaic of 2 items/);
  });
});

describe('no network', () => {
  it('search says the STAC API cannot be reached and how to use local files', async () => {
    const port = await closedPort();
    const err = await searchScenes({ stacApi: `http://127.0.0.1:${port}`, bbox: AOI, datetime: '2020-02-01/2020-03-01', remote: FAST }).catch((e) => e);
    expect(isS2ChangeError(err, 'NETWORK')).toBe(true);
    expect(err.message).toMatch(/STAC API cannot be reached/);
    expect(err.message).toMatch(/--before .*--after/);
  });
});

/** The compiled CLI loads (others' in-progress modules can break the build for a while). */
function cliWorks(): boolean {
  const r = spawnSync(process.execPath, [CLI, '--version'], { encoding: 'utf8' });
  return r.status === 0;
}

/** Run the CLI without blocking this process's event loop (the test servers live in it). */
function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (c: Buffer) => { stdout += c.toString('utf8'); });
    p.stderr.on('data', (c: Buffer) => { stderr += c.toString('utf8'); });
    p.on('error', reject);
    p.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

describe.skipIf(!cliWorks())('the compiled CLI (node dist/cli/main.js)', () => {
  const net = () => ['--stac-api', stac.origin, '--allow-private-network', '--cache-dir', path.join(tmp, 'cache-cli')];

  it('search --json lists the items with their cloud cover', async () => {
    const r = await cli(['search', '--bbox', BBOX, '--datetime', '2020-01-01/2020-03-31', '--max-cloud', '20', '--json', ...net().slice(0, 3)]);
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.items.map((i: any) => i.id)).toEqual([items[1]!.id, items[2]!.id]);
    expect(j.search.datetime).toBe('2020-01-01T00:00:00Z/2020-03-31T23:59:59Z');
  });

  it('pair --json picks the right pair and explains it', async () => {
    const r = await cli(['pair', '--bbox', BBOX, '--event-date', EVENT, '--window-days', '30', '--json', ...net()]);
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect([j.before.id, j.after.id]).toEqual([items[0]!.id, items[2]!.id]);
    expect(j.ranking.find((x: any) => x.id === items[1]!.id).reason).toMatch(/no clear pixels in the AOI/);
  });

  it.skipIf(!hasGdal())('detect --event-date runs end to end; change.tif equals a run from disk; bytes and discovery in summary.json', async () => {
    const outHttp = path.join(tmp, 'out-http');
    const outDisk = path.join(tmp, 'out-disk');
    const r = await cli(['detect', '--event-date', EVENT, '--bbox', BBOX, '--preset', 'vegetation', '--out', outHttp, '--json', ...net()]);
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    const d = await cli(['detect', '--before', path.join(DISK, 'before.json'), '--after', path.join(DISK, 'after.json'), '--bbox', BBOX,
      '--preset', 'vegetation', '--out', outDisk, '--json']);
    expect(d.code, d.stderr).toBe(0);
    const summary = JSON.parse(readFileSync(path.join(outHttp, 'summary.json'), 'utf8'));
    expect(summary.discovery.before.id).toBe(items[0]!.id);
    expect(summary.discovery.ranking.length).toBe(4);
    for (const i of j.inputs) {
      expect(i.bytesFetched).toBeGreaterThan(0);
      expect(i.bytesFetched).toBeLessThan(2_000_000); // the five files hold ~ 7.6 MB
      expect(i.requests).toBeGreaterThan(0);
    }
    const same = pythonJson(`
import sys, json, numpy as np
from osgeo import gdal
a = gdal.Open(sys.argv[1]).ReadAsArray(); b = gdal.Open(sys.argv[2]).ReadAsArray()
print(json.dumps({"shape": list(a.shape), "equal": bool(a.shape == b.shape and (a == b).all()), "changed": int(((a != 0) & (a != 255)).sum())}))
`, [path.join(outHttp, 'change.tif'), path.join(outDisk, 'change.tif')]);
    expect(same.equal).toBe(true);
    expect(same.changed).toBeGreaterThan(100);

    // summary.json records the asset URLs each date was read from (inputs[].layers), and `view` draws them
    for (const i of summary.inputs) {
      expect(Object.keys(i.layers).sort()).toEqual(['B04', 'B08', 'SCL']); // vegetation reads NDVI's bands and the SCL only
      for (const [band, href] of Object.entries(i.layers as Record<string, string>)) {
        expect(href).toMatch(/^http:\/\/127\.0\.0\.1:\d+\//);
        expect(new URL(href).pathname).toMatch(new RegExp(`^/${band}(_after)?\\.tif$`)); // the item's asset for that band
      }
    }
    const { startViewServer } = await import('../src/view/server.js');
    const view = await startViewServer({ dir: outHttp, remote: { allowPrivateNetwork: true, retries: 0 } });
    try {
      const before = view.plan.manifest.inputs.find((v) => v.role === 'before')!;
      expect(before.notShown).toBeNull();
      expect(Object.keys(before.bands).sort()).toEqual(['B04', 'B08']); // SCL is not drawn
      expect(before.bands.B04!.scale).toBeCloseTo(0.0001, 10);
      const href = summary.inputs.find((i: any) => i.role === 'before').layers.B04 as string;
      const direct = await fetch(href, { headers: { Range: 'bytes=500-1499' } });
      const want = Buffer.from(await direct.arrayBuffer());
      expect(direct.status).toBe(206);
      const got = await fetch(`${view.url.replace(/\/$/, '')}${before.bands.B04!.url}`, { headers: { Range: 'bytes=500-1499' } });
      expect(got.status).toBe(206);
      expect(Buffer.from(await got.arrayBuffer()).equals(want)).toBe(true);
    } finally {
      await view.close();
    }
    // the default policy (public addresses only): the 127.0.0.1 asset is refused with 502, not fetched
    const strict = await startViewServer({ dir: outHttp, remote: { retries: 0 } });
    try {
      const url = strict.plan.manifest.inputs.find((v) => v.role === 'after')!.bands.B04!.url;
      const r = await fetch(`${strict.url.replace(/\/$/, '')}${url}`, { headers: { Range: 'bytes=0-99' } });
      expect(r.status).toBe(502);
    } finally {
      await strict.close();
    }
  });

  it.skipIf(!hasGdal())('detect --before URL --after URL (STAC item URLs) reads only the needed bands and equals a run from disk', async () => {
    mkdirSync(path.join(SYN, 'items'), { recursive: true });
    writeFileSync(path.join(SYN, 'items', 'A.json'), JSON.stringify(items[0]));
    writeFileSync(path.join(SYN, 'items', 'C.json'), JSON.stringify(items[2]));
    const outUrl = path.join(tmp, 'out-url');
    const outDisk = path.join(tmp, 'out-disk-2');
    const r = await cli(['detect', '--before', syn.url('items/A.json'), '--after', syn.url('items/C.json'), '--bbox', BBOX,
      '--preset', 'vegetation', '--out', outUrl, '--json', '--allow-private-network', '--cache-dir', path.join(tmp, 'cache-url')]);
    expect(r.code, r.stderr).toBe(0);
    const d = await cli(['detect', '--before', path.join(DISK, 'before.json'), '--after', path.join(DISK, 'after.json'), '--bbox', BBOX,
      '--preset', 'vegetation', '--out', outDisk]);
    expect(d.code, d.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    for (const i of j.inputs) {
      expect(i.requests).toBe(9); // 5 headers (B02, B03, B04, B08, SCL) + 4 band tiles; the other 8 bands are never opened
      expect(i.bytesFetched).toBeLessThan(2_000_000);
    }
    const same = pythonJson(`
import sys, json
from osgeo import gdal
a = gdal.Open(sys.argv[1]).ReadAsArray(); b = gdal.Open(sys.argv[2]).ReadAsArray()
print(json.dumps({"equal": bool(a.shape == b.shape and (a == b).all())}))
`, [path.join(outUrl, 'change.tif'), path.join(outDisk, 'change.tif')]);
    expect(same.equal).toBe(true);
  });

  it('with the STAC API unreachable, search and detect exit 1 and say how to use local files', async () => {
    const port = await closedPort();
    for (const args of [
      ['search', '--bbox', BBOX, '--datetime', '2020-02-01/2020-03-01'],
      ['detect', '--event-date', EVENT, '--bbox', BBOX, '--preset', 'vegetation', '--out', path.join(tmp, 'out-offline')],
    ]) {
      const r = await cli([...args, '--stac-api', `http://127.0.0.1:${port}`, '--allow-private-network']);
      expect(r.code, args[0]).toBe(1);
      expect(r.stderr).toMatch(/STAC API cannot be reached/);
      expect(r.stderr).toMatch(/--before .*--after/);
    }
  });
});
