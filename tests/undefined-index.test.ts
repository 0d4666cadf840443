/**
 * Issue #19 item 2: a pixel whose index is not finite (NIR + SWIR = 0 when both reflectances are 0: an all-zero
 * scene, `--scale 0`) is invalid (class 255), on every path — whole-array, the block engine's generic path, its fused
 * WebAssembly kernel, and the multivariate presets — and a run with nothing valid left fails with NothingValidError.
 * Expected values are worked out by hand from the DNs below (reflectance = (DN - 1000) / 10000 with --offset -1000).
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { detect, type DetectOptions } from '../src/pipeline/detect.js';
import { detectBlocks } from '../src/engine/detect-blocks.js';
import { runFusedKernel } from '../src/engine/fused-kernel.js';
import { severityRules } from '../src/change/presets/wildfire.js';
import { maskUndefinedIndex } from '../src/change/presets/common.js';
import { writeCog } from '../src/io/cog-writer.js';
import { openTiffFile } from '../src/io/tiff/index.js';
import { tryLoadWasm } from '../src/io/wasm.js';
import { isS2ChangeError } from '../src/errors.js';
import type { Grid } from '../src/raster/grid.js';

const dir = mkdtempSync(path.join(tmpdir(), 's2change-undef-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const W = 40;
const H = 30;
const grid: Grid = { crs: { epsg: 32633 }, transform: [500000, 10, 0, 4200000, 0, -10], width: W, height: H };
/** The hole: 10 x 6 = 60 pixels where every band of the before date is DN 1000, i.e. reflectance 0. */
const inHole = (x: number, y: number) => x >= 5 && x < 15 && y >= 3 && y < 9;
const HOLE = 60;

/** Before: B03 2000, B04 2000, B08 5000, B11 3000, B12 3000 DN (0.1 .. 0.4); after: B08 3000, B12 4000 (burned). */
const DN: Record<string, [number, number]> = { B03: [2000, 2500], B04: [2000, 2600], B08: [5000, 3000], B11: [3000, 2000], B12: [3000, 4000] };

async function writeDate(name: string, role: 0 | 1, hole: 'some' | 'all' | 'none'): Promise<string> {
  const d = path.join(dir, name);
  mkdirSync(d, { recursive: true });
  for (const [band, v] of Object.entries(DN)) {
    const a = new Uint16Array(W * H);
    for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
      a[y * W + x] = hole === 'all' || (hole === 'some' && inHole(x, y)) ? 1000 : v[role];
    }
    await writeCog(path.join(d, `${band}.tif`), { grid, bands: [a] }, { blockSize: 16 });
  }
  return d;
}

const before = await writeDate('before', 0, 'some');
const after = await writeDate('after', 1, 'none');
const zeroBefore = await writeDate('zero', 0, 'all');
const base = (preset: string): DetectOptions => ({ before, after, preset, scene: { offset: -1000 }, decodeBudget: null });

// By hand: NBR before = (0.4 - 0.2) / 0.6 = 1/3; after = (0.2 - 0.3) / 0.5 = -0.2; dNBR = 0.5333 -> class 3
// (moderate-high, 0.44 <= dNBR < 0.66). In the hole NBR before = 0 / 0: undefined -> 255.
const DNBR = Math.fround(Math.fround(0.2 / 0.6) - Math.fround(-0.1 / 0.5));

async function readClasses(file: string): Promise<Uint8Array> {
  const f = await openTiffFile(file);
  try {
    const [v] = await f.images[0]!.readWindow();
    return v as Uint8Array;
  } finally {
    await f.close();
  }
}

function expectHole(classes: ArrayLike<number>, outside: number): void {
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
    expect(classes[y * W + x], `pixel ${x},${y}`).toBe(inHole(x, y) ? 255 : outside);
  }
}

describe('maskUndefinedIndex', () => {
  it('makes NaN and infinite values class 255 and NaN, and counts only pixels that were not 255 already', () => {
    const classes = Uint8Array.from([0, 1, 255, 2, 3, 4]);
    const values = Float32Array.from([0.1, NaN, NaN, Infinity, -Infinity, -0.5]);
    expect(maskUndefinedIndex(classes, values)).toBe(3);
    expect([...classes]).toEqual([0, 255, 255, 255, 255, 4]);
    expect([...values].map((v) => (Number.isNaN(v) ? 'nan' : v))).toEqual([Math.fround(0.1), 'nan', 'nan', 'nan', 'nan', -0.5]);
  });
});

describe('the fused kernel', () => {
  it.skipIf(!tryLoadWasm('fused'))('writes 255 and NaN where a date has x + y = 0, and counts those pixels apart', () => {
    const f = (...v: number[]) => ({ values: Float32Array.from(v), scale: 1, offset: 0, nodata: NaN, predictedRow: 0 });
    // pixel 0: valid, dNBR = (0.4-0.2)/0.6 - (0.2-0.3)/0.5; 1: before 0/0; 2: after 0/0; 3: before nodata; 4: 0.3-0.3 / (0.6) = 0 both.
    const x1 = f(0.2, 0.2, 0, 0.2, 0.3), y1 = f(0.3, 0.3, 0, 0.3, 0.3), x0 = f(0.4, 0, 0.4, NaN, 0.3), y0 = f(0.2, 0, 0.2, 0.2, 0.3);
    const out = { change: new Float32Array(5), classes: new Uint8Array(5) };
    const r = runFusedKernel(x1, y1, x0, y0, null, null, false, severityRules(0.1), 5, 1, out);
    expect(out.change[0]).toBe(DNBR);
    expect(out.classes[0]).toBe(3);
    expect([...out.classes.slice(1)]).toEqual([255, 255, 255, 0]);
    expect(Number.isNaN(out.change[1]!) && Number.isNaN(out.change[2]!) && Number.isNaN(out.change[3]!)).toBe(true);
    expect(out.change[4]).toBe(0);
    expect(r.nodata).toBe(1);
    expect(r.indexUndefined).toBe(2);
    expect(r.classCounts[255]).toBe(3);
  });
});

