/**
 * The block engine on the generic and urban presets (CVA with Otsu, the ΔBSI rule, IR-MAD, PCA-k-means): the
 * streamed result must equal the whole-array `detect()` result — classes exactly, the float product to 1e-6, the
 * same thresholds, method, formula and notes, the same masks and areas — with many small blocks (so sampling, Otsu
 * histograms and PCA tiles are gathered across blocks), on a synthetic six-band pair with 20 m bands, SCL clouds and
 * nodata, and on real data (an OSCD city; the 29RKH COG tile against a modified after date). The mergeable pieces
 * the engine relies on are checked against their whole-array definitions first.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { URBAN_UNSUPERVISED_METHOD } from '../src/change/presets/urban.js';
import { CovarianceAccumulator } from '../src/change/covariance.js';
import { finiteRange, mergeRanges } from '../src/change/histogram.js';
import { otsuHistogram, otsuThreshold } from '../src/change/otsu.js';
import { accumulateBlocks, accumulateBlocksIn, PCA_SCAN_TILE } from '../src/change/pca-kmeans.js';
import { seededRandom } from '../src/change/sampling.js';
import { isS2ChangeError } from '../src/errors.js';
import { blockEngineRefusal, detectBlocks, type BlockDetectOptions } from '../src/engine/detect-blocks.js';
import { planBlocks } from '../src/engine/plan.js';
import { writeCog, type CogBand } from '../src/io/cog-writer.js';
import { openTiffFile } from '../src/io/tiff/index.js';
import { detect } from '../src/pipeline/detect.js';
import type { Grid } from '../src/raster/grid.js';
import { syntheticBand, syntheticScl, expectSameFloats, expectSameInts } from './helpers/synthetic.js';

const DATA = process.env.S2CHANGE_DATA ?? path.resolve(import.meta.dirname, '../../shared/data');
const OSCD = path.join(DATA, 'oscd', 'Onera Satellite Change Detection dataset - Images');
const R29 = path.join(DATA, 's2-l2a-cog-29RKH/tests/fixtures/sentinel-cogs/sentinel-s2-l2a-cogs/29/R/KH/2020/2/S2A_29RKH_20200219_0_L2A');
const dir = mkdtempSync(path.join(tmpdir(), 's2change-engine-mv-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('mergeable pieces equal their whole-array definitions', () => {
  it('Otsu over merged block ranges and histograms equals otsuThreshold on the whole array', () => {
    fc.assert(fc.property(fc.array(fc.float({ min: -3, max: 3, noNaN: true }), { minLength: 2, maxLength: 400 }), fc.integer({ min: 1, max: 9 }),
      fc.integer({ min: 0, max: 2 ** 31 }), (list, pieces, seed) => {
        const values = Float32Array.from(list);
        const r = seededRandom(seed);
        const valid = Uint8Array.from(values, () => (r() < 0.8 ? 1 : 0));
        values[Math.floor(r() * values.length)] = NaN;
        const cut = Array.from({ length: pieces - 1 }, () => Math.floor(r() * values.length)).sort((a, b) => a - b);
        const bounds = [0, ...cut, values.length];
        const parts = bounds.slice(1).map((end, k) => [bounds[k]!, end] as const);
        let range: [number, number] = [NaN, NaN];
        for (const [a, b] of parts) range = mergeRanges(range, finiteRange(values.subarray(a, b), valid.subarray(a, b)));
        expect(range).toEqual(finiteRange(values, valid));
        const h = otsuHistogram(range);
        for (const [a, b] of parts) if (h) h.addCounts(otsuHistogram(range)!.add(values.subarray(a, b), valid.subarray(a, b)).counts);
        expect(Object.is(h ? h.otsu() : NaN, otsuThreshold(values, { valid }))).toBe(true);
      }), { numRuns: 200 });
  });

  it('PCA block covariance scanned tile by tile (any window, halo) equals accumulateBlocks bit for bit', () => {
    const W = 1100;
    const H = 600;
    const r = seededRandom(3);
    const diff = new Float32Array(W * H).map((_, i) => (r() < 0.01 ? NaN : Math.sin(i / 97) + r()));
    const whole = accumulateBlocks(diff, W, H, 4);
    const merged = new CovarianceAccumulator(16);
    for (const t of planBlocks(W, H, PCA_SCAN_TILE)) {
      // As a worker sees the tile: its own window grown by a 4-pixel halo, clipped to the image.
      const x0 = Math.max(0, t.window.x - 4);
      const y0 = Math.max(0, t.window.y - 4);
      const x1 = Math.min(W, t.window.x + t.window.width + 4);
      const y1 = Math.min(H, t.window.y + t.window.height + 4);
      const win = { x: x0, y: y0, width: x1 - x0, height: y1 - y0 };
      const part = new Float32Array(win.width * win.height);
      for (let y = 0; y < win.height; y++) part.set(diff.subarray((y0 + y) * W + x0, (y0 + y) * W + x1), y * win.width);
      const state = accumulateBlocksIn(part, win, W, H, t.window, 4).state();
      merged.merge(CovarianceAccumulator.fromState(structuredClone(state)));
    }
    expect(merged.count).toBe(whole.count);
    expect(Array.from(merged.mean())).toEqual(Array.from(whole.mean()));
    expect(merged.covariance()).toEqual(whole.covariance());
  });
});

/** The synthetic bands of this file: parcels of 61 x 47 px on four levels, a 50/35 px wave, ±60 DN noise. */
const band = (g: Grid, seed: number, base: number, amp: number, change: (x: number, y: number) => number, holes: boolean) =>
  syntheticBand(g, seed, { base, amp, parcel: [61, 47, 4, 0.25], wave: [50, 35], noise: 120, holes: holes ? 500 : 0 }, change);
