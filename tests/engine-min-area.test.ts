/**
 * `--min-area` block by block: the block-wise minimum mapping unit (`src/raster/block-components.ts`) must equal
 * `removeSmallComponents` on the whole raster — the independent truth — pixel for pixel, with the same removed
 * pixels and components, on random class maps cut into blocks of any size, for both connectivities and for
 * constant, non-integer and per-row (geographic) pixel areas, thresholds landing exactly on component areas
 * included. Then the block engine with --min-area must equal the whole-array `detect()` (classes, every overview
 * level, areas, quicklook classes, pixels removed) on a synthetic scene whose patches cross block edges and corners,
 * and on real sample data.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { blockWindows, cutWindow } from './helpers/blocks.js';
import { afterAll, describe, expect, it } from 'vitest';
import { seededRandom } from '../src/change/sampling.js';
import { detectBlocks, type BlockDetectOptions } from '../src/engine/detect-blocks.js';
import { writeCog, type CogBand } from '../src/io/cog-writer.js';
import { openTiffFile } from '../src/io/tiff/index.js';
import { detect } from '../src/pipeline/detect.js';
import { filterBlock, mergeBlockEdges, summarizeBlock, type BlockMinArea } from '../src/raster/block-components.js';
import { readAllLevels } from './helpers/synthetic.js';
import { componentAreas, labelComponents, patchGroupTable, removeSmallComponents } from '../src/raster/components.js';
import type { Grid, Window } from '../src/raster/grid.js';
import { blockNearest } from '../src/report/quicklook.js';

const DATA = process.env.S2CHANGE_DATA ?? path.resolve(import.meta.dirname, '../../shared/data');
const dir = mkdtempSync(path.join(tmpdir(), 's2change-min-area-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The block-wise filter over a `w` x `h` raster cut into `bw` x `bh` blocks (row-major, edge blocks smaller). */
function blockwise(classes: Uint8Array, w: number, h: number, bw: number, bh: number, mmu: BlockMinArea) {
  const windows = blockWindows(w, h, bw, bh);
  const cut = (win: Window) => cutWindow(classes, w, win);
  // Blocks handed to the merge in a shuffled order: the result must not depend on it.
  const order = windows.map((_, i) => i).sort((a, b) => ((a * 7919) % 13) - ((b * 7919) % 13) || a - b);
  const edges = order.map((i) => summarizeBlock(cut(windows[i]!), windows[i]!, mmu));
  const decision = mergeBlockEdges(edges, mmu);
  const out = new Uint8Array(w * h);
  let removedPixels = 0;
  let removedComponents = decision.removedComponents;
  order.forEach((i, j) => {
    const win = windows[i]!;
    const f = filterBlock(cut(win), win, decision.remove[j]!, mmu);
    removedPixels += f.removedPixels;
    removedComponents += f.removedInteriorComponents;
    for (let y = 0; y < win.height; y++) out.set(f.classes.subarray(y * win.width, (y + 1) * win.width), (win.y + y) * w + win.x);
  });
  expect(decision.removedPixels).toBeLessThanOrEqual(removedPixels);
  return { classes: out, removedPixels, removedComponents };
}

/** A blobby class map: patches of classes 1-3, background 0 and nodata 255, with speckle. */
function blobs(w: number, h: number, seed: number, speckle: number): Uint8Array {
  const r = seededRandom(seed);
  const cell = 1 + Math.floor(r() * 6);
  const cw = Math.ceil(w / cell) + 1;
  const coarse = Array.from({ length: cw * (Math.ceil(h / cell) + 1) }, () => [0, 0, 1, 2, 3, 1, 255][Math.floor(r() * 7)]!);
  const out = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    out[y * w + x] = r() < speckle ? [0, 1, 2, 255][Math.floor(r() * 4)]! : coarse[Math.floor(y / cell) * cw + Math.floor(x / cell)]!;
  }
  return out;
}

const ROW_AREAS: Record<string, (row: number) => number> = {
  utm10: () => 100,
  odd: () => 0.1, // non-integer: the per-row summation order matters
  geographic: (row) => 308.25 * Math.cos((34 + row * 1.8e-4) * Math.PI / 180) + 1e-3 * Math.sin(row), // varies per row
};

