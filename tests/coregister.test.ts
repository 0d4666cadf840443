/**
 * Co-registration (src/raster/coregister.ts): known sub-pixel shifts recovered, the resampling against GDAL's warp,
 * and pairs without a shift (or without a trustworthy one) left alone.
 */
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import {
  correctedTransform, decideCoregistration, estimateShift, MIN_APPLIED_SHIFT, shiftRaster,
} from '../src/raster/coregister.js';
import { resample } from '../src/raster/resample.js';
import { runDetect } from '../src/pipeline/run-detect.js';
import type { Grid } from '../src/raster/grid.js';
import { dataDir, GDAL_SKIP_REASON, hasGdal, PYTHON, run } from './helpers/gdal.js';

/** A smooth field of seeded Gaussian blobs evaluated analytically at (x + dx, y + dy): the truth needs no resampling. */
function blobField(W: number, H: number, dx: number, dy: number, seed = 1): Float32Array {
  let s = seed;
  const rnd = () => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648;
  const blobs = Array.from({ length: 400 }, () => [rnd() * W, rnd() * H, 1.5 + 4 * rnd(), rnd() - 0.3] as const);
  const out = new Float32Array(W * H);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const X = x + 0.5 + dx;
      const Y = y + 0.5 + dy;
      let v = 0;
      for (const [cx, cy, r, a] of blobs) {
        const d = ((X - cx) ** 2 + (Y - cy) ** 2) / (r * r);
        if (d < 25) v += a * Math.exp(-d);
      }
      out[y * W + x] = v;
    }
  }
  return out;
}

describe('estimateShift', () => {
  const W = 160;
  const H = 150;
  const ref = blobField(W, H, 0, 0);
  for (const [dx, dy] of [[0.37, -0.62], [2.25, 1.1], [-0.08, 0.04], [-1.7, 0.5]] as const) {
    it(`recovers a synthetic shift (${dx}, ${dy}) px to < 0.05 px`, () => {
      // moving(x) = field(x − d) shows at x + d what the reference shows at x
      const moving = blobField(W, H, -dx, -dy);
      const s = estimateShift(ref, moving, W, H)!;
      expect(Math.abs(s.dx - dx)).toBeLessThan(0.05);
      expect(Math.abs(s.dy - dy)).toBeLessThan(0.05);
      expect(s.confidence).toBeGreaterThan(0.9);
    });
  }

  it('finds no shift between an image and itself plus noise, and the pair is left alone', () => {
    let s = 7;
    const noisy = ref.map((v) => v + 0.02 * (((s = (s * 69069 + 1) >>> 0) / 2 ** 32) - 0.5));
    const e = estimateShift(ref, noisy, W, H)!;
    expect(Math.hypot(e.dx, e.dy)).toBeLessThan(0.02);
    const d = decideCoregistration(e);
    expect(d.applied).toBe(false);
    expect(d.reason).toMatch(/< 0\.1 px/);
    expect(MIN_APPLIED_SHIFT).toBe(0.1);
  });

  it('ignores NaN (filled with the window mean) and still recovers the shift', () => {
    const moving = blobField(W, H, -0.4, -0.3);
    for (let y = 60; y < 75; y++) for (let x = 50; x < 90; x++) moving[y * W + x] = NaN;
    const e = estimateShift(ref, moving, W, H)!;
    expect(Math.abs(e.dx - 0.4)).toBeLessThan(0.05);
    expect(Math.abs(e.dy - 0.3)).toBeLessThan(0.05);
  });

  it('gives a low confidence for unrelated images, and such a shift is not applied', () => {
    const other = blobField(W, H, 0, 0, 99);
    const e = estimateShift(ref, other, W, H)!;
    expect(e.confidence).toBeLessThan(0.15);
    const d = decideCoregistration(e);
    expect(d.applied).toBe(false);
    expect(d.reason).toMatch(/low confidence|no correlation peak/);
  });

  it('does not apply a peak found on the edge of the ±3 px search (a shift of 5 px is outside it)', () => {
    const e = estimateShift(ref, blobField(W, H, -5, 0), W, H)!;
    expect(e.atSearchEdge).toBe(true);
    expect(decideCoregistration(e).reason).toMatch(/no correlation peak inside the ±3 px search/);
    const wide = estimateShift(ref, blobField(W, H, -5, 0), W, H, { maxShift: 8 })!;
    expect(Math.abs(wide.dx - 5)).toBeLessThan(0.05);
  });

  it('returns null below a 32×32 overlap; decideCoregistration says why', () => {
    expect(estimateShift(new Float32Array(20 * 40), new Float32Array(20 * 40), 20, 40)).toBeNull();
    expect(decideCoregistration(null).reason).toMatch(/smaller than 32/);
  });

  it('refuses arrays of the wrong size', () => {
    expect(() => estimateShift(new Float32Array(10), new Float32Array(12), 3, 4)).toThrow(/must have 3×4/);
  });
});