const scl = (g: Grid, cx: number, cy: number) => syntheticScl(g, cx, cy, 25, { dx: 40, dy: 20, radius: 10 });

const W = 700;
const H = 560;
const grid10: Grid = { crs: { epsg: 32633 }, transform: [500000, 10, 0, 4200000, 0, -10], width: W, height: H };
const grid20: Grid = { crs: { epsg: 32633 }, transform: [500000, 20, 0, 4200000, 0, -20], width: W / 2, height: H / 2 };



/**
 * One date of six bands (10 m B02 B03 B04 B08, 20 m B11 B12) and SCL. The after date has new built-up land in
 * two rectangles (visible and SWIR up, NIR down) and a gain/offset on every band, as between two acquisitions.
 */
async function writeDate(name: string, seed: number, after: boolean): Promise<string> {
  const d = path.join(dir, name);
  mkdirSync(d, { recursive: true });
  const built = (x: number, y: number) => (after && ((x > 150 && x < 330 && y > 100 && y < 260) || (x > 480 && x < 620 && y > 380 && y < 500)) ? 1 : 0);
  const gain = after ? 1.06 : 1;
  const spec: [string, Grid, number, number, number, boolean][] = [
    ['B02', grid10, 600, 300, 900, true], ['B03', grid10, 800, 400, 1000, false], ['B04', grid10, 700, 500, 1300, false],
    ['B08', grid10, 3000, 1400, -1800, true], ['B11', grid20, 2000, 800, 1500, false], ['B12', grid20, 1400, 700, 1600, true],
  ];
  for (const [b, g, base, amp, delta, holes] of spec) {
    const v = band(g, seed + b.charCodeAt(2), base, amp, (x, y) => delta * built(x, y), holes);
    for (let i = 0; i < v.length; i++) if (v[i]) v[i] = Math.max(1, Math.min(65535, Math.round(v[i]! * gain + (after ? 40 : 0))));
    await writeCog(path.join(d, `${b}.tif`), { grid: g, bands: [v] }, { blockSize: 128, nodata: 0 });
  }
  await writeCog(path.join(d, 'SCL.tif'), { grid: grid20, bands: [scl(grid20, after ? 260 : 70, after ? 60 : 210)] }, { blockSize: 128 });
  return d;
}

async function readLevel0(file: string): Promise<ArrayLike<number>> {
  const f = await openTiffFile(file);
  try {
    const [v] = await f.images[0]!.readWindow();
    return v!;
  } finally {
    await f.close();
  }
}



/**
 * Run both paths and compare everything the run reports; returns both. The product is compared to 1e-6, or to
 * `relativeTolerance` × |value| when given (see the OSCD test).
 */