describe('an undefined index is invalid on every path', () => {
  it('whole-array wildfire: the hole is 255, not "unburned", and counted as masked', async () => {
    const r = await detect(base('wildfire'));
    expect(r.result.products[0]!.values[20 * W + 20]).toBe(DNBR);
    expectHole(r.result.classes, 3);
    expect(r.maskedPixels).toEqual({ total: HOLE, nodata: 0, cloudShadowSnow: 0, indexUndefined: HOLE });
    expect(r.validPixels).toBe(W * H - HOLE);
    expect(r.areas.find((a) => a.value === 0)!.pixels).toBe(0);
    expect(r.areas.find((a) => a.value === 3)!.pixels).toBe(W * H - HOLE);
  });

  it('block engine, fused kernel (wildfire): same classes and counts', async () => {
    const classesPath = path.join(dir, 'fused-change.tif');
    const r = await detectBlocks({ ...base('wildfire'), classesPath, productPath: path.join(dir, 'fused-dnbr.tif'), blockSize: 16, threads: 0, progress: false });
    expect(r.maskedPixels).toEqual({ total: HOLE, nodata: 0, cloudShadowSnow: 0, indexUndefined: HOLE });
    expect(r.validPixels).toBe(W * H - HOLE);
    expectHole(await readClasses(classesPath), 3);
  });

  // Flood is not fused: the block engine runs the preset's own code per block. MNDWI = (B03 - B11) / (B03 + B11):
  // before (0.1 - 0.2) / 0.3 = -1/3 (dry), after (0.15 - 0.1) / 0.25 = 0.2 (water) -> class 1, new water.
  it('whole-array and block engine (flood, per-block preset code): the hole is 255', async () => {
    const flood = { ...base('flood'), method: 'threshold' as const };
    const whole = await detect(flood);
    expectHole(whole.result.classes, 1);
    expect(whole.maskedPixels.indexUndefined).toBe(HOLE);
    const classesPath = path.join(dir, 'flood-change.tif');
    const r = await detectBlocks({ ...flood, classesPath, productPath: path.join(dir, 'flood-d.tif'), blockSize: 16, threads: 0, progress: false });
    expect(r.maskedPixels.indexUndefined).toBe(HOLE);
    expect(r.validPixels).toBe(W * H - HOLE);
    expectHole(await readClasses(classesPath), 1);
  });

  // Multivariate (CVA): with --scale 1e35, before B08 = (5000 - 1000) x 1e35 = 4e38 overflows float32 to Infinity
  // outside the hole, so the magnitude is Infinity there (255). In the hole the before date is 0 and the magnitude
  // sqrt(1.5² + 1.6² + 2²) x 1e38 = 2.97e38 is finite: class 1 with --threshold 1.
  it('multivariate CVA: a non-finite magnitude is 255 on both engines', async () => {
    const opts = { ...base('generic'), cvaBands: ['B03', 'B04', 'B08'] as DetectOptions['cvaBands'], scene: { offset: -1000, scale: 1e35 }, threshold: 1 };
    const inverse = (classes: ArrayLike<number>) => {
      for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) expect(classes[y * W + x], `pixel ${x},${y}`).toBe(inHole(x, y) ? 1 : 255);
    };
    const whole = await detect(opts);
    inverse(whole.result.classes);
    expect(whole.maskedPixels.indexUndefined).toBe(W * H - HOLE);
    expect(whole.validPixels).toBe(HOLE);
    const p = path.join(dir, 'cva-change.tif');
    const r = await detectBlocks({ ...opts, classesPath: p, productPath: path.join(dir, 'cva-m.tif'), blockSize: 16, threads: 0, progress: false });
    expect(r.maskedPixels.indexUndefined).toBe(W * H - HOLE);
    inverse(await readClasses(p));
  });

  it('an all-zero before scene: NothingValidError on both engines, naming the undefined index', async () => {
    const opts = { ...base('wildfire'), before: zeroBefore };
    const err = await detect(opts).catch((e: unknown) => e);
    expect(isS2ChangeError(err, 'NOTHING_VALID')).toBe(true);
    expect(String((err as Error).message)).toContain(`${W * H} undefined-index`);
    const p = path.join(dir, 'zero.tif');
    await expect(detectBlocks({ ...opts, classesPath: p, productPath: null, blockSize: 16, threads: 0, progress: false }))
      .rejects.toSatisfy((e: unknown) => isS2ChangeError(e, 'NOTHING_VALID'));
  });
});

describe('CLI', () => {
  const cli = path.resolve(import.meta.dirname, '../dist/cli/main.js');
  it('detect --preset wildfire --scale 0: exit 1, NOTHING_VALID, no summary', () => {
    const out = path.join(dir, 'cli-out');
    const r = spawnSync(process.execPath, [cli, 'detect', '--preset', 'wildfire', '--before', before, '--after', after, '--scale', '0', '--out', out], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/no valid pixel/);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    expect(() => readFileSync(path.join(out, 'summary.json'))).toThrow();
  });
});
