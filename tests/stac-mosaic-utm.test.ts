/**
 * Issue #6, an acquisition split across two UTM zones: item 1 is the western part of the real 29RKH COGs
 * (EPSG:32629, `gdal_translate -srcwin`), item 2 the eastern part warped by GDAL to EPSG:32628 (`gdalwarp`,
 * bilinear for reflectance, nearest for SCL), overlapping by 2 km; both are served over HTTP Range by the test
 * server. The mosaic over an AOI across the seam, on item 1's grid, must equal GDAL's read of the ORIGINAL
 * un-split files: exactly on the item-1 side, and within the error of a double bilinear resampling on the item-2
 * side (median |diff| < 1 % of the value, valid coverage > 99 %; SCL by nearest: ≥ 90 % of the classes equal).
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { discoveredSceneOpener, groupAcquisitions } from '../src/pipeline/discover.js';
import { normalizeItem, type StacItemSummary } from '../src/io/stac-search.js';
import type { Scene } from '../src/io/scene.js';
import { dataDir, GDAL_SKIP_REASON, hasGdal, pythonJson, run } from './helpers/gdal.js';
import { startRangeServer, type RangeServer } from './helpers/range-server.js';

const D = path.join(dataDir(), 's2-l2a-cog-29RKH/tests/fixtures/sentinel-cogs/sentinel-s2-l2a-cogs/29/R/KH/2020/2/S2A_29RKH_20200219_0_L2A');
const FAST = { allowPrivateNetwork: true, retryBaseMs: 5, timeoutMs: 5000 };
/** B04/B08 are 1098 x 1098 at 100 m from (199980, 2800020); SCL 549 x 549 at 200 m. West: cols 0..620; east: 600..1098. */
const SPLIT = 600;
const OVERLAP = 20;
/** The check window in the original 100 m grid: cols 500..700 (the seam at 620), rows 500..600. */
const WIN = { x: 500, y: 500, width: 200, height: 100 };
const KEYS: Record<string, string> = { red: 'B04', nir: 'B08', scl: 'SCL' };

