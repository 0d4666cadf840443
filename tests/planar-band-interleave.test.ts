/**
 * Issue #19 item 9: a PlanarConfiguration=2 (band-interleaved) multi-band GeoTIFF is read correctly. GDAL writes the
 * same seeded 3-band uint16 raster with INTERLEAVE=BAND and INTERLEAVE=PIXEL (tiled 64x64 with internal overviews,
 * and stripped); every band of the scene (whole, a window across block edges, every overview) must equal what GDAL
 * reads, and `detect` on the band-interleaved file (block engine, whose workers read tiles themselves) must give the same
 * change.tif pixels as on the pixel-interleaved one, read back by GDAL.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openScene } from '../src/io/scene.js';
import { openTiffFile } from '../src/io/tiff/index.js';
import { GDAL_SKIP_REASON, hasGdal, pythonJson, run } from './helpers/gdal.js';

const CLI = path.resolve('dist/cli/main.js');
const tmp = mkdtempSync(path.join(os.tmpdir(), 's2change-planar-'));
const W = 300;
const H = 260;
const LAYOUTS = {
  'band-tiled': ['-co', 'INTERLEAVE=BAND', '-co', 'TILED=YES', '-co', 'BLOCKXSIZE=64', '-co', 'BLOCKYSIZE=64', '-co', 'COMPRESS=DEFLATE', '-co', 'PREDICTOR=2'],
  'band-strips': ['-co', 'INTERLEAVE=BAND', '-co', 'BLOCKYSIZE=7', '-co', 'COMPRESS=LZW'],
  'pixel-tiled': ['-co', 'INTERLEAVE=PIXEL', '-co', 'TILED=YES', '-co', 'BLOCKXSIZE=64', '-co', 'BLOCKYSIZE=64', '-co', 'COMPRESS=DEFLATE', '-co', 'PREDICTOR=2'],
} as const;
const file = (layout: keyof typeof LAYOUTS): string => path.join(tmp, `${layout}.tif`);

/**
 * GDAL's values of every band of `f` in one Python call: per band (0-based), the whole image, the window
 * (x, y, w, h) and each overview, as flat lists.
 */
function gdalAll(f: string, win: [number, number, number, number]): { whole: number[]; window: number[]; overviews: number[][] }[] {
  return pythonJson(`
import sys, json
from osgeo import gdal
ds = gdal.Open(sys.argv[1]); w = json.loads(sys.argv[2]); out = []
for b in range(1, ds.RasterCount + 1):
    band = ds.GetRasterBand(b)
    out.append({'whole': band.ReadAsArray().ravel().tolist(), 'window': band.ReadAsArray(*w).ravel().tolist(),
                'overviews': [band.GetOverview(k).ReadAsArray().ravel().tolist() for k in range(band.GetOverviewCount())]})
print(json.dumps(out))
`, [f, JSON.stringify(win)]);
}

/** Where `ours` first differs from GDAL's `truth` ('' when equal): a cheap comparison of 78 000 values with a useful message. */
function firstDifference(ours: ArrayLike<number>, truth: number[]): string {
  if (ours.length !== truth.length) return `length ${ours.length} vs GDAL ${truth.length}`;
  for (let i = 0; i < truth.length; i++) if (ours[i] !== truth[i]) return `value ${i}: ${ours[i]} vs GDAL ${truth[i]}`;
  return '';
}

