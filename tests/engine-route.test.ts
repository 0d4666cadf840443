/**
 * `detect --engine` routing (issue #4): the compiled CLI run with `--engine blocks` and `--engine whole` on the same
 * real inputs must give the same change.tif pixels and float product (read back by GDAL/numpy, an independent
 * reader), the same areas and output names, a report, and outputs that `verify` accepts. Presets the block engine
 * cannot stream must be refused with exit 2 naming `--engine whole`. The block engine's reduced quicklook arrays are
 * checked against a numpy block mean / centre-pixel sample of the bands and of change.tif.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { detectBlocks } from '../src/engine/detect-blocks.js';
import { dataDir, hasGdal, pythonJson, run, PYTHON } from './helpers/gdal.js';

const CLI = path.resolve('dist/cli/main.js');
const DATA = dataDir();
const R29 = path.join(DATA, 's2-l2a-cog-29RKH/tests/fixtures/sentinel-cogs/sentinel-s2-l2a-cogs/29/R/KH/2020/2/S2A_29RKH_20200219_0_L2A');
const FIRE = path.join(DATA, 'wildfire-calfire-s2');
const tmp = mkdtempSync(path.join(os.tmpdir(), 's2change-route-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function cli(args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** numpy: are two class rasters equal, and two float rasters equal to 1e-6 (NaN where NaN)? */
const COMPARE = `
import sys, json, numpy as np
from osgeo import gdal
a = gdal.Open(sys.argv[1]).ReadAsArray(); b = gdal.Open(sys.argv[2]).ReadAsArray()
p = gdal.Open(sys.argv[3]).ReadAsArray().astype(np.float64); q = gdal.Open(sys.argv[4]).ReadAsArray().astype(np.float64)
nan_same = bool(np.array_equal(np.isnan(p), np.isnan(q)))
ok = ~np.isnan(p) & ~np.isnan(q)
print(json.dumps({"shape": list(a.shape), "classesEqual": bool(a.shape == b.shape and np.array_equal(a, b)),
  "changed": int(((a != 0) & (a != 255)).sum()), "nanSame": nan_same,
  "maxDiff": float(np.abs(p[ok] - q[ok]).max()) if ok.any() else 0.0, "finite": int(ok.sum())}))
`;

/** Run both engines on the same inputs and check everything the issue asks for; returns the two summaries. */
function compareEngines(name: string, args: string[], product: string) {
  const outs = { blocks: path.join(tmp, `${name}-blocks`), whole: path.join(tmp, `${name}-whole`) };
  const summaries: Record<string, any> = {};
  for (const engine of ['blocks', 'whole'] as const) {
    const r = cli(['detect', ...args, '--out', outs[engine], '--engine', engine, '--json', '--threads', '2']);
    expect(r.code, r.stderr).toBe(0);
    summaries[engine] = JSON.parse(r.stdout);
    expect(summaries[engine].engine).toBe(engine);
    expect(existsSync(path.join(outs[engine], 'report.html'))).toBe(true);
    const v = cli(['verify', outs[engine]]);
    expect(v.code, v.stderr + v.stdout).toBe(0);
  }
  const [b, w] = [summaries.blocks, summaries.whole];
  const cmp = pythonJson(COMPARE, [path.join(outs.blocks, 'change.tif'), path.join(outs.whole, 'change.tif'),
    path.join(outs.blocks, `${product}.tif`), path.join(outs.whole, `${product}.tif`)]);
  expect(cmp.classesEqual).toBe(true);
  expect(cmp.changed).toBeGreaterThan(0);
  expect(cmp.nanSame).toBe(true);
  expect(cmp.finite).toBeGreaterThan(0);
  expect(cmp.maxDiff).toBeLessThanOrEqual(1e-6);
  // Same summary shape and facts.
  expect(Object.keys(b).sort()).toEqual(Object.keys(w).sort());
  expect(b.areas.map((a: any) => [a.value, a.pixels])).toEqual(w.areas.map((a: any) => [a.value, a.pixels]));
  for (let i = 0; i < b.areas.length; i++) expect(b.areas[i].hectares).toBeCloseTo(w.areas[i].hectares, 6);
  expect(b.pixels).toEqual(w.pixels);
  expect(b.thresholds).toEqual(w.thresholds);
  expect(b.formula).toBe(w.formula);
  expect(b.inputs).toEqual(w.inputs);
  expect(b.grid).toEqual(w.grid);
  expect(b.polygons).toEqual(w.polygons);
  expect(b.outputs.map((o: any) => o.name).sort()).toEqual(w.outputs.map((o: any) => o.name).sort());
  expect(b.outputs.map((o: any) => o.name)).toEqual(expect.arrayContaining(['change.tif', `${product}.tif`, 'change.geojson', 'change.png', 'report.html']));
  for (const o of b.outputs) expect(o.sha256).toMatch(/^[0-9a-f]{64}$/);
  return { b, w, outs };
}