async function compare(name: string, opts: Omit<BlockDetectOptions, 'classesPath' | 'productPath'>, blockSize: number, relativeTolerance?: number) {
  const whole = await detect(opts);
  const classesPath = path.join(dir, `${name}-change.tif`);
  const productPath = path.join(dir, `${name}-product.tif`);
  const blocks = await detectBlocks({ ...opts, classesPath, productPath, blockSize, threads: 0, progress: false });
  expect(blocks.blocks).toBeGreaterThan(4);
  expect(blocks.grid).toEqual(whole.grid);
  expect(blocks.bandsUsed).toEqual(whole.bandsUsed);
  expect(blocks.method).toBe(whole.result.method);
  expect(blocks.thresholds).toEqual(whole.result.thresholds);
  expect(blocks.formula).toBe(whole.result.formula);
  expect(blocks.notes).toEqual(whole.result.notes);
  expect([...blocks.warnings].sort()).toEqual([...whole.warnings].sort());
  expect(blocks.validPixels).toBe(whole.validPixels);
  expect(blocks.maskedPixels).toEqual(whole.maskedPixels);
  expect(blocks.coregistration).toEqual(whole.coregistration);
  expect(blocks.areas.map((a) => a.pixels)).toEqual(whole.areas.map((a) => a.pixels));
  blocks.areas.forEach((a, i) => expect(a.hectares).toBeCloseTo(whole.areas[i]!.hectares, 6));
  expectSameInts(await readLevel0(classesPath), whole.result.classes);
  const product = whole.result.products[0];
  if (product) {
    expect(blocks.product).toMatchObject({ name: product.name, description: product.description });
    expectSameFloats(await readLevel0(productPath), product.values, relativeTolerance ?? 1e-6, relativeTolerance !== undefined);
  } else {
    expect(blocks.product).toBeNull();
    expect(existsSync(productPath)).toBe(false);
  }
  return { whole, blocks, classesPath, productPath };
}

const changed = (r: { blocks: { areas: { value: number; pixels: number }[] } }) => r.blocks.areas.find((a) => a.value === 1)!.pixels;

