/**
 * Block engine (issue #4): the streamed, block-by-block result must equal the whole-array `detect()` result —
 * classes exactly, float products to 1e-6, every overview level of the output COGs equal to what the whole-array
 * writer makes from the whole arrays — on real sample data and on a synthetic pair with a 20 m band (bilinear halo),
 * SCL cloud masks (dilation halo), nodata, and many edge blocks. GDAL's COG validator checks the streamed layout.
 */
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { libdeflate } from '../src/io/libdeflate.js';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { detect } from '../src/pipeline/detect.js';
import { detectBlocks, type BlockDetectOptions } from '../src/engine/detect-blocks.js';
import { planBlocks } from '../src/engine/plan.js';
import { sclCloudMask } from '../src/engine/mask-kernel.js';
import { quicklookCellSums, runFusedKernel } from '../src/engine/fused-kernel.js';
import { vegetationRules } from '../src/change/presets/vegetation.js';
import type { BlockSamples } from '../src/engine/block-task.js';
import { toPhysical } from '../src/pipeline/align.js';
import { tryLoadWasm } from '../src/io/wasm.js';
import { sclMask } from '../src/raster/scl-mask.js';
import { cogLevels, createSpoolingCogWriter, createTileEncoder, planSpoolSpans, reduceBand, writeCog, type CogBand } from '../src/io/cog-writer.js';
import { openTiffFile } from '../src/io/tiff/index.js';
import type { Grid } from '../src/raster/grid.js';
import proj4 from 'proj4';
import { GDAL_SKIP_REASON, hasGdal, PYTHON, run } from './helpers/gdal.js';
import { readAllLevels, syntheticBand, syntheticScl, expectSameFloats, expectSameInts } from './helpers/synthetic.js';

