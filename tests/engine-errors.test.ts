/**
 * A damaged tile that only the block engine's workers meet (the decode preflight probes the top-left window of big
 * inputs, the workers then decode tile by tile): the run must stop with the reader's typed error — class, code and
 * message intact across the worker-thread boundary — exit 1 through the CLI, and leave nothing in --out.
 * The inputs are GDAL-written tiled DEFLATE GeoTIFFs; one tile far from the top left is overwritten with 0xFF bytes
 * at the offset GDAL reports for it (an independent reader's view of the layout).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GDAL_SKIP_REASON, hasGdal, pythonJson } from './helpers/gdal.js';

// The compiled modules: worker threads run dist/engine/block-worker.js, which exists only after a build.
const CLI = path.resolve('dist/cli/main.js');
const DIST = path.resolve('dist');
const built = existsSync(CLI) && existsSync(path.join(DIST, 'engine/block-worker.js'));
const SKIP = !hasGdal() ? ` (skipped: ${GDAL_SKIP_REASON})` : !built ? ' (skipped: run `npx tsc -p .` first)' : '';

describe.skipIf(!hasGdal() || !built)(`block engine: a corrupt tile met by a worker${SKIP}`, () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 's2change-engine-errors-'));
  let damaged = '';
  beforeAll(() => {
    // 2048² uint16, 512² DEFLATE tiles; tile (row 3, col 3) of the after B08 is overwritten inside its data.
    damaged = pythonJson(String.raw`
import sys, os, json, numpy as np
from osgeo import gdal, osr
gdal.UseExceptions()
root = sys.argv[1]
s = osr.SpatialReference(); s.ImportFromEPSG(32633)
rng = np.random.default_rng(7)
for d in ('before', 'after'):
    os.makedirs(os.path.join(root, d), exist_ok=True)
    for band in ('B04', 'B08'):
        ds = gdal.GetDriverByName('GTiff').Create(os.path.join(root, d, band + '.tif'), 2048, 2048, 1, gdal.GDT_UInt16,
            ['TILED=YES', 'BLOCKXSIZE=512', 'BLOCKYSIZE=512', 'COMPRESS=DEFLATE'])
        ds.SetGeoTransform([300000, 10, 0, 5000000, 0, -10]); ds.SetProjection(s.ExportToWkt())
        ds.GetRasterBand(1).WriteArray(rng.integers(500, 3000, (2048, 2048)).astype('uint16')); ds = None
f = os.path.join(root, 'after', 'B08.tif')
ds = gdal.Open(f); off = int(ds.GetRasterBand(1).GetMetadataItem('BLOCK_OFFSET_3_3', 'TIFF')); ds = None
b = bytearray(open(f, 'rb').read()); b[off + 16:off + 2048] = b'\xff' * 2032; open(f, 'wb').write(b)
print(json.dumps(f))`, [dir]);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('detectBlocks rejects with CorruptTiffError naming the file (2 worker threads)', async () => {
    const { detectBlocks } = await import(path.join(DIST, 'engine/detect-blocks.js'));
    const { CorruptTiffError } = await import(path.join(DIST, 'errors.js'));
    const err = await detectBlocks({
      before: path.join(dir, 'before'), after: path.join(dir, 'after'), preset: 'vegetation',
      classesPath: path.join(dir, 'lib-change.tif'), productPath: path.join(dir, 'lib-dndvi.tif'), threads: 2, progress: false,
    }).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(CorruptTiffError);
    expect((err as { code: string }).code).toBe('CORRUPT_TIFF');
    expect((err as Error).message).toContain(damaged);
    expect(existsSync(path.join(dir, 'lib-change.tif'))).toBe(false);
    expect(existsSync(path.join(dir, 'lib-dndvi.tif'))).toBe(false);
  });

  it('detect --engine blocks: exit 1, [CORRUPT_TIFF] naming the file, nothing in --out', () => {
    const out = path.join(dir, 'out');
    const r = spawnSync(process.execPath, [CLI, 'detect', '--before', path.join(dir, 'before'), '--after', path.join(dir, 'after'),
      '--preset', 'vegetation', '--engine', 'blocks', '--out', out], { encoding: 'utf8', timeout: 120_000 });
    expect(r.status, r.stderr).toBe(1);
    expect(r.stderr).toContain('[CORRUPT_TIFF]');
    expect(r.stderr).toContain(damaged);
    expect(r.stderr).not.toMatch(/unexpected error/);
    expect(!existsSync(out) || readdirSync(out).length === 0).toBe(true);
  });
});