describe.skipIf(!hasGdal())(`PlanarConfiguration=2 (${hasGdal() ? 'GDAL' : GDAL_SKIP_REASON})`, () => {
  beforeAll(() => {
    const src = path.join(tmp, 'src.tif');
    // Seeded: B3 (green) above B8 (nir) on the left half (water), below it on the right, noise everywhere.
    run('/usr/bin/python3', ['-c', `
import sys, numpy as np
from osgeo import gdal, osr
W, H = ${W}, ${H}
rng = np.random.default_rng(19)
ds = gdal.GetDriverByName('GTiff').Create(sys.argv[1], W, H, 3, gdal.GDT_UInt16)
ds.SetGeoTransform((300000, 10, 0, 2800000, 0, -10))
srs = osr.SpatialReference(); srs.ImportFromEPSG(32629); ds.SetProjection(srs.ExportToWkt())
x = np.arange(W)[None, :].repeat(H, 0)
green = 1000 + rng.integers(0, 400, (H, W))
nir = np.where(x < W // 2, 300, 2500) + rng.integers(0, 400, (H, W))
red = 800 + rng.integers(0, 3000, (H, W))
for i, a in enumerate([green, red, nir]):
    ds.GetRasterBand(i + 1).WriteArray(a.astype(np.uint16)); ds.GetRasterBand(i + 1).SetNoDataValue(0)
ds = None
`, src]);
    for (const [name, co] of Object.entries(LAYOUTS)) {
      run('gdal_translate', ['-q', ...co, src, file(name as keyof typeof LAYOUTS)]);
      if (name.endsWith('tiled')) run('gdaladdo', ['-q', '-r', 'nearest', file(name as keyof typeof LAYOUTS), '2', '4']);
    }
  });

  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('the files really are PlanarConfiguration 2 (band) and 1 (pixel)', async () => {
    for (const [name, planar] of [['band-tiled', 2], ['band-strips', 2], ['pixel-tiled', 1]] as const) {
      const tiff = await openTiffFile(file(name));
      try {
        expect(tiff.images[0]!.planarConfiguration, name).toBe(planar);
        expect(tiff.images[0]!.samplesPerPixel).toBe(3);
      } finally {
        await tiff.close();
      }
    }
  });

  it.each(Object.keys(LAYOUTS))('%s: every band, whole and windowed, and every overview equal GDAL', async (name) => {
    const f = file(name as keyof typeof LAYOUTS);
    const scene = await openScene(f, { bands: ['B3', 'B4', 'B8'] });
    const win = { x: 57, y: 61, width: 90, height: 75 }; // crosses tile and strip boundaries
    const gdal = gdalAll(f, [win.x, win.y, win.width, win.height]);
    try {
      const order = ['B03', 'B04', 'B08'] as const;
      for (let b = 0; b < 3; b++) {
        const ref = scene.bands.get(order[b])!;
        expect(ref.sample).toBe(b);
        expect(firstDifference(await ref.readStored({ x: 0, y: 0, width: W, height: H }), gdal[b]!.whole), `${name} ${order[b]} whole`).toBe('');
        expect(firstDifference(await ref.readStored(win), gdal[b]!.window), `${name} ${order[b]} window`).toBe('');
        const ovs = ref.overviews ?? [];
        expect(ovs.length).toBe(name.endsWith('tiled') ? 2 : 0);
        expect(gdal[b]!.overviews.length).toBe(ovs.length);
        for (let k = 0; k < ovs.length; k++) {
          const g = ovs[k]!.grid;
          expect(firstDifference(await ovs[k]!.readStored({ x: 0, y: 0, width: g.width, height: g.height }), gdal[b]!.overviews[k]), `${name} ${order[b]} overview ${k}`).toBe('');
        }
      }
    } finally {
      await scene.close();
    }
  });

  it.skipIf(!existsSync(CLI))('detect --preset water on the band-interleaved tiled file = on the pixel-interleaved one (block engine, read by GDAL)', () => {
    const classes = (layout: keyof typeof LAYOUTS, engine: string): number[] => {
      const out = path.join(tmp, `out-${layout}-${engine}`);
      const r = spawnSync(process.execPath, [CLI, 'detect', '--preset', 'water', '--after', file(layout), '--bands', 'B3,B4,B8',
        '--engine', engine, '--method', 'threshold', '--threshold', '0', '--no-index', '--out', out], { encoding: 'utf8', timeout: 120_000 });
      expect(r.status, r.stderr).toBe(0);
      return gdalAll(path.join(out, 'change.tif'), [0, 0, 1, 1])[0]!.whole;
    };
    for (const engine of ['blocks']) { // the whole-array engine reads through readStored, checked against GDAL above
      const truth = classes('pixel-tiled', engine);
      const counts = new Map<number, number>();
      for (const v of truth) counts.set(v, (counts.get(v) ?? 0) + 1);
      expect(counts.size, `${engine}: more than one class`).toBeGreaterThan(1);
      expect(firstDifference(classes('band-tiled', engine), truth), `band-tiled ${engine}`).toBe('');
    }
  });
});