describe('shiftRaster and correctedTransform', () => {
  it('shiftRaster by hand: a ramp moved by (0.25, 0.5) px', () => {
    const W = 6;
    const H = 5;
    const v = Float32Array.from({ length: W * H }, (_, i) => (i % W) + 10 * Math.floor(i / W));
    const out = shiftRaster(v, W, H, 0.25, 0.5);
    // interior: value at (x + 0.25, y + 0.5) of a bilinear ramp x + 10 y
    expect(out[2 * W + 2]).toBeCloseTo(2.25 + 25, 5);
    // last column: clamped at the edge (no pixel beyond), as resample clamps
    expect(out[1 * W + 5]).toBeCloseTo(5 + 15, 5);
  });

  it('correctedTransform read by geotransform equals shiftRaster (20 m grid moves by the same metres)', () => {
    const ref: Grid = { crs: { epsg: 32631 }, transform: [500000, 10, 0, 4000000, 0, -10], width: 40, height: 30 };
    const v = blobField(40, 30, 0, 0, 3);
    const moved: Grid = { ...ref, transform: correctedTransform(ref.transform, ref.transform, 0.3, -0.7) };
    const a = resample(v, moved, ref, 'bilinear');
    const b = shiftRaster(v, 40, 30, 0.3, -0.7);
    for (let i = 0; i < a.length; i++) expect(a[i]).toBe(b[i]);
    const t20 = correctedTransform([499990, 20, 0, 4000010, 0, -20], ref.transform, 0.3, -0.7);
    expect(t20[0]).toBeCloseTo(499990 - 3, 9);
    expect(t20[3]).toBeCloseTo(4000010 - 7, 9);
  });
});

const OSCD_B08 = path.join(dataDir(), 'oscd', 'Onera Satellite Change Detection dataset - Images', 'bercy', 'imgs_1');

describe.skipIf(!hasGdal())(`co-registration on a real band, against scipy and GDAL (${GDAL_SKIP_REASON})`, () => {
  const dir = mkdtempSync(path.join(tmpdir(), 's2c-coreg-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const band = () => path.join(OSCD_B08, readdirSync(OSCD_B08).find((f) => f.endsWith('_B08.tif'))!);
  const oracle = (dx: number, dy: number) => {
    const out = mkdtempSync(path.join(dir, 'case-'));
    const { width, height } = JSON.parse(run(PYTHON, [path.join(path.dirname(fileURLToPath(import.meta.url)), 'oracles', 'coreg_shift.py'), band(), '40', '40', '300', '300', String(dx), String(dy), out]));
    const f32 = (name: string) => new Float32Array(new Uint8Array(readFileSync(path.join(out, name))).buffer);
    return { width: width as number, height: height as number, ref: f32('ref.f32'), fourier: f32('fourier.f32'), gdal: f32('gdal.f32') };
  };

  it('recovers a Fourier shift (scipy.ndimage.fourier_shift) of a real B08 crop to < 0.05 px', () => {
    for (const [dx, dy] of [[0.37, -0.62], [-1.3, 0.45]] as const) {
      const o = oracle(dx, dy);
      const e = estimateShift(o.ref, o.fourier, o.width, o.height)!;
      expect(Math.abs(e.dx - dx)).toBeLessThan(0.05);
      expect(Math.abs(e.dy - dy)).toBeLessThan(0.05);
      expect(decideCoregistration(e).applied).toBe(true);
    }
  });

  it('resamples as GDAL warps (gdalwarp -r bilinear onto the grid, origin moved by the shift)', () => {
    const dx = 0.37;
    const dy = -0.62;
    const o = oracle(dx, dy);
    const ours = shiftRaster(o.ref, o.width, o.height, dx, dy);
    let compared = 0;
    let worst = 0;
    for (let y = 2; y < o.height - 2; y++) {
      for (let x = 2; x < o.width - 2; x++) {
        const i = y * o.width + x;
        worst = Math.max(worst, Math.abs(ours[i]! - o.gdal[i]!) / Math.max(1, Math.abs(o.gdal[i]!)));
        compared++;
      }
    }
    expect(compared).toBeGreaterThan(80_000);
    expect(worst).toBeLessThan(1e-4);
    // and the shift is really there: the moved image differs from the original
    let moved = 0;
    for (let i = 0; i < ours.length; i++) if (Math.abs(o.ref[i]! - o.gdal[i]!) > 1) moved++;
    expect(moved).toBeGreaterThan(ours.length / 4);
  });
});

const BERCY = path.join(dataDir(), 'oscd', 'Onera Satellite Change Detection dataset - Images', 'bercy');

describe.skipIf(!existsSync(BERCY))('detect reports co-registration in summary.json and the report', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 's2c-coreg-run-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  it('OSCD Bercy: shift measured on B08, applied, in pixels and metres; --no-coregister says so', async () => {
    const base = { before: path.join(BERCY, 'imgs_1'), after: path.join(BERCY, 'imgs_2'), preset: 'urban', overwrite: false, engine: 'whole' as const };
    const s = await runDetect({ ...base, out: path.join(dir, 'on') });
    const c = s.coregistration;
    expect(c).toMatchObject({ applied: true, reason: '', band: 'B08' });
    expect(Math.hypot(c.dx!, c.dy!)).toBeGreaterThan(0.1);
    // EPSG:4326 at 48.8° N: ~8.5 m per 0.000116° column, ~12.9 m per row
    expect(c.dxMetres! / c.dx!).toBeGreaterThan(8);
    expect(c.dxMetres! / c.dx!).toBeLessThan(9);
    expect(c.dyMetres! / c.dy!).toBeGreaterThan(12.5);
    expect(c.dyMetres! / c.dy!).toBeLessThan(13.5);
    expect(c.confidence).toBeGreaterThan(0.15);
    const saved = JSON.parse(readFileSync(path.join(dir, 'on', 'summary.json'), 'utf8'));
    expect(saved.coregistration).toEqual(c);
    expect(readFileSync(path.join(dir, 'on', 'report.html'), 'utf8')).toMatch(/Co-registration: shift of the after date [-0-9.]+, [-0-9.]+ px .* applied/);
    const off = await runDetect({ ...base, out: path.join(dir, 'off'), coregister: false });
    expect(off.coregistration).toMatchObject({ applied: false, reason: 'turned off (--no-coregister)', dx: null });
    expect(readFileSync(path.join(dir, 'off', 'report.html'), 'utf8')).toMatch(/Co-registration: not applied — turned off/);
  });
});
