/**
 * The learned urban model in the block engine (issue 14 item 4): blocks read with the model's halo (+1 for the
 * majority filter), scene statistics from one sample gathered before the blocks, the minimum object size merged
 * across blocks — the class map must be byte-identical to the whole-array path's, on a synthetic pair with planted
 * construction and on a real OSCD city, with and without --min-area, and through the worker pool. Also: the
 * block-wise minimum object size (`minPixels`) equals `removeSmallComponents` on the whole raster.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seededRandom } from '../src/change/sampling.js';
import { urbanBlockHalo, urbanBlockPostFilter, urbanSceneStatistics } from '../src/change/urban-inference.js';
import { requiredBands } from '../src/change/urban-features.js';
import { applyUrbanModel, type UrbanModel } from '../src/change/urban-model.js';
import type { BandArrays } from '../src/indices/registry.js';
import { growWindow } from '../src/engine/plan.js';
import { detectBlocks, type BlockDetectOptions } from '../src/engine/detect-blocks.js';
import { detect } from '../src/pipeline/detect.js';
import { filterBlock, mergeBlockEdges, summarizeBlock, type BlockMinArea } from '../src/raster/block-components.js';
import { blockWindows, cutWindow } from './helpers/blocks.js';
import { removeSmallComponents } from '../src/raster/components.js';
import type { Grid, Window } from '../src/raster/grid.js';
import { expectSameFloats, expectSameInts, readAllLevels } from './helpers/synthetic.js';
import { syntheticUrbanPair, trainTestModel, writeUrbanPair } from './helpers/urban-model.js';

const DATA = process.env.S2CHANGE_DATA ?? path.resolve(import.meta.dirname, '../../shared/data');
const OSCD = path.join(DATA, 'oscd', 'Onera Satellite Change Detection dataset - Images');
const dir = mkdtempSync(path.join(tmpdir(), 's2change-engine-urban-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let model: UrbanModel;
let pair: { before: string; after: string; truth: Uint8Array };
const grid: Grid = { crs: { epsg: 32631 }, transform: [440000, 10, 0, 5400000, 0, -10], width: 150, height: 130 };

beforeAll(async () => {
  model = trainTestModel();
  pair = await writeUrbanPair(path.join(dir, 'pair'), grid, 31);
}, 60_000);

/** Both paths; everything they report must agree, the class map byte for byte. */
async function compare(name: string, opts: Omit<BlockDetectOptions, 'classesPath' | 'productPath'>, blockSize: number, threads = 0) {
  const whole = await detect(opts);
  const classesPath = path.join(dir, `${name}-change.tif`);
  const productPath = path.join(dir, `${name}-product.tif`);
  const blocks = await detectBlocks({ ...opts, classesPath, productPath, blockSize, threads, progress: false });
  expect(blocks.blocks).toBeGreaterThan(4);
  expect(whole.result.method).toBe('learned');
  expect(blocks.method).toBe('learned');
  expect(blocks.thresholds).toEqual(whole.result.thresholds);
  expect(blocks.formula).toBe(whole.result.formula);
  expect(blocks.validPixels).toBe(whole.validPixels);
  expect(blocks.minMappingUnit).toEqual(whole.minMappingUnit);
  expect(blocks.areas.map((a) => a.pixels)).toEqual(whole.areas.map((a) => a.pixels));
  const levels = await readAllLevels(classesPath);
  expectSameInts(levels[0]!.values, whole.result.classes);
  const product = whole.result.products[0]!;
  expect(blocks.product).toMatchObject({ name: product.name });
  expectSameFloats((await readAllLevels(productPath))[0]!.values, product.values, 0);
  return { whole, blocks, classesPath };
}

describe('learned urban model: block engine equals the whole array', () => {
  const learned = () => ({ preset: 'urban', method: 'learned' as const, urbanModel: model, scene: { offset: 0 } });

  it('synthetic pair, 32-pixel blocks (halo 5 across block edges), with and without --min-area', async () => {
    expect(urbanBlockHalo(model)).toBe(5);
    const r = await compare('syn', { ...pair, ...learned() }, 32);
    const changed = r.whole.areas.find((a) => a.value === 1)!.pixels;
    expect(changed).toBeGreaterThan(300); // the planted construction is found, so the comparison is not of empty maps
    const m = await compare('syn-mmu', { ...pair, ...learned(), minAreaHa: 0.1 }, 32); // 10 pixels of 100 m²
    expect(m.whole.minMappingUnit!.pixelsRemoved).toBeGreaterThan(0);
    expect(m.whole.areas.find((a) => a.value === 1)!.pixels).toBeLessThan(changed);
  }, 120_000);

  const DIST = path.resolve(import.meta.dirname, '../dist/engine/detect-blocks.js');
  it('the worker pool (compiled dist/): the same change.tif', { skip: !existsSync(DIST) }, async () => {
    const mod = (await import(DIST)) as typeof import('../src/engine/detect-blocks.js');
    const classesPath = path.join(dir, 'pool-change.tif');
    await mod.detectBlocks({ ...pair, ...learned(), classesPath, productPath: null, blockSize: 32, threads: 2, progress: false });
    const one = await detectBlocks({ ...pair, ...learned(), classesPath: path.join(dir, 'one-change.tif'), productPath: null, blockSize: 32, threads: 0, progress: false });
    expect(one.method).toBe('learned');
    expect(Buffer.compare(readFileSync(classesPath), readFileSync(path.join(dir, 'one-change.tif')))).toBe(0);
  }, 60_000);

  it('real OSCD city (Bercy, EPSG:4326, 20 m B11/B12 resampled), 64-pixel blocks', { skip: !existsSync(path.join(OSCD, 'bercy')) }, async () => {
    const opts = { before: path.join(OSCD, 'bercy/imgs_1'), after: path.join(OSCD, 'bercy/imgs_2'), preset: 'urban', method: 'learned' as const, urbanModel: model };
    const r = await compare('bercy', opts, 64);
    expect(r.whole.areas.find((a) => a.value === 1)!.pixels).toBeGreaterThan(0);
  }, 120_000);
});