describe('block engine equals the whole-array path: generic and urban', () => {
  let before = '';
  let after = '';
  it('writes the synthetic six-band pair', async () => {
    before = await writeDate('before', 10, false);
    after = await writeDate('after', 20, true);
  }, 60_000);

  it('generic, Otsu on the CVA magnitude (3 passes: range, histogram, classify), 64-pixel blocks', async () => {
    const r = await compare('generic-otsu', { before, after, preset: 'generic' }, 64);
    expect(r.blocks.thresholds[0]!.source).toMatch(/Otsu/);
    expect(r.blocks.bandsUsed).toEqual(['B02', 'B03', 'B04', 'B08', 'B11', 'B12']);
    expect(changed(r)).toBeGreaterThan(20_000);
    expect(r.blocks.maskedPixels.cloudShadowSnow).toBeGreaterThan(5_000);
    expect(r.blocks.maskedPixels.nodata).toBeGreaterThan(1_000);
  }, 60_000);

  it('urban, CVA, and generic with a fixed threshold (1 pass), 48-pixel blocks', async () => {
    const r = await compare('urban-cva', { before, after, preset: 'urban', method: 'cva' }, 48);
    expect(r.blocks.method).toBe('cva');
    await compare('generic-threshold', { before, after, preset: 'generic', method: 'threshold' }, 48);
    await compare('urban-user', { before, after, preset: 'urban', method: 'cva', threshold: 0.25 }, 48);
  }, 60_000);

  it('urban, the ΔBSI rule with Otsu', async () => {
    const r = await compare('urban-otsu', { before, after, preset: 'urban', method: 'otsu' }, 64);
    expect(r.blocks.thresholds[0]!.name).toBe('ΔBSI');
    expect(r.blocks.product!.name).toBe('dbsi');
  }, 60_000);

  it('IR-MAD: the seeded sample (rate < 1) gathered by global pixel index, one fit, applied per block', async () => {
    const r = await compare('irmad', { before, after, preset: 'generic', method: 'irmad' }, 64);
    expect(r.blocks.validPixels).toBeGreaterThan(250_000); // so the fit used a sample, not every pixel
    expect(r.blocks.thresholds[0]!.name).toMatch(/IR-MAD/);
    expect(changed(r)).toBeGreaterThan(10_000);
    await compare('irmad-urban', { before, after, preset: 'urban', method: 'irmad', threshold: 0.999 }, 96);
    const mad = await compare('mad', { before, after, preset: 'generic', method: 'mad' }, 64);
    expect(mad.blocks.thresholds[0]!.name).toMatch(/^MAD/);
    expect(mad.blocks.product!.name).toBe('mad_chi2');
  }, 300_000);

  it('PCA-k-means: block covariance over 512-pixel tiles, features with a halo across block edges', async () => {
    const r = await compare('pca', { before, after, preset: 'generic', method: 'pca-kmeans' }, 64);
    expect(r.blocks.validPixels).toBeGreaterThan(50_000);
    expect(changed(r)).toBeGreaterThan(10_000);
    await compare('pca-urban', { before, after, preset: 'urban', method: 'pca-kmeans', cvaBands: ['B04', 'B08', 'B11'] }, 32);
  }, 120_000);

  it('identical dates: no change, no product for IR-MAD and PCA-k-means; Otsu falls back to the fixed default', async () => {
    for (const method of ['irmad', 'pca-kmeans'] as const) {
      const r = await compare(`same-${method}`, { before, after: before, preset: 'generic', method }, 64);
      expect(r.blocks.notes.join()).toMatch(/identical/);
      expect(r.blocks.product).toBeNull();
    }
    const otsu = await compare('same-otsu', { before, after: before, preset: 'generic' }, 64);
    expect(otsu.blocks.thresholds[0]!.source).not.toMatch(/Otsu/);
    expect(otsu.blocks.notes.join()).toMatch(/Otsu found no threshold/);
  }, 120_000);

  const DIST = path.resolve(import.meta.dirname, '../dist/engine/detect-blocks.js');
  const DIST_MV = path.resolve(import.meta.dirname, '../dist/engine/multivariate-blocks.js');
  it('the piscina worker pool (compiled dist/) gives the same files (models and states cross threads)', { timeout: 120_000, skip: !existsSync(DIST_MV) }, async () => {
    const mod = (await import(DIST)) as typeof import('../src/engine/detect-blocks.js');
    const { readFileSync } = await import('node:fs');
    for (const [name, method] of [['irmad', 'irmad'], ['pca', 'pca-kmeans']] as const) {
      const classesPath = path.join(dir, `pool-${name}-change.tif`);
      const productPath = path.join(dir, `pool-${name}-product.tif`);
      const r = await mod.detectBlocks({ before, after, preset: 'generic', method, classesPath, productPath, blockSize: 64, threads: 2, maxInFlight: 3, progress: false });
      expect(r.threads).toBe(2);
      expect(Buffer.compare(readFileSync(classesPath), readFileSync(path.join(dir, `${name}-change.tif`)))).toBe(0);
      expect(Buffer.compare(readFileSync(productPath), readFileSync(path.join(dir, `${name}-product.tif`)))).toBe(0);
    }
  });
});

