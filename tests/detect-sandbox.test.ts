/**
 * Issue #5: `detect` decodes every local TIFF of each date in a sandbox worker (time and heap budget) before the
 * run. Through the compiled CLI (run `npx tsc -p .` first): a structurally valid but slow-to-decode file (two
 * 8192 x 8192 single-strip LZW bands written by GDAL) with a 50 ms budget must stop with DECODE_TIMEOUT naming
 * the file and leave nothing in --out; with a generous budget the run goes past the preflight and completes.
 * A file with a valid header and garbage LZW data (GDAL-written, then overwritten) is CORRUPT_TIFF naming it.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DecodeTimeoutError } from '../src/errors.js';
import { inspectTiffsSandboxed, sandboxWorkerUrl } from '../src/io/tiff/sandbox.js';
import { GDAL_SKIP_REASON, hasGdal, pythonJson } from './helpers/gdal.js';

const CLI = path.resolve('dist/cli/main.js');
const built = existsSync(CLI) && sandboxWorkerUrl() !== null
  && spawnSync(process.execPath, [CLI, '--version'], { encoding: 'utf8' }).status === 0;
const SKIP = !built ? ' (skipped: run `npx tsc -p .` first)' : !hasGdal() ? ` (skipped: ${GDAL_SKIP_REASON})` : '';

function cli(args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

describe.skipIf(!built || !hasGdal())(`detect decode preflight${SKIP}`, () => {
  let dir = '';
  let slow = '';
  let small = '';
  let bbox = '';
  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 's2change-detect-sandbox-'));
    slow = path.join(dir, 'slow.tif');
    small = path.join(dir, 'small.tif');
    // slow.tif: EPSG:32629, 10 m, two bands (B03 = 800 + 10 (col mod 64), B08 = 300 or 3000 by column), each ONE
    // 8192 x 8192 LZW strip (128 MiB decoded, within every reader limit: any read decodes a whole strip).
    // small.tif: the same layout at 512 x 512. bbox: a 2 km box inside slow.tif, as lon/lat (GDAL osr).
    bbox = pythonJson(String.raw`
import sys, json, numpy as np
from osgeo import gdal, osr
gdal.UseExceptions()
s = osr.SpatialReference(); s.ImportFromEPSG(32629)
for f, n in [(sys.argv[1], 8192), (sys.argv[2], 512)]:
    ds = gdal.GetDriverByName('GTiff').Create(f, n, n, 2, gdal.GDT_UInt16, ['COMPRESS=LZW', 'BLOCKYSIZE=%d' % n, 'INTERLEAVE=BAND'])
    ds.SetGeoTransform([300000, 10, 0, 2800000, 0, -10]); ds.SetProjection(s.ExportToWkt())
    col = np.arange(n)
    ds.GetRasterBand(1).WriteArray(np.tile((800 + (col % 64) * 10).astype('uint16'), (n, 1)))
    ds.GetRasterBand(2).WriteArray(np.tile(np.where(col % 128 < 64, 300, 3000).astype('uint16'), (n, 1)))
    ds = None
t = osr.SpatialReference(); t.ImportFromEPSG(4326); t.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
ct = osr.CoordinateTransformation(s, t)
a = ct.TransformPoint(301000, 2797000); b = ct.TransformPoint(303000, 2799000)
print(json.dumps('%.6f,%.6f,%.6f,%.6f' % (a[0], a[1], b[0], b[1])))`, [slow, small]);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('--decode-timeout 50 on a slow --after: exit 1, DECODE_TIMEOUT naming the file, nothing in --out', () => {
    const out = path.join(dir, 'out-timeout');
    const t0 = performance.now();
    const r = cli(['detect', '--preset', 'water', '--after', slow, '--bands', 'B03,B08', '--bbox', bbox, '--out', out, '--decode-timeout', '50']);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/\[DECODE_TIMEOUT\]/);
    expect(r.stderr).toContain(`${slow}: decoding took longer`);
    expect(r.stderr).toMatch(/50 ms \(--decode-timeout\)/);
    expect(!existsSync(out) || readdirSync(out).length === 0).toBe(true);
    expect(performance.now() - t0).toBeLessThan(15_000);
  });

  it('the same run with a generous budget goes past the preflight and writes its outputs', () => {
    const out = path.join(dir, 'out-ok');
    const r = cli(['detect', '--preset', 'water', '--after', slow, '--bands', 'B03,B08', '--bbox', bbox, '--out', out,
      '--decode-timeout', '60000', '--decode-memory', '1024', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/decode preflight: 1 local TIFF files decoded/);
    expect(r.stderr).not.toMatch(/DECODE_TIMEOUT/);
    expect(existsSync(path.join(out, 'change.tif'))).toBe(true);
    // Water (NDWI >= Otsu threshold) is exactly the source columns where B08 = 300 (col mod 128 < 64), by
    // construction: every pixel of change.tif checked against that rule from its own geotransform (GDAL).
    const water = JSON.parse(r.stdout).areas.find((a: { name: string }) => a.name === 'water').value;
    const check = pythonJson(String.raw`
import sys, json, numpy as np
from osgeo import gdal
ds = gdal.Open(sys.argv[1]); a = ds.ReadAsArray(); gt = ds.GetGeoTransform()
cols = np.floor((gt[0] + (np.arange(a.shape[1]) + 0.5) * gt[1] - 300000) / 10).astype(int)
want = np.broadcast_to(cols % 128 < 64, a.shape)
print(json.dumps({"n": int(a.size), "agree": int(((a == int(sys.argv[2])) == want).sum())}))`, [path.join(out, 'change.tif'), String(water)]);
    expect(check.n).toBeGreaterThan(30_000);
    expect(check.agree).toBe(check.n);
  });

  it('a valid header over garbage LZW data: exit 1, CORRUPT_TIFF naming the file, before any output', () => {
    const bytes = readFileSync(small);
    // Overwrite the middle of the file (inside the strips, far from the header) with 0xFF bytes.
    bytes.fill(0xff, Math.floor(bytes.length / 2), Math.floor(bytes.length / 2) + 2048);
    const bad = path.join(dir, 'garbage.tif');
    writeFileSync(bad, bytes);
    const out = path.join(dir, 'out-corrupt');
    const r = cli(['detect', '--preset', 'water', '--after', bad, '--bands', 'B03,B08', '--out', out]);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/\[CORRUPT_TIFF\]/);
    expect(r.stderr).toContain(bad);
    expect(!existsSync(out) || readdirSync(out).length === 0).toBe(true);
  });

  it('one worker for a list of files: a time-out names the file being decoded, not the first one', async () => {
    const probe = { maxFullPixels: 64 * 1024 * 1024, probe: { x: 0, y: 0, width: 64, height: 64 } };
    // Budget from this machine's own speed: twice what the small file alone takes (worker start included), which the
    // slow file (a full 8192² LZW decode, seconds) cannot meet however loaded the machine is.
    const t0 = Date.now();
    await inspectTiffsSandboxed([small], { timeMs: 60_000, probe });
    const timeMs = Math.max(300, 2 * (Date.now() - t0));
    const err = await inspectTiffsSandboxed([small, slow], { timeMs, probe }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DecodeTimeoutError);
    expect((err as DecodeTimeoutError).input).toBe(slow);
    expect(String(err)).toMatch(new RegExp(`these 2 files within ${timeMs} ms`));
  });

  it('a list of fast files: each decoded in full (window = whole image) or probed above maxFullPixels', async () => {
    const got = await inspectTiffsSandboxed([small, small], { timeMs: 20_000, probe: { maxFullPixels: 512 * 512, probe: { x: 0, y: 0, width: 64, height: 64 } } });
    expect(got.map((g) => g.probed)).toEqual([[{ image: 0, window: { x: 0, y: 0, width: 512, height: 512 }, bands: 2 }],
      [{ image: 0, window: { x: 0, y: 0, width: 512, height: 512 }, bands: 2 }]]);
    const probed = await inspectTiffsSandboxed([small], { timeMs: 20_000, probe: { maxFullPixels: 512 * 511, probe: { x: 0, y: 0, width: 64, height: 64 } } });
    expect(probed[0]!.probed).toEqual([{ image: 0, window: { x: 0, y: 0, width: 64, height: 64 }, bands: 2 }]);
  });
});
