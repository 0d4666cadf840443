/**
 * COG writer, checked against GDAL: gdalinfo -json for structure and georeferencing, GDAL's own
 * validate_cloud_optimized_geotiff.py for COG layout, and /usr/bin/python3 (GDAL + numpy) for pixel values of
 * band data and overviews (overview rules recomputed in numpy from the test's own input arrays).
 */
import { mkdtempSync, rmSync, writeFileSync, existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { createCogWriter, writeCog, type CogBand } from '../src/io/cog-writer.js';
import { UnsupportedCrsError, UsageError } from '../src/errors.js';
import { PIXEL_CRS, type Grid } from '../src/raster/grid.js';
import { seededRandom } from '../src/change/sampling.js';
import { GDAL_SKIP_REASON, gdalinfoJson, hasGdal, PYTHON, pythonJson, run } from './helpers/gdal.js';

const dir = mkdtempSync(path.join(tmpdir(), 's2change-cog-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const VALIDATOR = '/usr/lib/python3/dist-packages/osgeo_utils/samples/validate_cloud_optimized_geotiff.py';

const utm = (w: number, h: number): Grid => ({ crs: { epsg: 32629 }, transform: [499980, 10, 0, 4200000, 0, -10], width: w, height: h });
const geo = (w: number, h: number): Grid => ({ crs: { epsg: 4326 }, transform: [-9.5, 0.0001, 0, 38.75, 0, -0.0001], width: w, height: h });

/**
 * Oracle: for each case, GDAL reads band data and overview 1 and numpy compares them with the raw input (.bin
 * files written by the test). Overview 1 truth: 'nearest' = a[::2, ::2]; 'average' = mean of the valid (non-NaN,
 * non-nodata) pixels of each 2x2 cell (cells cut by the odd edge use what they have), NaN/nodata when none.
 */
const ORACLE = String.raw`
import json, sys
import numpy as np
from osgeo import gdal
gdal.UseExceptions()
cases = json.load(open(sys.argv[1]))
out = []
for c in cases:
    ds = gdal.Open(c['path'])
    w, h, nb = c['width'], c['height'], c['bands']
    res = {'path': c['path'], 'ok': True, 'why': [], 'ifds': [], 'firstData': []}
    for b in range(nb):
        a = np.fromfile(c['bins'][b], dtype=c['dtype']).reshape(h, w)
        band = ds.GetRasterBand(b + 1)
        got = band.ReadAsArray()
        if got.dtype != a.dtype or got.shape != a.shape:
            res['ok'] = False; res['why'].append('band %d dtype/shape %s %s' % (b, got.dtype, got.shape)); continue
        if a.dtype.kind == 'f':
            same = np.array_equal(a.view(np.uint32), got.view(np.uint32))
        else:
            same = np.array_equal(a, got)
        if not same:
            res['ok'] = False; res['why'].append('band %d differs at %d pixels' % (b, int((a != got).sum())))
        if c['ovr'] != 'none' and band.GetOverviewCount() > 0:
            o = band.GetOverview(0).ReadAsArray()
            if c['ovr'] == 'nearest':
                exp = a[::2, ::2]
                ok = np.array_equal(exp.view(np.uint32) if a.dtype.kind == 'f' else exp, o.view(np.uint32) if a.dtype.kind == 'f' else o)
            else:
                f = a.astype(np.float64)
                nd = c['nodata']
                if nd is not None and nd == nd:
                    f[f == nd] = np.nan
                H2, W2 = (h + 1) // 2, (w + 1) // 2
                p = np.full((H2 * 2, W2 * 2), np.nan); p[:h, :w] = f
                cells = p.reshape(H2, 2, W2, 2).transpose(0, 2, 1, 3).reshape(H2, W2, 4)
                cnt = (~np.isnan(cells)).sum(axis=2)
                s = np.nansum(cells, axis=2)
                with np.errstate(invalid='ignore', divide='ignore'):
                    m = s / cnt
                fill = np.nan if (nd is None or nd != nd) else nd
                m[cnt == 0] = fill
                if a.dtype.kind == 'f':
                    exp = m.astype(np.float32)
                    ok = bool(np.allclose(exp, o, rtol=1e-6, atol=1e-7, equal_nan=True))
                else:
                    exp = np.floor(m + 0.5).astype(a.dtype)
                    ok = np.array_equal(exp, o)
            if not ok:
                res['ok'] = False; res['why'].append('overview 1 of band %d differs' % b)
    main = ds.GetRasterBand(1)
    levels = [main] + [main.GetOverview(i) for i in range(main.GetOverviewCount())]
    for lv in levels:
        res['ifds'].append(int(lv.GetMetadataItem('IFD_OFFSET', 'TIFF')))
        res['firstData'].append(int(lv.GetMetadataItem('BLOCK_OFFSET_0_0', 'TIFF') or 0))
    out.append(res)
print(json.dumps(out))
`;

interface Case {
  file: string;
  grid: Grid;
  bands: CogBand[];
  ovr: 'nearest' | 'average' | 'none';
  nodata: number | null;
}

const DTYPE: Record<string, string> = { Uint8Array: 'uint8', Uint16Array: '<u2', Int16Array: '<i2', Float32Array: '<f4' };

/** Run the numpy/GDAL oracle over several written files at once; returns one result per case. */
function oracle(cases: Case[]): { path: string; ok: boolean; why: string[]; ifds: number[]; firstData: number[] }[] {
  const spec = cases.map((c, i) => {
    const bins = c.bands.map((b, j) => {
      const p = path.join(dir, `${path.basename(c.file)}.${i}.${j}.bin`);
      writeFileSync(p, new Uint8Array(b.buffer, b.byteOffset, b.byteLength));
      return p;
    });
    return {
      path: c.file, bins, width: c.grid.width, height: c.grid.height, bands: c.bands.length,
      dtype: DTYPE[c.bands[0]!.constructor.name], ovr: c.ovr, nodata: c.nodata === null || Number.isNaN(c.nodata) ? null : c.nodata,
    };
  });
  const specPath = path.join(dir, `oracle-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(specPath, JSON.stringify(spec));
  return pythonJson(ORACLE, [specPath]);
}

function validate(file: string): string {
  return run(PYTHON, [VALIDATOR, '--full-check=yes', file]);
}

/** A deterministic pseudo-random generator (mulberry32) so failures reproduce. */
const rng = seededRandom;

describe.skipIf(!hasGdal())(`writeCog vs GDAL (${hasGdal() ? 'GDAL found' : GDAL_SKIP_REASON})`, () => {
  it('uint8 class map with colormap, EPSG:32629, 1300x700, 256 blocks', async () => {
    const grid = utm(1300, 700);
    const r = rng(1);
    const a = new Uint8Array(grid.width * grid.height);
    for (let i = 0; i < a.length; i++) a[i] = Math.floor(r() * 5);
    const file = path.join(dir, 'classes.tif');
    const colormap: [number, number, number][] = [[0, 0, 0], [255, 0, 0], [0, 128, 255], [10, 20, 30], [255, 255, 255]];
    const res = await writeCog(file, { grid, bands: [a] }, {
      blockSize: 256, nodata: 0, colormap, bandDescriptions: ['change & <class>'], metadata: { PRESET: 'flood', NOTE: `a<b & "c" 'd' é` },
    });
    expect(res.bytes).toBe(readFileSync(file).length);

    const info = gdalinfoJson(file);
    expect(info.stac['proj:epsg']).toBe(32629);
    expect(info.geoTransform).toEqual([499980, 10, 0, 4200000, 0, -10]);
    expect(info.size).toEqual([1300, 700]);
    expect(info.metadata.IMAGE_STRUCTURE.COMPRESSION).toBe('DEFLATE');
    expect(info.metadata.IMAGE_STRUCTURE.LAYOUT).toBe('COG');
    expect(info.metadata[''].PRESET).toBe('flood');
    expect(info.metadata[''].NOTE).toBe(`a<b & "c" 'd' é`);
    expect(info.metadata[''].AREA_OR_POINT).toBe('Area');
    const b = info.bands[0];
    expect(b.type).toBe('Byte');
    expect(b.block).toEqual([256, 256]);
    expect(b.noDataValue).toBe(0);
    expect(b.description).toBe('change & <class>');
    expect(b.colorInterpretation).toBe('Palette');
    // halve until it fits one 256 block: 650x350, 325x175, 163x88
    expect(b.overviews.map((o: { size: number[] }) => o.size)).toEqual([[650, 350], [325, 175], [163, 88]]);
    expect(b.colorTable.entries[2]).toEqual([0, 128, 255, 255]);
    expect(b.colorTable.entries[4]).toEqual([255, 255, 255, 255]);

    expect(validate(file)).toContain('is a valid cloud optimized GeoTIFF');
    const [o] = oracle([{ file, grid, bands: [a], ovr: 'nearest', nodata: 0 }]);
    expect(o!.why).toEqual([]);
    // IFDs first, in order; data afterwards, smallest overview first, full resolution last
    expect(o!.ifds).toEqual([...o!.ifds].sort((x, y) => x - y));
    expect(Math.max(...o!.ifds)).toBeLessThan(Math.min(...o!.firstData));
    expect(o!.firstData).toEqual([...o!.firstData].sort((x, y) => y - x));
  });

  it('float32 with NaN, two bands, EPSG:4326, 1300x700: bitwise values, average overview, NaN nodata', async () => {
    const grid = geo(1300, 700);
    const r = rng(2);
    const b1 = new Float32Array(grid.width * grid.height);
    const b2 = new Float32Array(grid.width * grid.height);
    for (let i = 0; i < b1.length; i++) {
      b1[i] = r() < 0.1 ? NaN : Math.sin(i / 977) * 0.8 + r() * 1e-3;
      b2[i] = r() < 0.5 ? NaN : -1e30 * r();
    }
    b1.fill(NaN, 0, 2 * grid.width); // a fully-NaN 2x2 cell for the average rule
    const file = path.join(dir, 'float.tif');
    await writeCog(file, { grid, bands: [b1, b2] }, { blockSize: 256, nodata: NaN, bandDescriptions: ['NDVI before', 'dNBR'] });
    const info = gdalinfoJson(file);
    expect(info.stac['proj:epsg']).toBe(4326);
    info.geoTransform.forEach((v: number, i: number) => expect(v).toBeCloseTo([-9.5, 0.0001, 0, 38.75, 0, -0.0001][i]!, 12));
    expect(info.metadata.IMAGE_STRUCTURE.COMPRESSION).toBe('DEFLATE');
    expect(info.metadata.IMAGE_STRUCTURE.PREDICTOR).toBe('3');
    expect(info.bands.map((b: { noDataValue: unknown }) => b.noDataValue)).toEqual(['NaN', 'NaN']);
    expect(info.bands.map((b: { description: string }) => b.description)).toEqual(['NDVI before', 'dNBR']);
    expect(info.bands[0].type).toBe('Float32');
    expect(info.bands[0].overviews).toHaveLength(3);
    expect(validate(file)).toContain('is a valid cloud optimized GeoTIFF');
    const [o] = oracle([{ file, grid, bands: [b1, b2], ovr: 'average', nodata: NaN }]);
    expect(o!.why).toEqual([]);
  });

  it('awkward sizes: 1x1, exactly one block, one block + 1, forced BigTIFF, no compression, int16/uint16', async () => {
    const r = rng(3);
    const cases: Case[] = [];
    const make = async (name: string, grid: Grid, kind: 'u8' | 'u16' | 'i16' | 'f32', opts: Parameters<typeof writeCog>[2] = {}) => {
      const n = grid.width * grid.height;
      const band: CogBand =
        kind === 'u8' ? Uint8Array.from({ length: n }, () => Math.floor(r() * 256))
        : kind === 'u16' ? Uint16Array.from({ length: n }, () => Math.floor(r() * 65536))
        : kind === 'i16' ? Int16Array.from({ length: n }, () => Math.floor(r() * 65536) - 32768)
        : Float32Array.from({ length: n }, () => (r() - 0.5) * 1e4);
      const file = path.join(dir, `${name}.tif`);
      await writeCog(file, { grid, bands: [band] }, opts);
      const ovr = opts?.overviews ?? (kind === 'f32' ? 'average' : 'nearest');
      cases.push({ file, grid, bands: [band], ovr, nodata: opts?.nodata ?? null });
      return file;
    };
    const one = await make('one-pixel', utm(1, 1), 'u16');
    const block = await make('one-block', utm(256, 256), 'i16', { blockSize: 256, nodata: -32768 });
    const blockPlus = await make('block-plus-one', geo(257, 256), 'u8', { blockSize: 256 });
    const big = await make('bigtiff', utm(300, 200), 'f32', { blockSize: 64, bigTiff: true });
    const raw = await make('uncompressed', utm(100, 37), 'u16', { blockSize: 32, compression: 'none' });
    const avgInt = await make('int-average', utm(99, 51), 'i16', { blockSize: 16, overviews: 'average', nodata: 7 });
    const pred1 = await make('float-pred1', geo(70, 33), 'f32', { blockSize: 16, predictor: 1, overviews: 'nearest' });

    expect(gdalinfoJson(one).bands[0].block).toEqual([512, 512]);
    expect(gdalinfoJson(one).bands[0].overviews ?? []).toHaveLength(0);
    expect(gdalinfoJson(block).bands[0].overviews ?? []).toHaveLength(0);
    expect(gdalinfoJson(block).bands[0].noDataValue).toBe(-32768);
    expect(gdalinfoJson(blockPlus).bands[0].overviews.map((o: { size: number[] }) => o.size)).toEqual([[129, 128]]);
    expect(readFileSync(big).subarray(0, 4)).toEqual(Buffer.from([0x49, 0x49, 43, 0]));
    expect(readFileSync(one).subarray(0, 4)).toEqual(Buffer.from([0x49, 0x49, 42, 0]));
    expect(gdalinfoJson(raw).metadata.IMAGE_STRUCTURE.COMPRESSION).toBeUndefined();
    expect(gdalinfoJson(pred1).metadata.IMAGE_STRUCTURE.PREDICTOR).toBeUndefined();
    expect(gdalinfoJson(avgInt).bands[0].type).toBe('Int16');
    for (const c of cases) expect(validate(c.file), c.file).toContain('is a valid cloud optimized GeoTIFF');
    for (const o of oracle(cases)) expect(o.why, o.path).toEqual([]);
  });

  it('rotated grid is written as ModelTransformation and read back by GDAL', async () => {
    const grid: Grid = { crs: { epsg: 32633 }, transform: [400000, 8.66, 5, 5000000, 5, -8.66], width: 40, height: 30 };
    const file = path.join(dir, 'rotated.tif');
    await writeCog(file, { grid, bands: [new Uint8Array(1200).fill(3)] }, { blockSize: 16 });
    const info = gdalinfoJson(file);
    expect(info.stac['proj:epsg']).toBe(32633);
    info.geoTransform.forEach((v: number, i: number) => expect(v).toBeCloseTo(grid.transform[i]!, 9));
  });

  it('a non-georeferenced grid (PIXEL_CRS, e.g. from PNG patches) is written without any CRS or transform', async () => {
    const grid: Grid = { crs: PIXEL_CRS, transform: [0, 10, 0, 0, 0, -10], width: 40, height: 30 };
    const file = path.join(dir, 'pixel-crs.tif');
    const data = Uint8Array.from({ length: 1200 }, (_, i) => i % 7);
    await writeCog(file, { grid, bands: [data] }, { blockSize: 16, nodata: 255 });
    const info = gdalinfoJson(file);
    expect(info.coordinateSystem?.wkt ?? '').toBe('');
    expect(info.geoTransform).toBeUndefined();
    expect(info.bands[0].noDataValue).toBe(255);
    const px = pythonJson('import sys, json; from osgeo import gdal; print(json.dumps(gdal.Open(sys.argv[1]).ReadAsArray().ravel().tolist()))', [file]);
    expect(px).toEqual([...data]);
  });

  it('property: random sizes, block sizes, types and band counts read back identically in GDAL', async () => {
    const arb = fc.record({
      w: fc.integer({ min: 1, max: 90 }),
      h: fc.integer({ min: 1, max: 90 }),
      block: fc.constantFrom(16, 32, 48),
      kind: fc.constantFrom('u8', 'u16', 'i16', 'f32'),
      nb: fc.integer({ min: 1, max: 4 }),
      seed: fc.integer(),
      epsg: fc.constantFrom(4326, 32629, 32735),
    });
    const samples = fc.sample(arb, { numRuns: 20, seed: 42 });
    const cases: Case[] = [];
    for (const [i, s] of samples.entries()) {
      const r = rng(s.seed);
      const n = s.w * s.h;
      const bands: CogBand[] = Array.from({ length: s.nb }, () =>
        s.kind === 'u8' ? Uint8Array.from({ length: n }, () => Math.floor(r() * 256))
        : s.kind === 'u16' ? Uint16Array.from({ length: n }, () => Math.floor(r() * 65536))
        : s.kind === 'i16' ? Int16Array.from({ length: n }, () => Math.floor(r() * 65536) - 32768)
        : Float32Array.from({ length: n }, () => (r() < 0.1 ? NaN : (r() - 0.5) * 100)));
      const grid = s.epsg === 4326 ? geo(s.w, s.h) : { ...utm(s.w, s.h), crs: { epsg: s.epsg } };
      const file = path.join(dir, `prop-${i}.tif`);
      await writeCog(file, { grid, bands }, { blockSize: s.block, concurrency: 1 + (i % 3) });
      cases.push({ file, grid, bands, ovr: s.kind === 'f32' ? 'average' : 'nearest', nodata: null });
      expect(gdalinfoJson(file).stac['proj:epsg']).toBe(s.epsg);
    }
    for (const o of oracle(cases)) expect(o.why, o.path).toEqual([]);
  });

  it('streaming CogWriter: tiles in file order give the same file as writeCog', async () => {
    const grid = utm(40, 20);
    const a = Uint16Array.from({ length: 800 }, (_, i) => (i * 37) % 1000);
    const ref = path.join(dir, 'ref-stream.tif');
    await writeCog(ref, { grid, bands: [a] }, { blockSize: 16, overviews: 'none' });
    const file = path.join(dir, 'stream.tif');
    const w = await createCogWriter(file, { grid, sampleType: 'uint16', bandCount: 1, blockSize: 16, overviewLevels: 0 });
    expect(w.expectedBlock()).toEqual({ level: 0, row: 0, col: 0 });
    await expect(w.writeBlock(0, 0, 1, [new Uint16Array(256)])).rejects.toThrow(/expected \(0, 0, 0\)/);
    for (let row = 0; row < 2; row++) {
      for (let col = 0; col < 3; col++) {
        const tw = Math.min(16, 40 - col * 16);
        const th = Math.min(16, 20 - row * 16);
        const t = new Uint16Array(tw * th);
        for (let y = 0; y < th; y++) for (let x = 0; x < tw; x++) t[y * tw + x] = a[(row * 16 + y) * 40 + col * 16 + x]!;
        await w.writeBlock(0, row, col, [t]);
      }
    }
    await w.finish();
    expect(readFileSync(file).equals(readFileSync(ref))).toBe(true);
    const [o] = oracle([{ file, grid, bands: [a], ovr: 'none', nodata: null }]);
    expect(o!.why).toEqual([]);
  });
});

describe('BigTIFF is chosen from a worst-case size bound', () => {
  // sizes counted by hand: padded 512-tiles of the full image plus ~1/3 for overviews
  it('50000^2 uint8 (~3.4 GB with overviews) stays classic; 60000^2 (~4.9 GB) and 33000^2 float32 switch', async () => {
    for (const [side, type, big] of [[50000, 'uint8', false], [60000, 'uint8', true], [33000, 'float32', true]] as const) {
      const file = path.join(dir, `bound-${side}.tif`);
      const w = await createCogWriter(file, { grid: utm(side, side), sampleType: type, bandCount: 1 });
      expect(w.bigTiff, `${side} ${type}`).toBe(big);
      await w.abort();
    }
  });
});

describe('writeCog refuses bad input with typed errors and writes nothing', () => {
  const grid = utm(10, 10);
  const cases: [string, () => Promise<unknown>, new (...a: never[]) => Error][] = [
    ['predictor 2 on float32', () => writeCog(path.join(dir, 'e1.tif'), { grid, bands: [new Float32Array(100)] }, { predictor: 2 }), UsageError],
    ['colormap on float32', () => writeCog(path.join(dir, 'e2.tif'), { grid, bands: [new Float32Array(100)] }, { colormap: [[0, 0, 0]] }), UsageError],
    ['nodata 300 on uint8', () => writeCog(path.join(dir, 'e3.tif'), { grid, bands: [new Uint8Array(100)] }, { nodata: 300 }), UsageError],
    ['NaN nodata on int16', () => writeCog(path.join(dir, 'e4.tif'), { grid, bands: [new Int16Array(100)] }, { nodata: NaN }), UsageError],
    ['block size not /16', () => writeCog(path.join(dir, 'e5.tif'), { grid, bands: [new Uint8Array(100)] }, { blockSize: 100 }), UsageError],
    ['wrong band length', () => writeCog(path.join(dir, 'e6.tif'), { grid, bands: [new Uint8Array(99)] }), UsageError],
    ['mixed band types', () => writeCog(path.join(dir, 'e7.tif'), { grid, bands: [new Uint8Array(100), new Uint16Array(100)] }), UsageError],
    ['unknown CRS', () => writeCog(path.join(dir, 'e8.tif'), { grid: { ...grid, crs: { epsg: 2154 } }, bands: [new Uint8Array(100)] }), UnsupportedCrsError],
  ];
  for (const [name, fn, cls] of cases) {
    it(name, async () => {
      await expect(fn()).rejects.toBeInstanceOf(cls);
    });
  }
  it('no file left behind', () => {
    for (let i = 1; i <= 8; i++) expect(existsSync(path.join(dir, `e${i}.tif`))).toBe(false);
  });
});