describe('block-wise minimum mapping unit equals removeSmallComponents', () => {
  it('on random class maps, any block size, both connectivities, with and without patch groups, thresholds on exact component areas', () => {
    fc.assert(fc.property(
      fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 13 }), fc.integer({ min: 1, max: 13 }),
      fc.integer({ min: 0, max: 1e9 }), fc.double({ min: 0, max: 0.3, noNaN: true }), fc.constantFrom<4 | 8>(4, 8),
      fc.constantFrom(...Object.keys(ROW_AREAS)), fc.double({ min: 0, max: 1, noNaN: true }), fc.boolean(),
      (w, h, bw, bh, seed, speckle, connectivity, areaKind, pick, grouped) => {
        const classes = blobs(w, h, seed, speckle);
        const rowAreaM2 = ROW_AREAS[areaKind]!;
        // Patch groups: classes 1 and 2 measured together (class 3 alone), or every class on its own.
        const groups = grouped ? patchGroupTable([[1, 2]]) : undefined;
        // Threshold: exactly the area of some component (the tie case), or just above / below it.
        const keys = groups ? Uint8Array.from(classes, (v) => groups[v]!) : classes;
        const c = labelComponents(keys, w, h, { connectivity, background: [0, 255] });
        const areas = componentAreas(c, w, h, rowAreaM2);
        const at = c.count ? areas[1 + Math.floor(pick * c.count) % c.count]! : 100;
        const minAreaM2 = [at, at * (1 + 1e-12), at * (1 - 1e-12), at * 3][seed % 4]!;
        const mmu: BlockMinArea = { minAreaM2, rowAreaM2, connectivity, background: [0, 255], replaceWith: 0, groups };
        const truth = removeSmallComponents(classes, w, h, mmu);
        const ours = blockwise(classes, w, h, bw, bh, mmu);
        expect(ours.removedPixels).toBe(truth.removedPixels);
        expect(ours.removedComponents).toBe(truth.removedComponents);
        expect(Buffer.from(ours.classes).equals(Buffer.from(truth.classes))).toBe(true);
      }), { numRuns: 400, seed: 20240611 });
  });

  it('patches large only when joined across four blocks, and across block corners only (8-connected)', () => {
    // 8x8 rasters, 4x4 blocks, minimum 8 pixels. The ring of 1s has 2 pixels in each of the four blocks; the 2 is
    // alone; the diagonals of 3s and 4s cross the centre corner only through a corner-to-corner pixel pair.
    const ring = ['........', '........', '...11..2', '..1..1..', '..1..1..', '...11...', '........', '........'];
    const cross = ['3......4', '.3....4.', '..3..4..', '...34...', '...43...', '..4..3..', '.4....3.', '4......3'];
    const mmu: BlockMinArea = { minAreaM2: 800, rowAreaM2: () => 100 };
    for (const rows of [ring, cross]) {
      const classes = Uint8Array.from(rows.join('').split('').map((ch) => (ch === '.' ? 0 : Number(ch))));
      const truth = removeSmallComponents(classes, 8, 8, mmu);
      const ours = blockwise(classes, 8, 8, 4, 4, mmu);
      expect([...ours.classes]).toEqual([...truth.classes]);
      expect(ours.removedPixels).toBe(rows === ring ? 1 : 0); // only the lone 2 goes
      // 4-connected, every piece is too small.
      const four = { ...mmu, connectivity: 4 as const };
      const truth4 = removeSmallComponents(classes, 8, 8, four);
      expect([...blockwise(classes, 8, 8, 4, 4, four).classes]).toEqual([...truth4.classes]);
      expect(truth4.classes.every((v) => v === 0)).toBe(true);
    }
  });

  it('rejects blocks that do not tile the grid and a verdict for another block', () => {
    const mmu: BlockMinArea = { minAreaM2: 100, rowAreaM2: () => 1 };
    const a = summarizeBlock(new Uint8Array(16).fill(1), { x: 0, y: 0, width: 4, height: 4 }, mmu);
    const b = summarizeBlock(new Uint8Array(12).fill(1), { x: 4, y: 0, width: 4, height: 3 }, mmu);
    expect(() => mergeBlockEdges([a, b], mmu)).toThrow(/differ in height/);
    expect(() => filterBlock(new Uint8Array(16), { x: 0, y: 0, width: 4, height: 4 }, new Uint8Array(1), mmu)).toThrow(/edge components/);
  });
});


function mismatches(a: ArrayLike<number>, b: ArrayLike<number>): string {
  if (a.length !== b.length) return `length ${a.length} vs ${b.length}`;
  let bad = 0;
  let first = -1;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) { bad++; if (first < 0) first = i; }
  return bad ? `${bad} differ, first at ${first}: ${a[first]} vs ${b[first]}` : '';
}