describe.skipIf(!existsSync(CLI) || !hasGdal())('detect --engine blocks vs whole (compiled CLI)', () => {
  const afterDir = path.join(tmp, 'rkh-after');
  beforeAll(() => {
    if (!existsSync(R29)) return;
    // After date: the real bands written by GDAL, with a synthetic clearing (B08 halved, B04 doubled) in one corner.
    mkdirSync(afterDir, { recursive: true });
    run(PYTHON, ['-c', `
import sys, numpy as np
from osgeo import gdal
src, dst = sys.argv[1], sys.argv[2]
for b in ['B02', 'B03', 'B04', 'B08', 'SCL']:
    ds = gdal.Open(f'{src}/{b}.tif'); a = ds.ReadAsArray()
    h, w = a.shape
    if b == 'B08': a[: h // 3, : w // 2] //= 2
    if b == 'B04': a[: h // 3, : w // 2] = np.minimum(65535, a[: h // 3, : w // 2].astype(np.uint32) * 2)
    out = gdal.GetDriverByName('GTiff').Create(f'{dst}/{b}.tif', w, h, 1, ds.GetRasterBand(1).DataType,
        ['TILED=YES', 'BLOCKXSIZE=256', 'BLOCKYSIZE=256', 'COMPRESS=DEFLATE'])
    out.SetGeoTransform(ds.GetGeoTransform()); out.SetProjection(ds.GetProjection())
    nd = ds.GetRasterBand(1).GetNoDataValue()
    if nd is not None: out.GetRasterBand(1).SetNoDataValue(nd)
    out.GetRasterBand(1).WriteArray(a); out = None
`, R29, afterDir]);
  });

  it('29RKH COG folder (SCL, 10 m) vs a modified after date: vegetation', { skip: !existsSync(R29) }, () => {
    const { b } = compareEngines('rkh', ['--before', R29, '--after', afterDir, '--preset', 'vegetation', '--offset', '0'], 'dndvi');
    expect(b.areas.find((a: any) => a.value === 1).pixels).toBeGreaterThan(1000);
    expect(b.outputs.map((o: any) => o.name)).toEqual(expect.arrayContaining(['before.png', 'after.png']));
  }, 120_000);

  it('CAL FIRE KENNETH pre/post (multi-band GeoTIFF): wildfire', { skip: !existsSync(FIRE) }, () => {
    compareEngines('kenneth', ['--before', path.join(FIRE, 'KENNETH_20250109_pre_fire.tif'),
      '--after', path.join(FIRE, 'KENNETH_20250109_post_fire.tif'), '--preset', 'wildfire'], 'dnbr');
  }, 120_000);

  it('--min-area: the same filtered change.tif, polygons and minimum mapping unit in summary.json', { skip: !existsSync(FIRE) }, () => {
    const { b, w } = compareEngines('kenneth-mmu', ['--before', path.join(FIRE, 'KENNETH_20250109_pre_fire.tif'),
      '--after', path.join(FIRE, 'KENNETH_20250109_post_fire.tif'), '--preset', 'wildfire', '--min-area', '1'], 'dnbr');
    expect(b.minMappingUnit).toEqual(w.minMappingUnit);
    expect(b.minMappingUnit.pixelsRemoved).toBeGreaterThan(0);
  }, 120_000);

  it('--engine blocks refuses presets and options it cannot stream (exit 2, names --engine whole)', { skip: !existsSync(FIRE) }, () => {
    const pre = path.join(FIRE, 'KENNETH_20250109_pre_fire.tif');
    const post = path.join(FIRE, 'KENNETH_20250109_post_fire.tif');
    const urban = cli(['detect', '--before', pre, '--after', post, '--preset', 'urban', '--method', 'supervised', '--engine', 'blocks', '--out', path.join(tmp, 'urban')]);
    expect(urban.code).toBe(2);
    expect(urban.stderr).toMatch(/--engine whole/);
    expect(urban.stderr).toMatch(/urban[\s\S]*supervised/);
    // auto falls back to the whole-array path for them (small grid, or an unsupported preset).
    const auto = cli(['detect', '--before', pre, '--after', post, '--preset', 'urban', '--out', path.join(tmp, 'urban-auto'), '--json']);
    expect(auto.code, auto.stderr).toBe(0);
    expect(JSON.parse(auto.stdout).engine).toBe('whole');
    const bad = cli(['detect', '--before', pre, '--after', post, '--preset', 'wildfire', '--engine', 'fast', '--out', path.join(tmp, 'bad')]);
    expect(bad.code).toBe(2);
  }, 120_000);
});

