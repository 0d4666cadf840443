/**
 * Speed bench plumbing on a tiny synthetic pair of the l2a layout (B02/B03/B04/B08 at 10 m, SCL with clouds at
 * 20 m): the files look like Earth Search's, and s2change's class counts (cloud-masked nodata included) equal those
 * of the GDAL + numpy script (bench/gdal_baseline.py), an independent implementation of the same rule.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseLayout, runBench } from '../src/bench/bench.js';
import { isS2ChangeError } from '../src/errors.js';
import { hasGdal, PYTHON, run } from './helpers/gdal.js';

const BUILT = existsSync(path.resolve('dist', 'bench', 'engine-run.js')) && existsSync(path.resolve('dist', 'cli', 'main.js'));
const tmp = mkdtempSync(path.join(tmpdir(), 's2change-bench-speed-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('bench speed --layout', () => {
  it('accepts default and l2a only', () => {
    expect(parseLayout('l2a')).toBe('l2a');
    try {
      parseLayout('L2A-full');
      expect.unreachable();
    } catch (e) {
      expect(isS2ChangeError(e) && e.code).toBe('USAGE');
      expect(String(e)).toContain('default | l2a');
    }
  });

  it.skipIf(!hasGdal() || !BUILT || !existsSync('/usr/bin/time'))(
    `l2a at 512²: SCL at 20 m with clouds; s2change and GDAL + numpy count the same loss, gain and nodata (skipped without GDAL, /usr/bin/time or a built dist/)`,
    async () => {
      const report = await runBench({ sizes: [512], runs: 1, layout: 'l2a', cacheDir: tmp, noFloat: true, log: () => {} });
      expect(report.layout).toBe('l2a');
      expect(report.command).toContain('--layout l2a');
      const pair = path.join(tmp, 's512-l2a');
      const files = JSON.parse(run(PYTHON, ['-c', `
import json, numpy as np
from osgeo import gdal
out = {}
for date in ('before', 'after'):
    s = gdal.Open('${pair}/%s/SCL.tif' % date)
    b = gdal.Open('${pair}/%s/B02.tif' % date).GetRasterBand(1)
    a = s.ReadAsArray()
    out[date] = {'scl': [s.RasterXSize, s.RasterYSize, s.GetGeoTransform()[1], s.GetRasterBand(1).GetNoDataValue()],
                 'classes': sorted(int(c) for c in np.unique(a)), 'cloud': float(np.isin(a, [8, 9]).mean()),
                 'b02Block': b.GetBlockSize(), 'b02Type': gdal.GetDataTypeName(b.DataType)}
out['sameClouds'] = bool((gdal.Open('${pair}/before/SCL.tif').ReadAsArray() == gdal.Open('${pair}/after/SCL.tif').ReadAsArray()).all())
print(json.dumps(out))`])) as Record<string, any>;
      for (const date of ['before', 'after']) {
        expect(files[date].scl).toEqual([256, 256, 20, 0]);
        expect(files[date].b02Type).toBe('UInt16');
        expect(files[date].b02Block).toEqual([1024, 1024]);
        expect(files[date].classes.every((c: number) => [3, 4, 5, 6, 8, 9].includes(c))).toBe(true);
        expect(files[date].cloud).toBeGreaterThan(0.005);
        expect(files[date].cloud).toBeLessThan(0.1);
      }
      expect(files.sameClouds).toBe(false);
      const { s2change, gdal } = report.results[0]!.classCounts;
      expect(s2change.nodata).toBeGreaterThan(512 * 512 * 0.02); // clouds, shadows and their 2-pixel buffer on either date
      expect(s2change.nodata).toBe(gdal.nodata);
      expect(Math.abs(s2change.loss - gdal.loss)).toBeLessThanOrEqual(2);
      expect(Math.abs(s2change.gain - gdal.gain)).toBeLessThanOrEqual(2);
    }, 60_000);
});