/**
 * Both paths with --min-area: the block engine's change.tif (every level), class areas, quicklook classes and
 * pixels removed against the whole-array `detect()` and the whole-array COG writer on its classes.
 */
async function compareMinArea(name: string, opts: Omit<BlockDetectOptions, 'classesPath' | 'productPath'>, blockSize: number) {
  const whole = await detect(opts);
  const classesPath = path.join(dir, `${name}-change.tif`);
  const quicklook = { maxSize: 50 }; // factor > 1 whose cells straddle blocks
  const blocks = await detectBlocks({ ...opts, classesPath, productPath: null, blockSize, threads: 0, progress: false, quicklook });
  expect(whole.minMappingUnit).not.toBeNull();
  expect(blocks.minMappingUnit).toEqual(whole.minMappingUnit);
  const ours = await readAllLevels(classesPath);
  expect(mismatches(ours[0]!.values, whole.result.classes)).toBe('');
  expect(blocks.areas.map((a) => a.pixels)).toEqual(whole.areas.map((a) => a.pixels));
  blocks.areas.forEach((a, i) => expect(a.hectares).toBeCloseTo(whole.areas[i]!.hectares, 6));
  expect(blocks.validPixels).toBe(whole.validPixels);
  const refPath = path.join(dir, `${name}-ref-change.tif`);
  await writeCog(refPath, { grid: whole.grid, bands: [whole.result.classes] }, { nodata: 255, blockSize, overviews: 'nearest' });
  const ref = await readAllLevels(refPath);
  expect(ours.map((l) => [l.width, l.height])).toEqual(ref.map((l) => [l.width, l.height]));
  for (let k = 1; k < ref.length; k++) expect(mismatches(ours[k]!.values, ref[k]!.values), `level ${k}`).toBe('');
  const q = blocks.quicklook!;
  expect(q.factor).toBeGreaterThan(1);
  expect(mismatches(q.classes, blockNearest(whole.result.classes, whole.grid.width, whole.grid.height, q.factor))).toBe('');
  return { whole, blocks, classesPath };
}

/**
 * A class pattern (0 none, 1 loss, 2 gain, 255 nodata) on a W x H grid cut by 32-pixel blocks, for a minimum of
 * 20 pixels: patches that are large only when joined across four blocks, across a corner only diagonally, exactly
 * at the minimum across an edge (kept), one pixel short (removed), small ones on corners, a large one, over speckle.
 */
const SW = 150;
const SH = 130;
function pattern(): Uint8Array {
  const p = new Uint8Array(SW * SH);
  const set = (x: number, y: number, v: number) => { p[y * SW + x] = v; };
  const r = seededRandom(7);
  for (let i = 0; i < 400; i++) set(Math.floor(r() * SW), Math.floor(r() * SH), 1 + Math.floor(r() * 2));
  for (let i = 0; i < 60; i++) set(Math.floor(r() * SW), Math.floor(r() * SH), 255);
  // Square ring of 28 pixels around the corner (64, 64): 7 in each block.
  for (let k = 60; k < 68; k++) { set(k, 60, 1); set(k, 67, 1); set(60, k, 1); set(67, k, 1); }
  // Diagonals of 12 + 12 pixels through the corners (96, 32) and (32, 96): joined only corner to corner.
  for (let k = 0; k < 12; k++) { set(95 - k, 31 - k, 1); set(96 + k, 32 + k, 1); set(32 + k, 95 - k, 2); set(31 - k, 96 + k, 2); }
  // 10 x 2 = 20 pixels across x = 96 (exactly the minimum: kept); 19 pixels across y = 96 (removed).
  for (let x = 91; x <= 100; x++) { set(x, 110, 2); set(x, 111, 2); }
  for (let y = 90; y <= 108; y++) set(120, y, 1);
  // 3 x 3 on the corner (32, 32) (removed), a large field across (128, 64) (kept).
  for (let y = 31; y <= 33; y++) for (let x = 31; x <= 33; x++) set(x, y, 2);
  for (let y = 50; y < 80; y++) for (let x = 110; x < 145; x++) set(x, y, 1);
  return p;
}