describe('block-wise minimum object size (minPixels) equals removeSmallComponents', () => {
  it('random binary maps, any block size, with and without a minimum area', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 30 }), fc.integer({ min: 1, max: 30 }), fc.integer({ min: 1, max: 9 }),
      fc.integer({ min: 1, max: 9 }), fc.integer({ min: 0, max: 1e9 }), fc.integer({ min: 1, max: 12 }), fc.integer({ min: 0, max: 3 }),
      (w, h, bw, bh, seed, minPixels, areaPick) => {
        const r = seededRandom(seed);
        const classes = Uint8Array.from({ length: w * h }, () => { const u = r(); return u < 0.45 ? 1 : u < 0.5 ? 255 : 0; });
        const minAreaM2 = [0, 250, 700, 1500][areaPick]!;
        const mmu: BlockMinArea = { minAreaM2, minPixels, rowAreaM2: () => 100 };
        // Oracle: the whole-array path's order — the model's minimum object size, then --min-area.
        const first = removeSmallComponents(classes, w, h, { minPixels });
        const truth = removeSmallComponents(first.classes, w, h, { minAreaM2, rowAreaM2: () => 100 });
        const windows = blockWindows(w, h, bw, bh);
        const cut = (win: Window) => cutWindow(classes, w, win);
        const decision = mergeBlockEdges(windows.map((win) => summarizeBlock(cut(win), win, mmu)), mmu);
        const out = new Uint8Array(w * h);
        let byArea = 0;
        windows.forEach((win, i) => {
          const f = filterBlock(cut(win), win, decision.remove[i]!, mmu);
          byArea += f.removedPixels - f.removedByPixelCount;
          for (let y = 0; y < win.height; y++) out.set(f.classes.subarray(y * win.width, (y + 1) * win.width), (win.y + y) * w + win.x);
        });
        expectSameInts(out, truth.classes);
        expect(byArea).toBe(truth.removedPixels); // what --min-area reports, the model's own filter aside
      }), { numRuns: 300, seed: 77 });
  });
});

describe('block halo of the learned model, on arrays', () => {
  /** Classes of every 16-px block computed on the block grown by `halo` (clipped at the edges), cropped and tiled. */
  function tiled(halo: number, w: number, h: number, before: BandArrays, after: BandArrays, valid: Uint8Array, m: UrbanModel) {
    const stats = urbanSceneStatistics(m, requiredBands(m.features), before, after, valid, w, h);
    const out = new Uint8Array(w * h);
    for (let by = 0; by < h; by += 16) for (let bx = 0; bx < w; bx += 16) {
      const block: Window = { x: bx, y: by, width: Math.min(16, w - bx), height: Math.min(16, h - by) };
      const read = growWindow(block, halo, w, h);
      const cut = (a: Float32Array | Uint8Array) => {
        const c = new (a.constructor as Float32ArrayConstructor)(read.width * read.height);
        for (let y = 0; y < read.height; y++) c.set(a.subarray((read.y + y) * w + read.x, (read.y + y) * w + read.x + read.width), y * read.width);
        return c;
      };
      const sub = (arrays: BandArrays) => Object.fromEntries(Object.entries(arrays).map(([b, a]) => [b, cut(a!)])) as BandArrays;
      const p = applyUrbanModel(urbanBlockPostFilter(m), sub(before), sub(after), read.width, read.height, cut(valid) as unknown as Uint8Array, { stats });
      for (let y = 0; y < block.height; y++) for (let x = 0; x < block.width; x++) {
        out[(block.y + y) * w + block.x + x] = p.classes[(block.y - read.y + y) * read.width + block.x - read.x + x]!;
      }
    }
    return { out, stats };
  }

  // model.halo + 1 is what the windows and the majority filter reach; on these data a halo one short still happens to
  // agree (the outermost window row rarely moves a prediction), a missing halo does not.
  it('model.halo + 1 gives the whole array\'s classes (no halo does not)', () => {
    const w = 96, h = 80;
    const { before, after } = syntheticUrbanPair(w, h, 41);
    const valid = new Uint8Array(w * h).fill(1);
    for (let i = 0; i < valid.length; i += 97) valid[i] = 0; // scattered invalid pixels, as clouds and nodata leave
    const H = urbanBlockHalo(model);
    const ok = tiled(H, w, h, before, after, valid, model);
    const whole = applyUrbanModel(urbanBlockPostFilter(model), before, after, w, h, valid, { stats: ok.stats });
    expectSameInts(ok.out, whole.classes);
    const short = tiled(0, w, h, before, after, valid, model).out;
    let differ = 0;
    for (let i = 0; i < short.length; i++) if (short[i] !== whole.classes[i]) differ++;
    expect(differ).toBeGreaterThan(0);
  });
});