const DATA = process.env.S2CHANGE_DATA ?? path.resolve(import.meta.dirname, '../../shared/data');
const dir = mkdtempSync(path.join(tmpdir(), 's2change-engine-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const VALIDATOR = '/usr/lib/python3/dist-packages/osgeo_utils/samples/validate_cloud_optimized_geotiff.py';

/** The synthetic bands of this file: parcels of 137 x 91 px on three levels, a 70/55 px wave, ±40 DN noise. */
const band = (g: Grid, seed: number, base: number, amp: number, change: (x: number, y: number) => number, holes: boolean) =>
  syntheticBand(g, seed, { base, amp, parcel: [137, 91, 3, 0.3], wave: [70, 55], noise: 80, holes: holes ? 2000 : 0 }, change);
const scl = (g: Grid, cx: number, cy: number) => syntheticScl(g, cx, cy, 40, { dx: 60, dy: 30, radius: 15 });

const W = 1500;
const H = 1300;
const grid10: Grid = { crs: { epsg: 32633 }, transform: [500000, 10, 0, 4200000, 0, -10], width: W, height: H };
const grid20: Grid = { crs: { epsg: 32633 }, transform: [500000, 20, 0, 4200000, 0, -20], width: W / 2, height: H / 2 };



async function writeDate(name: string, seed: number, after: boolean): Promise<string> {
  const d = path.join(dir, name);
  mkdirSync(d, { recursive: true });
  // After: a cleared rectangle (NIR down, red up) and a burn scar (SWIR up).
  const clear = (x: number, y: number) => (after && x > 300 && x < 900 && y > 200 && y < 700 ? 1 : 0);
  await writeCog(path.join(d, 'B03.tif'), { grid: grid10, bands: [band(grid10, seed + 1, 900, 600, (x, y) => 1500 * clear(x, y) - (after && x > 1000 ? 700 : 0), false)] }, { blockSize: 256 });
  // B04, B08, B12 with predictor 2, as Sentinel-2 COGs are: 256-pixel blocks then read whole tiles whose row
  // differences the WebAssembly kernel sums back itself (B03 without, for the other path).
  const p2 = { blockSize: 256, predictor: 2 as const };
  await writeCog(path.join(d, 'B04.tif'), { grid: grid10, bands: [band(grid10, seed + 2, 700, 500, (x, y) => 1200 * clear(x, y), true)] }, p2);
  await writeCog(path.join(d, 'B08.tif'), { grid: grid10, bands: [band(grid10, seed + 3, 3000, 1500, (x, y) => -2200 * clear(x, y), false)] }, p2);
  await writeCog(path.join(d, 'B12.tif'), { grid: grid20, bands: [band(grid20, seed + 4, 1500, 700, (x, y) => 1800 * clear(x, y), true)] }, p2);
  await writeCog(path.join(d, 'SCL.tif'), { grid: grid20, bands: [scl(grid20, after ? 600 : 130, after ? 100 : 500)] }, { blockSize: 256 });
  return d;
}




/**
 * Run both paths and compare: classes, product, areas and masks; then every COG level against writeCog of the
 * whole-array result (nearest overviews for classes, average for the product).
 */
async function compare(name: string, opts: Omit<BlockDetectOptions, 'classesPath' | 'productPath'>, blockSize: number) {
  const whole = await detect(opts);
  const classesPath = path.join(dir, `${name}-change.tif`);
  const productPath = path.join(dir, `${name}-product.tif`);
  const blocks = await detectBlocks({ ...opts, classesPath, productPath, blockSize, threads: 0, progress: false });
  expect(blocks.grid).toEqual(whole.grid);
  expect(blocks.thresholds[0]!.value).toBe(whole.result.thresholds[0]!.value);
  expect(blocks.validPixels).toBe(whole.validPixels);
  expect(blocks.maskedPixels).toEqual(whole.maskedPixels);
  expect(blocks.areas.map((a) => a.pixels)).toEqual(whole.areas.map((a) => a.pixels));
  blocks.areas.forEach((a, i) => expect(a.hectares).toBeCloseTo(whole.areas[i]!.hectares, 6));
  const ours = await readAllLevels(classesPath);
  const prod = await readAllLevels(productPath);
  expectSameInts(ours[0]!.values, whole.result.classes);
  expectSameFloats(prod[0]!.values, whole.result.products[0]!.values, 1e-6);
  // Overviews: the whole-array writer on the whole-array result is the reference pyramid.
  const refC = path.join(dir, `${name}-ref-change.tif`);
  const refP = path.join(dir, `${name}-ref-product.tif`);
  await writeCog(refC, { grid: whole.grid, bands: [whole.result.classes] }, { nodata: 255, blockSize, overviews: 'nearest' });
  await writeCog(refP, { grid: whole.grid, bands: [whole.result.products[0]!.values] }, { nodata: NaN, blockSize, overviews: 'average' });
  const rc = await readAllLevels(refC);
  const rp = await readAllLevels(refP);
  expect(ours.map((l) => [l.width, l.height])).toEqual(rc.map((l) => [l.width, l.height]));
  for (let k = 1; k < rc.length; k++) {
    expectSameInts(ours[k]!.values, rc[k]!.values);
    expectSameFloats(prod[k]!.values, rp[k]!.values, 1e-6);
  }
  return { whole, blocks, classesPath, productPath };
}

describe('block planning', () => {
  it('covers the grid exactly once with blocks aligned to the tile grid', () => {
    const blocks = planBlocks(1500, 1300, 256);
    expect(blocks.length).toBe(6 * 6);
    const seen = new Uint8Array(1500 * 1300);
    for (const b of blocks) {
      expect(b.window.x).toBe(b.col * 256);
      expect(b.window.y).toBe(b.row * 256);
      for (let y = b.window.y; y < b.window.y + b.window.height; y++) for (let x = b.window.x; x < b.window.x + b.window.width; x++) seen[y * 1500 + x]!++;
    }
    expect(seen.every((v) => v === 1)).toBe(true);
    expect(blocks.at(-1)!.window).toEqual({ x: 1280, y: 1280, width: 220, height: 20 });
  });
});

describe('cloud mask kernel', () => {
  it('the WebAssembly SCL mask and dilation equal sclMask (odd widths, NaN, out-of-range values, radii 0-5)', { skip: !tryLoadWasm('mask') ? 'dist/wasm/mask.wasm not built (npm run build)' : false }, () => {
    let seed = 11;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const odd = [NaN, -1, 255, 256, 300, 3.7, 8.2, 0];
    for (const [w, h] of [[1, 1], [15, 4], [16, 16], [17, 9], [33, 40], [70, 23], [130, 3]] as const) {
      // Runs of one class (as real SCL), some clouds, and odd values scattered in.
      const scl = Float32Array.from({ length: w * h }, (_, i) => (rand() < 0.1 ? odd[Math.floor(rand() * odd.length)]! : [4, 4, 5, 6, 9, 3][Math.floor(i / 7) % 6]!));
      for (const r of [0, 1, 2, 3, 5]) {
        expect([...sclCloudMask(scl, w, h, r)], `${w}x${h} r=${r}`).toEqual([...sclMask(scl, w, h, { dilatePixels: r })]);
      }
    }
  });
});

describe('quicklook cells from stored DNs', () => {
  it('the kernel\'s DN → reflectance → cell sums equal quicklookCellSums of toPhysical (nodata, predictor 2, cells cut by the block)', { skip: !tryLoadWasm('fused') ? 'dist/wasm/fused.wasm not built (npm run build)' : false }, () => {
    let seed = 5;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (const [w, h, f, offX, offY] of [[1, 1, 1, 0, 0], [17, 9, 4, 3, 1], [33, 40, 6, 0, 5], [70, 23, 5, 4, 4]] as const) {
      // DNs over the whole uint16 range (the offset makes some reflectances negative), 0 = nodata scattered in.
      const dn = Uint16Array.from({ length: w * h }, () => (rand() < 0.1 ? 0 : Math.floor(rand() * 65536)));
      // Row differences as TIFF predictor 2 stores them, modulo 2^16.
      const differenced = dn.map((v, i) => (i % w === 0 ? v : (v - dn[i - 1]!) & 0xffff));
      const cw = Math.floor((offX + w - 1) / f) + 1;
      const ch = Math.floor((offY + h - 1) / f) + 1;
      for (const nodata of [0, -1]) {
        const radiometry = { scale: 1e-4, offset: -1000, nodata: nodata < 0 ? null : nodata, source: '' };
        const want = quicklookCellSums(toPhysical(dn, { radiometry, kind: 'reflectance' }), w, h, f, offX, offY, cw, ch);
        expect(want.counts.some((c) => c > 0)).toBe(true);
        for (const [values, predictedRow] of [[dn, 0], [differenced, w]] as const) {
          const samples: BlockSamples = { values: values.slice(), scale: 1e-4, offset: -1000, nodata, predictedRow };
          const got = quicklookCellSums(samples, w, h, f, offX, offY, cw, ch);
          const at = `${w}x${h} f=${f} nodata=${nodata} predictor=${predictedRow > 0}`;
          expect([...got.counts], at).toEqual([...want.counts]);
          expect(Buffer.from(got.sums.buffer).equals(Buffer.from(want.sums.buffer)), at).toBe(true); // bit for bit
          // The samples are left as read (the predictor is undone on the kernel's copy).
          expect(samples.predictedRow).toBe(predictedRow);
          expect(Buffer.from(samples.values.buffer).equals(Buffer.from(values.buffer)), at).toBe(true);
        }
      }
    }
  });
});

describe('fused pass in strips', () => {
  it('gives per pixel what numbers computed here give, and the same bytes and counts in any strip size (predictor 2, nodata, clouds, a physical band)', { skip: !tryLoadWasm('fused') ? 'dist/wasm/fused.wasm not built (npm run build)' : false }, () => {
    let seed = 11;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const w = 37, h = 23, n = w * h;
    const dn = () => Uint16Array.from({ length: n }, () => (rand() < 0.05 ? 0 : 1000 + Math.floor(rand() * 6000)));
    const [x1, y1, x0] = [dn(), dn(), dn()];
    const y0 = Float32Array.from(dn(), (v) => (v === 0 ? NaN : Math.fround((v - 1000) * 1e-4))); // a resampled band
    const differenced = (d: Uint16Array) => d.map((v, i) => (i % w === 0 ? v : (v - d[i - 1]!) & 0xffff));
    const cloud1 = Uint8Array.from({ length: n }, () => (rand() < 0.1 ? 1 : 0));
    const cloud0 = Uint8Array.from({ length: n }, () => (rand() < 0.1 ? 1 : 0));
    const s = (values: Uint16Array | Float32Array, predictedRow = 0): BlockSamples =>
      values instanceof Float32Array ? { values, scale: 1, offset: 0, nodata: NaN, predictedRow: 0 } : { values, scale: 1e-4, offset: -1000, nodata: 0, predictedRow };
    const rules = vegetationRules(0.2);
    const run = (strip: number) => {
      const out = { change: new Float32Array(n), classes: new Uint8Array(n) };
      const r = runFusedKernel(s(differenced(x1), w), s(y1), s(x0), s(y0), cloud1, cloud0, true, rules, w, h, out, strip);
      return { out, r };
    };
    const whole = run(1 << 20);
    // Reference by hand: reflectance in float32, NDVI per date in float32, after − before.
    const refl = (v: number) => (v === 0 ? NaN : Math.fround((v - 1000) * 1e-4));
    const nd = (a: number, b: number) => Math.fround((a - b) / (a + b));
    let nodata = 0, cloud = 0;
    for (let i = 0; i < n; i++) {
      const bad = [x1[i]!, y1[i]!, x0[i]!].includes(0) || Number.isNaN(y0[i]!);
      if (bad) nodata++; else if (cloud1[i] || cloud0[i]) cloud++;
      const want = bad || cloud1[i] || cloud0[i] ? NaN : Math.fround(nd(refl(x1[i]!), refl(y1[i]!)) - nd(refl(x0[i]!), y0[i]!));
      if (Number.isNaN(want)) { expect(whole.out.classes[i]).toBe(255); expect(whole.out.change[i]).toBeNaN(); continue; }
      expect(whole.out.change[i]).toBeCloseTo(want, 6);
      expect(whole.out.classes[i]).toBe(want <= -0.2 ? 1 : want >= 0.2 ? 2 : 0);
    }
    expect([whole.r.nodata, whole.r.cloud]).toEqual([nodata, cloud]);
    expect(whole.r.radiometry[3]).toBeNull(); // the physical band is counted by the caller
    for (const strip of [w, 4 * w, 5 * w + 3, 1]) { // one row, four rows (a short last strip), not a whole row, < a row
      const got = run(strip);
      expect(Buffer.from(got.out.change.buffer).equals(Buffer.from(whole.out.change.buffer)), `strip ${strip}`).toBe(true);
      expect([...got.out.classes]).toEqual([...whole.out.classes]);
      expect([...got.r.classCounts]).toEqual([...whole.r.classCounts]);
      expect([got.r.nodata, got.r.cloud, got.r.radiometry]).toEqual([whole.r.nodata, whole.r.cloud, whole.r.radiometry]);
    }
  });
});

describe('block engine equals the whole-array path', () => {
  let before = '';
  let after = '';
  it('writes the synthetic pair', async () => {
    before = await writeDate('before', 10, false);
    after = await writeDate('after', 20, true);
  }, 60_000);

  it('vegetation (10 m bands, SCL halo, nodata), 256-pixel blocks', async () => {
    const r = await compare('veg', { before, after, preset: 'vegetation' }, 256);
    expect(r.blocks.blocks).toBe(36);
    // The scene really has change and masks, so the comparison is not vacuous.
    expect(r.blocks.areas.find((a) => a.value === 1)!.pixels).toBeGreaterThan(100_000);
    expect(r.blocks.maskedPixels.cloudShadowSnow).toBeGreaterThan(10_000);
    expect(r.blocks.maskedPixels.nodata).toBeGreaterThan(1000);
  }, 60_000);

  it('wildfire (20 m B12 up-sampled bilinearly across block edges), 256-pixel blocks', async () => {
    const r = await compare('fire', { before, after, preset: 'wildfire' }, 256);
    expect(r.blocks.bandsUsed).toEqual(['B08', 'B12']);
    expect(r.blocks.areas.filter((a) => a.value >= 1 && a.value <= 4).reduce((s, a) => s + a.pixels, 0)).toBeGreaterThan(100_000);
  }, 60_000);

  it('without blockSize, blocks take the inputs\' tile size (256 here) so each input tile is read once; a --bbox off the tile grid gets 512', async () => {
    const classesPath = path.join(dir, 'auto-classes.tif');
    const r = await detectBlocks({ before, after, preset: 'vegetation', classesPath, productPath: null, threads: 0, progress: false });
    expect(r.blocks).toBe(36); // 6 x 6 blocks of 256 over 1500 x 1300
    const f = await openTiffFile(classesPath);
    expect([f.images[0]!.tileWidth, f.images[0]!.tileHeight]).toEqual([256, 256]);
    await f.close();
    const whole = await detect({ before, after, preset: 'vegetation' });
    expectSameInts((await readAllLevels(classesPath))[0]!.values, whole.result.classes);
    // A window starting 10 px into the tile grid: tiles no longer line up with blocks.
    const utm33 = '+proj=utm +zone=33 +datum=WGS84 +units=m +no_defs';
    const [lon0, lat0] = proj4(utm33, 'EPSG:4326', [500000 + 100 + 5, 4200000 - 12000 + 5]);
    const [lon1, lat1] = proj4(utm33, 'EPSG:4326', [500000 + 12000 - 5, 4200000 - 100 - 5]);
    const clipped = await detectBlocks({ before, after, preset: 'vegetation', bbox: { minX: lon0!, minY: lat0!, maxX: lon1!, maxY: lat1! },
      classesPath: path.join(dir, 'auto-clipped.tif'), productPath: null, threads: 0, progress: false });
    const g = await openTiffFile(path.join(dir, 'auto-clipped.tif'));
    expect(g.images[0]!.tileWidth).toBe(512);
    await g.close();
    expect((clipped.grid.transform[0] - 500000) % 2560).not.toBe(0); // the window starts inside a 256-px input tile
  }, 60_000);

  it('water with Otsu: the streamed histogram gives the same threshold and map', async () => {
    const r = await compare('water', { after, preset: 'water', method: 'otsu' }, 256);
    expect(r.blocks.thresholds[0]!.source).toMatch(/Otsu/);
  }, 60_000);

  const DIST = path.resolve(import.meta.dirname, '../dist/engine/detect-blocks.js');
  it('the piscina worker pool (compiled dist/) gives the same files as the in-process run', { skip: !existsSync(DIST) }, async () => {
    const mod = (await import(DIST)) as typeof import('../src/engine/detect-blocks.js');
    const classesPath = path.join(dir, 'pool-change.tif');
    const productPath = path.join(dir, 'pool-product.tif');
    const r = await mod.detectBlocks({ before, after, preset: 'vegetation', classesPath, productPath, blockSize: 256, threads: 2, maxInFlight: 3, progress: false });
    expect(r.threads).toBe(2);
    const { readFileSync } = await import('node:fs');
    expect(Buffer.compare(readFileSync(classesPath), readFileSync(path.join(dir, 'veg-change.tif')))).toBe(0);
    expect(Buffer.compare(readFileSync(productPath), readFileSync(path.join(dir, 'veg-product.tif')))).toBe(0);
  }, 60_000);

  it('GDAL sees valid COGs with the whole-array values', { skip: !hasGdal() || !existsSync(VALIDATOR) ? GDAL_SKIP_REASON : false }, async () => {
    const file = path.join(dir, 'veg-change.tif');
    const prod = path.join(dir, 'veg-product.tif');
    if (!existsSync(file)) return;
    for (const f of [file, prod]) expect(run(PYTHON, [VALIDATOR, f])).toMatch(/is a valid cloud optimized GeoTIFF/);
  });

  it('real data: Kenneth fire pre/post (multi-band float64), 64-pixel blocks', { skip: !existsSync(path.join(DATA, 'wildfire-calfire-s2')) }, async () => {
    const d = path.join(DATA, 'wildfire-calfire-s2');
    const r = await compare('kenneth', {
      before: path.join(d, 'KENNETH_20250109_pre_fire.tif'), after: path.join(d, 'KENNETH_20250109_post_fire.tif'), preset: 'wildfire',
    }, 64);
    expect(r.blocks.blocks).toBeGreaterThan(4);
  }, 60_000);

  it('real data: 29RKH COG folder (SCL, 20 m bands) against a modified after date', { skip: !existsSync(path.join(DATA, 's2-l2a-cog-29RKH')) }, async () => {
    const src = path.join(DATA, 's2-l2a-cog-29RKH/tests/fixtures/sentinel-cogs/sentinel-s2-l2a-cogs/29/R/KH/2020/2/S2A_29RKH_20200219_0_L2A');
    // After date: the real bands with a synthetic clearing (B08 halved, B04 doubled) in one corner.
    const afterDir = path.join(dir, 'rkh-after');
    mkdirSync(afterDir, { recursive: true });
    for (const b of ['B04', 'B08', 'B12', 'SCL']) {
      const f = await openTiffFile(path.join(src, `${b}.tif`));
      const img = f.images[0]!;
      const [v] = await img.readWindow();
      await f.close();
      const arr = v as CogBand;
      if (b === 'B04' || b === 'B08') {
        for (let y = 0; y < img.height / 3; y++) for (let x = 0; x < img.width / 2; x++) {
          const i = y * img.width + x;
          arr[i] = b === 'B08' ? Math.floor(arr[i]! / 2) : Math.min(65535, arr[i]! * 2);
        }
      }
      await writeCog(path.join(afterDir, `${b}.tif`), { grid: img.grid!, bands: [arr] }, { nodata: img.nodata, blockSize: 128 });
    }
    const opts = { before: src, after: afterDir, preset: 'vegetation', scene: { offset: 0 } };
    const r = await compare('rkh', opts, 128);
    expect(r.blocks.areas.find((a) => a.value === 1)!.pixels).toBeGreaterThan(0);
    const fire = await compare('rkh-fire', { ...opts, preset: 'wildfire' }, 128);
    expect(fire.blocks.blocks).toBeGreaterThan(4);
  }, 120_000);
});

/** Whether the native binding can collapse a range of a file in `folder` (ext4, xfs; not tmpfs). */
function canCollapse(folder: string): boolean {
  if (!libdeflate?.collapseRange) return false;
  const probe = path.join(folder, 'collapse-probe.bin');
  writeFileSync(probe, Buffer.alloc(3 * 4096, 1));
  const fd = openSync(probe, 'r+');
  try {
    return libdeflate.collapseRange(fd, 4096, 4096) === 0;
  } finally {
    closeSync(fd);
  }
}

describe('spooling COG writer', () => {
  it('tiles written in any order give the same file as the in-order writer', async () => {
    const g: Grid = { crs: { epsg: 32633 }, transform: [500000, 10, 0, 4200000, 0, -10], width: 100, height: 70 };
    const data = new Float32Array(100 * 70).map((_, i) => Math.sin(i / 17));
    const a = path.join(dir, 'spool-ref.tif');
    const b = path.join(dir, 'spool-any.tif');
    await writeCog(a, { grid: g, bands: [data] }, { blockSize: 32, overviews: 'none' });
    const header = { grid: g, sampleType: 'float32' as const, bandCount: 1, blockSize: 32, overviewLevels: 0 };
    const enc = createTileEncoder(header);
    const w = await createSpoolingCogWriter(b, header, { reclaim: 'copy' });
    const tiles: [number, number][] = [];
    for (let r = 0; r < 3; r++) for (let c = 0; c < 4; c++) tiles.push([r, c]);
    for (const [r, c] of tiles.reverse()) {
      const tw = Math.min(32, 100 - c * 32);
      const th = Math.min(32, 70 - r * 32);
      const t = new Float32Array(tw * th);
      for (let y = 0; y < th; y++) t.set(data.subarray((r * 32 + y) * 100 + c * 32, (r * 32 + y) * 100 + c * 32 + tw), y * tw);
      await w.writeEncoded(0, r, c, enc(0, r, c, [t]));
    }
    await w.finish();
    const { readFileSync } = await import('node:fs');
    expect(Buffer.compare(readFileSync(a), readFileSync(b))).toBe(0);
    expect(existsSync(`${b}.spool`)).toBe(false);
  });

  it('small chunks, shuffled tiles, early tiles spilled to the spool, flushed to disk: the in-order file and its SHA-256', async () => {
    const g: Grid = { crs: { epsg: 32633 }, transform: [500000, 10, 0, 4200000, 0, -10], width: 200, height: 150 };
    const data = new Float32Array(200 * 150).map((_, i) => (i % 97 === 0 ? NaN : Math.sin(i / 13) * Math.cos(i / 3001)));
    const a = path.join(dir, 'spool-ref2.tif');
    const b = path.join(dir, 'spool-chunks.tif');
    await writeCog(a, { grid: g, bands: [data] }, { blockSize: 16, overviews: 'none' });
    const header = { grid: g, sampleType: 'float32' as const, bandCount: 1, blockSize: 16, overviewLevels: 0 };
    const enc = createTileEncoder(header);
    // ~1 KB tiles: at most ~4 early ones in memory, the others go to the spool until their turn.
    const w = await createSpoolingCogWriter(b, header, { sync: true, reclaim: 'copy', reorderBytes: 4000 });
    const tiles: [number, number][] = [];
    for (let r = 0; r < 10; r++) for (let c = 0; c < 13; c++) tiles.push([r, c]);
    // A fixed shuffle: every 7th tile of the list in turn (7 and 130 are coprime).
    const order = tiles.map((_, i) => tiles[(i * 7) % tiles.length]!);
    for (const [r, c] of order) {
      const tw = Math.min(16, 200 - c * 16);
      const th = Math.min(16, 150 - r * 16);
      const t = new Float32Array(tw * th);
      for (let y = 0; y < th; y++) t.set(data.subarray((r * 16 + y) * 200 + c * 16, (r * 16 + y) * 200 + c * 16 + tw), y * tw);
      await w.writeEncoded(0, r, c, enc(0, r, c, [t]));
    }
    // 3000-byte chunks: many reads and writes in flight.
    const out = await w.finish({ chunkBytes: 3000 });
    const bytes = readFileSync(b);
    expect(Buffer.compare(readFileSync(a), bytes)).toBe(0);
    expect(out.bytes).toBe(bytes.length);
    expect(out.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
    expect(existsSync(`${b}.spool`)).toBe(false);
  });

  it('with overviews: copy mode gives writeCog\'s file; collapse mode its tiles in COG layout, under 4 KiB longer', { skip: !hasGdal() || !existsSync(VALIDATOR) ? GDAL_SKIP_REASON : false }, async () => {
    const g: Grid = { crs: { epsg: 32633 }, transform: [500000, 10, 0, 4200000, 0, -10], width: 300, height: 200 };
    const data = new Float32Array(300 * 200).map((_, i) => (i % 89 === 0 ? NaN : Math.sin(i / 7) * Math.cos(i / 2999)));
    const ref = path.join(dir, 'room-ref.tif');
    await writeCog(ref, { grid: g, bands: [data] }, { blockSize: 32 });
    const header = { grid: g, sampleType: 'float32' as const, bandCount: 1, blockSize: 32 };
    const levels = cogLevels(300, 200, 32);
    // Every level as writeCog makes it: 2x averages of the level above.
    const pyramid = [data];
    for (let k = 1; k < levels.length; k++) pyramid.push(reduceBand(pyramid[k - 1]!, levels[k - 1]!.width, levels[k - 1]!.height, 'average', NaN));
    const enc = createTileEncoder(header);
    const write = async (file: string, reclaim: 'auto' | 'copy') => {
      const w = await createSpoolingCogWriter(file, header, { reclaim, reorderBytes: 8000 });
      // Overview tiles interleaved with full-resolution ones, full resolution bottom row first.
      for (let k = levels.length - 1; k >= 0; k--) {
        const l = levels[k]!;
        for (let r = l.tilesDown - 1; r >= 0; r--) {
          for (let c = 0; c < l.tilesAcross; c++) {
            const tw = Math.min(32, l.width - c * 32);
            const th = Math.min(32, l.height - r * 32);
            const t = new Float32Array(tw * th);
            for (let y = 0; y < th; y++) t.set(pyramid[k]!.subarray((r * 32 + y) * l.width + c * 32, (r * 32 + y) * l.width + c * 32 + tw), y * tw);
            await w.writeEncoded(k, r, c, enc(k, r, c, [t]));
          }
        }
      }
      return w.finish({ chunkBytes: 5000 });
    };
    const copied = path.join(dir, 'room-copy.tif');
    const collapsed = path.join(dir, 'room-auto.tif');
    const c1 = await write(copied, 'copy');
    const c2 = await write(collapsed, 'auto');
    expect(Buffer.compare(readFileSync(ref), readFileSync(copied))).toBe(0);
    expect(c1.bytes).toBe(readFileSync(ref).length);
    expect(c2.bytes - c1.bytes).toBeGreaterThanOrEqual(0);
    expect(c2.bytes - c1.bytes).toBeLessThan(4096);
    // Where this filesystem can collapse a range (probed on a scratch file), the room was collapsed, not copied: the
    // IFDs and overviews then end on a 4 KiB boundary, 629 bytes short of it here.
    if (canCollapse(dir)) expect(c2.bytes).not.toBe(c1.bytes);
    expect(c2.sha256).toBe(createHash('sha256').update(readFileSync(collapsed)).digest('hex'));
    expect(run(PYTHON, [VALIDATOR, collapsed])).toMatch(/is a valid cloud optimized GeoTIFF/);
    // Every level of the collapsed file has the reference's pixels (the reference is checked against GDAL in
    // tests/cog-writer.test.ts; GDAL's validator above read the collapsed one's layout).
    const a = await readAllLevels(ref);
    const b = await readAllLevels(collapsed);
    expect(b.length).toBe(levels.length);
    for (let k = 0; k < levels.length; k++) expectSameFloats(b[k]!.values, a[k]!.values, 0);
  });

  it('spool spans: consecutive tiles within the span size are read at once, a longer tile alone', () => {
    // tiles (spool offset, length) in file order; spans of at most 100 bytes
    const at = [0, 40, 80, 300, 200, 500, 1000];
    const len = [40, 40, 20, 50, 60, 250, 10];
    expect(planSpoolSpans(at, len, 100)).toEqual([
      { at: 0, length: 100, first: 0, end: 3 }, // 0..100
      { at: 300, length: 50, first: 3, end: 4 }, // 300..350, with 200..260 it would span 150 bytes: split
      { at: 200, length: 60, first: 4, end: 5 },
      { at: 500, length: 250, first: 5, end: 6 }, // longer than a span: alone
      { at: 1000, length: 10, first: 6, end: 7 },
    ]);
    // a tile stored before the one that precedes it in the file joins its span (0..80)
    expect(planSpoolSpans([50, 0], [30, 40], 100)).toEqual([{ at: 0, length: 80, first: 0, end: 2 }]);
  });

  it('refuses to finish with a missing tile', async () => {
    const g: Grid = { crs: { epsg: 32633 }, transform: [500000, 10, 0, 4200000, 0, -10], width: 40, height: 40 };
    const w = await createSpoolingCogWriter(path.join(dir, 'spool-missing.tif'), { grid: g, sampleType: 'uint8', bandCount: 1, blockSize: 32, overviewLevels: 0 });
    await expect(w.finish()).rejects.toThrow(/never written/);
  });
});