describe('real data', () => {
  const city = (c: string, n: 1 | 2) => path.join(OSCD, c, `imgs_${n}`);
  it('OSCD Abu Dhabi (13 L1C bands, 20 m B11/B12 resampled across blocks): every generic/urban method', { skip: !existsSync(city('abudhabi', 1)), timeout: 240_000 }, async () => {
    const opts = { before: city('abudhabi', 1), after: city('abudhabi', 2) };
    // EPSG:4326 grids with fractional-degree origins, the after date on another lattice: a band resampled onto a
    // block's grid can differ from the same band resampled onto the whole grid by one float32 step, in ~4e-5 of the
    // pixels (`readOnGrid` maps pixel centres from each grid's own origin, which rounds differently; UTM grids with
    // whole-metre origins, as the other tests use, are exact). The CVA products stay within 1e-6; IR-MAD's χ²
    // amplifies such a step (its least correlated MAD variates have small σ), so it is compared to 1e-5 relative.
    // Classes and thresholds are exact. With co-registration (0.52, 1.29 px here) every after band is resampled onto
    // a shifted lattice, so such steps reach the CVA magnitude too (1 pixel in 600 000 by 1e-5): 1e-5 relative.
    const cva = await compare('ad-urban', { ...opts, preset: 'urban', method: 'cva' }, 64, 1e-5);
    expect(cva.whole.coregistration.applied).toBe(true);
    expect(changed(cva)).toBeGreaterThan(1000);
    await compare('ad-generic', { ...opts, preset: 'generic' }, 64, 1e-5);
    await compare('ad-urban-otsu', { ...opts, preset: 'urban', method: 'otsu' }, 64, 1e-5);
    // IR-MAD's χ² amplifies those steps further (1 pixel: 1.55114 vs 1.55116 with co-registration): 1e-4 relative.
    const irmad = await compare('ad-irmad', { ...opts, preset: 'urban', method: 'irmad' }, 64, 1e-4);
    expect(irmad.blocks.validPixels).toBeGreaterThan(250_000);
    await compare('ad-pca', { ...opts, preset: 'urban', method: 'pca-kmeans' }, 64, 1e-5);
    // The urban default without a model: MAD, compared as IR-MAD is (its χ² amplifies one-step float differences).
    const dflt = await compare('ad-default', { ...opts, preset: 'urban' }, 64, 1e-5);
    expect(dflt.blocks.method).toBe(URBAN_UNSUPERVISED_METHOD);
  });

  it('OSCD Bercy: the after date co-registered (0.32, 0.25 px) in every block as on the whole array', { skip: !existsSync(city('bercy', 1)), timeout: 240_000 }, async () => {
    const opts = { before: city('bercy', 1), after: city('bercy', 2) };
    const cva = await compare('bercy-cva', { ...opts, preset: 'urban', method: 'cva' }, 64, 1e-5);
    expect(cva.whole.coregistration.applied).toBe(true);
    expect(cva.whole.coregistration.dx).toBeCloseTo(0.32, 1);
    expect(cva.whole.coregistration.dy).toBeCloseTo(0.25, 1);
    await compare('bercy-mad', { ...opts, preset: 'urban', method: 'mad' }, 64, 1e-5);
    const off = await detect({ ...opts, preset: 'urban', method: 'cva', coregister: false });
    expect(off.coregistration).toMatchObject({ applied: false, reason: 'turned off (--no-coregister)' });
    let differ = 0;
    for (let i = 0; i < off.result.classes.length; i++) if (off.result.classes[i] !== cva.whole.result.classes[i]) differ++;
    expect(differ).toBeGreaterThan(100); // the shift changed the map
  });

  it('29RKH COG folder (SCL cloud halo, 20 m bands) against a modified after date: IR-MAD and PCA-k-means', { skip: !existsSync(R29), timeout: 300_000 }, async () => {
    // After date: the real bands with a synthetic construction site (visible and SWIR up, NIR down) in one corner.
    const afterDir = path.join(dir, 'rkh-after');
    mkdirSync(afterDir, { recursive: true });
    for (const b of ['B02', 'B03', 'B04', 'B08', 'B11', 'B12', 'SCL']) {
      const f = await openTiffFile(path.join(R29, `${b}.tif`));
      const img = f.images[0]!;
      const [v] = await img.readWindow();
      await f.close();
      const arr = v as CogBand;
      const factor = b === 'B08' ? 0.5 : b === 'SCL' ? 1 : 1.6;
      for (let y = 0; y < img.height / 3; y++) {
        for (let x = 0; x < img.width / 2; x++) {
          const i = y * img.width + x;
          if (arr[i]) arr[i] = Math.min(65535, Math.max(1, Math.round(arr[i]! * factor)));
        }
      }
      await writeCog(path.join(afterDir, `${b}.tif`), { grid: img.grid!, bands: [arr] }, { nodata: img.nodata, blockSize: 256 });
    }
    const opts = { before: R29, after: afterDir, scene: { offset: 0 } };
    const irmad = await compare('rkh-irmad', { ...opts, preset: 'generic', method: 'irmad' }, 128);
    expect(changed(irmad)).toBeGreaterThan(1000);
    expect(irmad.blocks.maskedPixels.cloudShadowSnow).toBeGreaterThan(0);
    await compare('rkh-pca', { ...opts, preset: 'generic', method: 'pca-kmeans' }, 128);
  });
});

describe('block engine refusals for generic and urban', () => {
  it('allows every method but supervised, which is refused with a UsageError naming --engine whole', () => {
    for (const preset of ['generic', 'urban']) {
      for (const method of ['otsu', 'threshold', 'cva', 'irmad', 'pca-kmeans'] as const) {
        expect(blockEngineRefusal({ before: 'a', after: 'b', preset, method })).toBeNull();
      }
      const refusal = blockEngineRefusal({ before: 'a', after: 'b', preset, method: 'supervised' });
      expect(refusal && isS2ChangeError(refusal) && refusal.code).toBe('USAGE');
      expect(refusal!.message + JSON.stringify(refusal)).toMatch(/supervised[\s\S]*--engine whole/);
    }
  });
});