describe.skipIf(!hasGdal())(`mosaic of two items in two UTM zones${hasGdal() ? '' : ` (skipped: ${GDAL_SKIP_REASON})`}`, () => {
  let tmp = '';
  let server: RangeServer;
  let west: StacItemSummary;
  let east: StacItemSummary;
  let scene: Scene;

  beforeAll(async () => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 's2change-mosaic-utm-'));
    const dir = path.join(tmp, 'parts');
    mkdirSync(dir);
    for (const band of Object.values(KEYS)) {
      const f = band === 'SCL' ? 2 : 1; // SCL pixels are twice as large
      const src = path.join(D, `${band}.tif`);
      const size = 1098 / f;
      run('gdal_translate', ['-q', '-srcwin', '0', '0', String((SPLIT + OVERLAP) / f), String(size), src, path.join(dir, `W_${band}.tif`)]);
      run('gdal_translate', ['-q', '-srcwin', String(SPLIT / f), '0', String(size - SPLIT / f), String(size), src, path.join(dir, `E32629_${band}.tif`)]);
      run('gdalwarp', ['-q', '-t_srs', 'EPSG:32628', '-r', band === 'SCL' ? 'near' : 'bilinear', '-tr', String(100 * f), String(100 * f),
        '-srcnodata', '0', '-dstnodata', '0', '-co', 'TILED=YES', path.join(dir, `E32629_${band}.tif`), path.join(dir, `E_${band}.tif`)]);
    }
    server = await startRangeServer(dir);
    const item = (side: 'W' | 'E', tile: string, epsg: number): StacItemSummary => {
      const json = JSON.parse(readFileSync(path.join(D, 'S2A_29RKH_20200219_0_L2A.json'), 'utf8'));
      json.id = `S2A_${tile}_20200219_0_L2A`;
      json.properties['s2:mgrs_tile'] = tile;
      json.properties['proj:epsg'] = epsg;
      json.links = [];
      json.assets = Object.fromEntries(Object.entries<any>(json.assets).filter(([k]) => KEYS[k])
        .map(([k, a]) => [k, { ...a, href: `${server.url(`${side}_${KEYS[k]}.tif`)}`, 'proj:shape': undefined, 'proj:transform': undefined }]));
      return normalizeItem(json);
    };
    west = { ...item('W', '29RKW', 32629), bbox: [-11.98, 24.29, -11.354, 25.31] };
    east = { ...item('E', '28RKE', 32628), bbox: [-11.375, 24.29, -10.87, 25.31] };
  });

  afterAll(async () => {
    await scene?.close();
    await server?.close();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('groups the two items into one acquisition, the item covering more of the AOI first', () => {
    // AOI: the check window as lon/lat (about 12 km west of the seam at x = 261980 m, 8 km east of it).
    const aoi = { minX: -11.47, minY: 24.76, maxX: -11.28, maxY: 24.84 };
    const groups = groupAcquisitions([east, west], aoi);
    expect(groups).toHaveLength(1);
    expect(groups[0]!.map((m) => m.id)).toEqual([west.id, east.id]);
  });

  it('B04, B08 and SCL of the mosaic equal the original un-split files (GDAL): exact west of the seam, within resampling error east of it', async () => {
    scene = await discoveredSceneOpener([{ href: 'mosaic', members: [west, east] }], FAST)('mosaic', { remote: FAST });
    expect(scene.warnings.join(' ')).toMatch(/mosaic of 2 items/);
    for (const band of ['B04', 'B08', 'SCL'] as const) {
      const ref = scene.bands.get(band)!;
      const f = band === 'SCL' ? 2 : 1;
      const t = ref.grid.transform;
      // The mosaic grid is item 1's (EPSG:32629) on the same pixel lattice as the original tile.
      expect(ref.grid.crs.epsg).toBe(32629);
      expect([t[1], t[5]]).toEqual([100 * f, -100 * f]);
      const ox = (199980 - t[0]) / t[1];
      const oy = (2800020 - t[3]) / t[5];
      expect(Number.isInteger(ox) && Number.isInteger(oy)).toBe(true);
      const w = { x: WIN.x / f, y: WIN.y / f, width: WIN.width / f, height: WIN.height / f };
      const mine = await ref.readStored({ ...w, x: w.x + ox, y: w.y + oy });
      const truth = pythonJson(`
import sys, json
from osgeo import gdal
x, y, w, h = [int(v) for v in sys.argv[2:6]]
a = gdal.Open(sys.argv[1]).ReadAsArray(x, y, w, h)
print(json.dumps(a.astype(float).ravel().tolist()))
`, [path.join(D, `${band}.tif`), String(w.x), String(w.y), String(w.width), String(w.height)]) as number[];
      const seam = (SPLIT + OVERLAP) / f - w.x; // first column (in the window) that only item 2 covers
      const phys = (dn: number) => (band === 'SCL' ? dn : dn === 0 ? NaN : dn * 1e-4); // raster:bands scale 0.0001, offset 0, nodata 0
      let westN = 0;
      let westEqual = 0;
      const rel: number[] = [];
      let eastN = 0;
      let eastValid = 0;
      let eastSame = 0;
      for (let r = 0; r < w.height; r++) {
        for (let c = 0; c < w.width; c++) {
          const i = r * w.width + c;
          const want = phys(truth[i]!);
          const got = mine[i]!;
          if (c < seam) {
            westN++;
            if (Object.is(got, want) || Math.abs(got - want) < 1e-7) westEqual++;
          } else if (want === want && truth[i] !== 0) {
            eastN++;
            if (got === got && got !== 0) {
              eastValid++;
              rel.push(Math.abs(got - want) / want);
              if (got === want) eastSame++;
            }
          }
        }
      }
      expect(seam).toBeGreaterThan(10);
      expect(westEqual, `${band}: item-1 side exact`).toBe(westN);
      expect(eastN).toBeGreaterThan(0.3 * w.width * w.height);
      expect(eastValid / eastN, `${band}: item-2 side coverage`).toBeGreaterThan(0.99);
      if (band === 'SCL') {
        expect(eastSame / eastN, 'SCL classes by nearest neighbour, twice').toBeGreaterThanOrEqual(0.9);
        expect(Number.isInteger(mine[w.width - 1]!)).toBe(true); // classes stay classes (no interpolation)
      } else {
        rel.sort((a, b) => a - b);
        expect(rel[Math.floor(rel.length / 2)]!, `${band}: median relative difference`).toBeLessThan(0.01);
      }
    }
  });
});