describe.skipIf(!hasGdal() || !existsSync(R29))('block engine quicklook arrays', () => {
  it('equal a numpy NaN-aware block mean of the bands and the centre pixels of change.tif (cells cut by blocks)', async () => {
    const out = path.join(tmp, 'ql');
    mkdirSync(out, { recursive: true });
    const classesPath = path.join(out, 'change.tif');
    // 1098 px / maxSize 250 → factor 5, which does not divide the 128 px blocks: many cells straddle blocks. The
    // RGB of the blocks, not of the COG's overviews (tests/quicklook-overviews.test.ts checks those).
    const r = await detectBlocks({ before: R29, after: R29, preset: 'vegetation', classesPath, productPath: null, scene: { offset: 0 },
      blockSize: 128, threads: 0, progress: false, quicklook: { maxSize: 250, overviews: false } });
    const q = r.quicklook!;
    expect(q.factor).toBe(5);
    expect([q.width, q.height]).toEqual([220, 220]);
    const oracle = pythonJson(`
import sys, json, numpy as np
from osgeo import gdal
src, cls, f = sys.argv[1], sys.argv[2], 5
res = {}
for b in ['B04', 'B03', 'B02']:
    ds = gdal.Open(f'{src}/{b}.tif'); a = ds.ReadAsArray().astype(np.float64)
    nd = ds.GetRasterBand(1).GetNoDataValue()
    if nd is not None: a[a == nd] = np.nan
    a = a * 1e-4
    h, w = a.shape; H, W = -(-h // f), -(-w // f)
    pad = np.full((H * f, W * f), np.nan); pad[:h, :w] = a
    with np.errstate(invalid='ignore'):
        m = np.nanmean(pad.reshape(H, f, W, f), axis=(1, 3))
    res[b] = [None if np.isnan(v) else float(v) for v in m.ravel()]
c = gdal.Open(cls).ReadAsArray(); h, w = c.shape
ys = np.minimum(h - 1, np.arange(-(-h // f)) * f + f // 2); xs = np.minimum(w - 1, np.arange(-(-w // f)) * f + f // 2)
res['classes'] = c[np.ix_(ys, xs)].ravel().tolist()
print(json.dumps(res))
`, [R29, classesPath]);
    const after = q.after!;
    expect(after.rgbBands).toBe('B04,B03,B02');
    ['B04', 'B03', 'B02'].forEach((b, k) => {
      const want: (number | null)[] = oracle[b];
      const got = after.rgb[k]!;
      expect(got.length).toBe(want.length);
      let worst = 0;
      for (let i = 0; i < want.length; i++) {
        if (want[i] === null) expect(Number.isNaN(got[i]!)).toBe(true);
        else worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
      }
      expect(worst).toBeLessThan(1e-6);
    });
    expect(Array.from(q.classes)).toEqual(oracle.classes);
  }, 60_000);
});