/** Before/after B04 + B08 folders whose vegetation classes are `pattern` (DN 0 = nodata on the after date). */
async function writePatternScene(name: string, grid: Grid, p: Uint8Array): Promise<{ before: string; after: string }> {
  const out = { before: path.join(dir, `${name}-before`), after: path.join(dir, `${name}-after`) };
  for (const [role, d] of Object.entries(out)) {
    mkdirSync(d, { recursive: true });
    const after = role === 'after';
    // NDVI 0.78 (500 / 4000) or 0 (2000 / 2000): loss where the after date is bare, gain where the before one is.
    const bare = (v: number) => (after ? v === 1 : v === 2);
    const b04 = Uint16Array.from(p, (v) => (v === 255 && after ? 0 : bare(v) ? 2000 : 500));
    const b08 = Uint16Array.from(p, (v) => (v === 255 && after ? 0 : bare(v) ? 2000 : 4000));
    await writeCog(path.join(d, 'B04.tif'), { grid, bands: [b04] }, { nodata: 0, blockSize: 64 });
    await writeCog(path.join(d, 'B08.tif'), { grid, bands: [b08] }, { nodata: 0, blockSize: 64 });
  }
  return out;
}

describe('block engine with --min-area equals the whole-array path', () => {
  const utm: Grid = { crs: { epsg: 32633 }, transform: [500000, 10, 0, 4200000, 0, -10], width: SW, height: SH };
  const geographic: Grid = { crs: { epsg: 4326 }, transform: [-118.7, 1.8e-4, 0, 34.19, 0, -1.8e-4], width: SW, height: SH };

  it('synthetic patches across block edges and corners (UTM, 32-pixel blocks)', async () => {
    const p = pattern();
    const scene = await writePatternScene('utm', utm, p);
    const opts = { ...scene, preset: 'vegetation', scene: { offset: 0 }, minAreaHa: 0.2 }; // 20 pixels of 100 m²
    const { whole, blocks } = await compareMinArea('utm', opts, 32);
    expect(blocks.blocks).toBe(5 * 5);
    const classes = whole.result.classes;
    const at = (x: number, y: number) => classes[y * SW + x];
    // The classes really are the pattern before the filter, and the filter did what the scene was built for.
    const unfiltered = await detect({ ...opts, minAreaHa: 0 });
    expect(mismatches(unfiltered.result.classes, p)).toBe('');
    expect([at(60, 60), at(67, 67), at(95, 31), at(96, 32), at(32, 95), at(31, 96), at(91, 110), at(130, 60)]).toEqual([1, 1, 1, 1, 2, 2, 2, 1]);
    expect([at(120, 95), at(32, 32)]).toEqual([0, 0]);
    expect(blocks.minMappingUnit!.pixelsRemoved).toBeGreaterThan(300);
  }, 60_000);

  it('synthetic patches on a geographic grid (pixel area varies per row), 16-pixel blocks', async () => {
    const p = pattern();
    const scene = await writePatternScene('geo', geographic, p);
    // About 330 m² per pixel: the minimum falls between patch sizes of the pattern.
    const r = await compareMinArea('geo', { ...scene, preset: 'vegetation', scene: { offset: 0 }, minAreaHa: 0.75 }, 16);
    expect(r.blocks.minMappingUnit!.pixelsRemoved).toBeGreaterThan(300);
    expect(r.whole.areas.find((a) => a.value === 1)!.pixels).toBeGreaterThan(1000);
  }, 60_000);

  const DIST = path.resolve(import.meta.dirname, '../dist/engine/detect-blocks.js');
  it('the piscina worker pool (compiled dist/) writes the same change.tif', { skip: !existsSync(DIST) }, async () => {
    const scene = { before: path.join(dir, 'utm-before'), after: path.join(dir, 'utm-after') };
    if (!existsSync(scene.after)) return;
    const mod = (await import(DIST)) as typeof import('../src/engine/detect-blocks.js');
    const classesPath = path.join(dir, 'pool-change.tif');
    const r = await mod.detectBlocks({ ...scene, preset: 'vegetation', scene: { offset: 0 }, minAreaHa: 0.2, classesPath, productPath: null,
      blockSize: 32, threads: 2, maxInFlight: 3, progress: false, quicklook: { maxSize: 50 } });
    expect(r.threads).toBe(2);
    expect(Buffer.compare(readFileSync(classesPath), readFileSync(path.join(dir, 'utm-change.tif')))).toBe(0);
  }, 60_000);

  it('real data: Kenneth fire pre/post (EPSG:4326), 64- and 48-pixel blocks', { skip: !existsSync(path.join(DATA, 'wildfire-calfire-s2')) }, async () => {
    const d = path.join(DATA, 'wildfire-calfire-s2');
    const opts = { before: path.join(d, 'KENNETH_20250109_pre_fire.tif'), after: path.join(d, 'KENNETH_20250109_post_fire.tif'), preset: 'wildfire' };
    for (const [minAreaHa, blockSize] of [[0.5, 64], [3, 48]] as const) {
      const r = await compareMinArea(`kenneth-${minAreaHa}`, { ...opts, minAreaHa }, blockSize);
      expect(r.blocks.minMappingUnit!.pixelsRemoved).toBeGreaterThan(0);
    }
  }, 60_000);

  it('real data: CAL FIRE INCIDENT, --min-area 0.5 on 32-pixel blocks: high severity inside the scar is kept (105 px)', { skip: !existsSync(path.join(DATA, 'wildfire-calfire-s2')) }, async () => {
    const d = path.join(DATA, 'wildfire-calfire-s2/data');
    const opts = { before: path.join(d, 'pre_fire/5_INCIDENT_20240715.tif'), after: path.join(d, 'post_fire/5_INCIDENT_20240715.tif'), preset: 'wildfire', minAreaHa: 0.5 };
    const r = await compareMinArea('incident', opts, 32);
    expect(r.blocks.areas.find((a) => a.value === 4)!.pixels).toBe(105); // per-class patches left 35
  }, 60_000);

  it('real data: 29RKH COG folder (SCL, 100 m pixels), clearings shaped like its brightest fifth, 64-pixel blocks', { skip: !existsSync(path.join(DATA, 's2-l2a-cog-29RKH')) }, async () => {
    const src = path.join(DATA, 's2-l2a-cog-29RKH/tests/fixtures/sentinel-cogs/sentinel-s2-l2a-cogs/29/R/KH/2020/2/S2A_29RKH_20200219_0_L2A');
    const read = async (band: string) => {
      const f = await openTiffFile(path.join(src, `${band}.tif`));
      try {
        const img = f.images[0]!;
        const [v] = await img.readWindow();
        return { img, values: v as CogBand };
      } finally {
        await f.close();
      }
    };
    // After date: the real bands, B08 halved and B04 doubled where the real B02 is in its brightest 20 % — real,
    // irregular patch shapes of every size, many crossing block edges.
    const blue = (await read('B02')).values;
    const cut = Float64Array.from(blue).sort()[Math.floor(0.8 * blue.length)]!;
    const afterDir = path.join(dir, 'rkh-after');
    mkdirSync(afterDir, { recursive: true });
    for (const b of ['B04', 'B08', 'SCL']) {
      const { img, values } = await read(b);
      if (b !== 'SCL') for (let i = 0; i < values.length; i++) if (blue[i]! > cut) values[i] = b === 'B08' ? Math.floor(values[i]! / 2) : Math.min(65535, values[i]! * 2);
      await writeCog(path.join(afterDir, `${b}.tif`), { grid: img.grid!, bands: [values] }, { nodata: img.nodata, blockSize: 128 });
    }
    const r = await compareMinArea('rkh', { before: src, after: afterDir, preset: 'vegetation', scene: { offset: 0 }, minAreaHa: 5 }, 64);
    expect(r.blocks.minMappingUnit!.pixelsRemoved).toBeGreaterThan(1000);
    expect(r.blocks.maskedPixels.cloudShadowSnow).toBe(r.whole.maskedPixels.cloudShadowSnow);
  }, 120_000);

  const OSCD = path.join(DATA, 'oscd/Onera Satellite Change Detection dataset - Images/bordeaux');
  it('real data: OSCD Bordeaux 2016 / 2018 (L1C, EPSG:4326): vegetation, wildfire (20 m B12), water with Otsu, 32-pixel blocks', { skip: !existsSync(OSCD) }, async () => {
    // vegetation and wildfire take the engine's fused two-date pass, water (single date, streamed Otsu) the general one.
    for (const preset of ['vegetation', 'wildfire', 'water']) {
      const r = await compareMinArea(`bordeaux-${preset}`, { before: path.join(OSCD, 'imgs_1'), after: path.join(OSCD, 'imgs_2'), preset, minAreaHa: 0.5 }, 32);
      expect(r.blocks.minMappingUnit!.pixelsRemoved).toBeGreaterThan(preset === 'water' ? 50 : 5000);
    }
  }, 120_000);
});
