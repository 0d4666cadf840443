import proj4 from 'proj4';
import { describe, expect, it } from 'vitest';
import { boundsToWindow, crsToPixel, gridBounds, pixelAreaM2, pixelToCrs, proj4Definition, type Grid } from '../src/raster/grid.js';
import { pixelMapping, pixelMappingOf, resample } from '../src/raster/resample.js';
import { transformBounds } from '../src/raster/reproject.js';
import { toPhysical } from '../src/pipeline/align.js';
import { dilate } from '../src/raster/morphology.js';
import { sclMask } from '../src/raster/scl-mask.js';

/** Ellipsoidal cell area by numerical integration of M(φ)·N(φ)·cos φ — independent of the closed form in grid.ts. */
function cellAreaNumeric(lat0: number, lat1: number, dLonDeg: number): number {
  const a = 6378137; const f = 1 / 298.257223563; const e2 = f * (2 - f);
  const steps = 2000; let sum = 0;
  const p0 = (lat0 * Math.PI) / 180; const p1 = (lat1 * Math.PI) / 180; const h = (p1 - p0) / steps;
  for (let i = 0; i < steps; i++) {
    const p = p0 + (i + 0.5) * h; const s = Math.sin(p); const w = 1 - e2 * s * s;
    sum += ((a * (1 - e2)) / w ** 1.5) * (a / Math.sqrt(w)) * Math.cos(p) * h;
  }
  return Math.abs(sum * (dLonDeg * Math.PI) / 180);
}

describe('grid geometry', () => {
  it('pixel ↔ CRS coordinates round-trip', () => {
    const t = [500000, 10, 0, 4600000, 0, -10] as const;
    expect(pixelToCrs(t, 3, 4)).toEqual([500030, 4599960]);
    const [c, r] = crsToPixel(t, 500030, 4599960);
    expect(c).toBeCloseTo(3, 12); expect(r).toBeCloseTo(4, 12);
  });

  it('metric pixel area for UTM and ellipsoidal area for EPSG:4326 rows', () => {
    const utm: Grid = { crs: { epsg: 32629 }, transform: [0, 10, 0, 0, 0, -10], width: 1, height: 1 };
    expect(pixelAreaM2(utm, 0)).toBe(100);
    for (const lat of [0, 38.1, 60]) {
      const g: Grid = { crs: { epsg: 4326 }, transform: [-1, 1e-4, 0, lat + 1e-4, 0, -1e-4], width: 1, height: 1 };
      const exact = cellAreaNumeric(lat, lat + 1e-4, 1e-4);
      expect(Math.abs(pixelAreaM2(g, 0) - exact) / exact).toBeLessThan(1e-6);
    }
    // A whole 1° x 1° cell at the equator: ≈ 12 308.8 km² on WGS84.
    const big: Grid = { crs: { epsg: 4326 }, transform: [0, 1, 0, 1, 0, -1], width: 1, height: 1 };
    expect(pixelAreaM2(big, 0) / 1e6).toBeCloseTo(cellAreaNumeric(0, 1, 1) / 1e6, 3);
  });

  it('bounds to window covers partially touched pixels and clips to the grid', () => {
    const g: Grid = { crs: { epsg: 32629 }, transform: [0, 10, 0, 100, 0, -10], width: 10, height: 10 };
    expect(boundsToWindow(g, { minX: 15, minY: 45, maxX: 41, maxY: 95 })).toEqual({ x: 1, y: 0, width: 4, height: 6 });
    expect(boundsToWindow(g, { minX: -50, minY: -50, maxX: 500, maxY: 500 })).toEqual({ x: 0, y: 0, width: 10, height: 10 });
    expect(boundsToWindow(g, { minX: 200, minY: 0, maxX: 300, maxY: 10 })).toBeNull();
  });
});

describe('stored values to reflectance', () => {
  it('large 8- and 16-bit windows (a lookup table) give (DN + offset) × scale in float32, NaN for nodata, classes as stored', () => {
    const dn = Uint16Array.from({ length: 1 << 18 }, (_, i) => (i * 7919) % 65536);
    dn[5] = 0;
    const out = toPhysical(dn, { radiometry: { scale: 1e-4, offset: -1000, nodata: 0, source: '' }, kind: 'reflectance' });
    let wrong = 0;
    for (let i = 0; i < dn.length; i++) {
      const want = dn[i] === 0 ? NaN : Math.fround((dn[i]! - 1000) * 1e-4);
      if (!Object.is(out[i], want)) wrong++;
    }
    expect(wrong).toBe(0);
    expect(out[5]).toBeNaN();
    const scl = Uint8Array.from({ length: 1 << 12 }, (_, i) => i % 12);
    const classes = toPhysical(scl, { radiometry: { scale: 1, offset: 0, nodata: 0, source: '' }, kind: 'class' });
    expect([...classes]).toEqual([...scl]); // class 0 stays 0 (the SCL mask treats it as nodata itself)
  });
});

describe('resampling onto one grid', () => {
  const src: Grid = { crs: { epsg: 32629 }, transform: [0, 20, 0, 80, 0, -20], width: 4, height: 4 };
  const data = new Float32Array(Array.from({ length: 16 }, (_, i) => i)); // value = 4*row + col

  it('identity grid returns the data unchanged', () => {
    expect([...resample(data, src, src, 'bilinear')]).toEqual([...data]);
    expect([...resample(data, src, src, 'nearest')]).toEqual([...data]);
  });

  it('20 m → 10 m: nearest repeats pixels, bilinear interpolates between centres (hand-computed)', () => {
    const dst: Grid = { crs: { epsg: 32629 }, transform: [0, 10, 0, 80, 0, -10], width: 8, height: 8 };
    const nn = resample(data, src, dst, 'nearest');
    expect(nn[0]).toBe(0); expect(nn[1]).toBe(0); expect(nn[2]).toBe(1); expect(nn[8 * 2 + 2]).toBe(5);
    const bl = resample(data, src, dst, 'bilinear');
    // dst pixel (col 1, row 1) centre = (15, 65) → src pixel coords (0.75, 0.75) → centre-based (0.25, 0.25)
    // value = bilinear of 0,1,4,5 at (0.25,0.25) = 0 + 0.25*1 + 0.25*4 = 1.25
    expect(bl[8 * 1 + 1]).toBeCloseTo(1.25, 6);
    // dst (col 2,row 2) centre (25,55) → src (1.25,1.25) → (0.75,0.75): 0.75*1 + 0.75*4 = 3.75
    expect(bl[8 * 2 + 2]).toBeCloseTo(3.75, 6);
  });

  it('bilinear ignores NaN neighbours; outside the source is NaN', () => {
    const d = data.slice(); d[1] = NaN;
    const dst: Grid = { crs: { epsg: 32629 }, transform: [0, 10, 0, 80, 0, -10], width: 8, height: 8 };
    const bl = resample(d, src, dst, 'bilinear');
    // weights at (0.25, 0.25): p00 .5625, p10 (NaN) .1875, p01 .1875, p11 .0625 → (0*.5625 + 4*.1875 + 5*.0625)/.8125
    expect(bl[9]).toBeCloseTo((4 * 0.1875 + 5 * 0.0625) / 0.8125, 6);
    const away: Grid = { crs: { epsg: 32629 }, transform: [1000, 10, 0, 80, 0, -10], width: 2, height: 2 };
    expect([...resample(data, src, away, 'bilinear')].every(Number.isNaN)).toBe(true);
  });

  it('across CRSs the approximate mapping is within 0.01 px of the exact proj4 transform', () => {
    const utm: Grid = { crs: { epsg: 32630 }, transform: [699960, 10, 0, 4400040, 0, -10], width: 300, height: 200 };
    const b = transformBounds(gridBounds(utm), utm.crs, { epsg: 4326 });
    const ll: Grid = { crs: { epsg: 4326 }, transform: [b.minX, 9e-5, 0, b.maxY, 0, -9e-5], width: 250, height: 200 };
    const { u, v } = pixelMapping(utm, ll);
    const exact = proj4(proj4Definition(ll.crs), proj4Definition(utm.crs));
    for (const [c, r] of [[0, 0], [17, 133], [249, 199], [128, 64]] as const) {
      const [x, y] = pixelToCrs(ll.transform, c + 0.5, r + 0.5);
      const [ex, ey] = exact.forward([x, y]);
      const [eu, ev] = crsToPixel(utm.transform, ex!, ey!);
      expect(Math.abs(u[r * ll.width + c]! - eu)).toBeLessThan(0.01);
      expect(Math.abs(v[r * ll.width + c]! - ev)).toBeLessThan(0.01);
    }
  });

  it('a north-up mapping in one CRS is separable, with exactly the per-pixel numbers and resampled values', () => {
    // 20 m SCL-like source onto a 10 m target offset by odd amounts (and a 60 m one), as Sentinel-2 bands are.
    const src: Grid = { crs: { epsg: 32633 }, transform: [499980, 20, 0, 4200020, 0, -20], width: 37, height: 29 };
    const data = Float32Array.from({ length: src.width * src.height }, (_, k) => (k * 7919) % 13);
    data[40] = NaN;
    for (const dst of [
      { crs: src.crs, transform: [500010, 10, 0, 4199990, 0, -10], width: 61, height: 47 },
      { crs: src.crs, transform: [499950, 60, 0, 4200050, 0, -60], width: 15, height: 12 },
    ] satisfies Grid[]) {
      const sep = pixelMappingOf(src, dst);
      const full = pixelMapping(src, dst);
      if (!('columns' in sep)) throw new Error('expected a separable mapping');
      // === (not Object.is): a zero cross term may turn +0 into -0, which floors and compares the same.
      let differ = 0;
      for (let r = 0; r < dst.height; r++) {
        for (let c = 0; c < dst.width; c++) {
          if (sep.columns[c] !== full.u[r * dst.width + c] || sep.rows[r] !== full.v[r * dst.width + c]) differ++;
        }
      }
      expect(differ).toBe(0);
      for (const method of ['nearest', 'bilinear'] as const) {
        expect([...resample(data, src, dst, method, sep)]).toEqual([...resample(data, src, dst, method, full)]);
      }
    }
    // A rotated grid is not separable: the per-pixel form is used.
    const rotated: Grid = { ...src, transform: [499980, 20, 1, 4200020, 1, -20] };
    expect('u' in pixelMappingOf(rotated, src)).toBe(true);
  });
});

describe('masks', () => {
  it('dilate grows a single pixel into a (2r+1)² square, clipped at edges', () => {
    const m = new Uint8Array(25); m[12] = 1;
    expect([...dilate(m, 5, 5, 1)]).toEqual([0, 0, 0, 0, 0, 0, 1, 1, 1, 0, 0, 1, 1, 1, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0]);
    const corner = new Uint8Array(9); corner[0] = 1;
    expect([...dilate(corner, 3, 3, 1)]).toEqual([1, 1, 0, 1, 1, 0, 0, 0, 0]);
  });

  it('dilate equals the brute-force (2r+1)² maximum on random masks', () => {
    let seed = 7;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (const [w, h, r, density] of [[23, 17, 1, 0.05], [40, 9, 2, 0.02], [5, 31, 3, 0.1], [64, 64, 2, 0.3], [3, 2, 4, 0.2]] as const) {
      const m = Uint8Array.from({ length: w * h }, () => (rand() < density ? 1 : 0));
      const expected = new Uint8Array(w * h);
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          for (let dy = -r; dy <= r; dy++) {
            for (let dx = -r; dx <= r; dx++) {
              const yy = y + dy, xx = x + dx;
              if (yy >= 0 && yy < h && xx >= 0 && xx < w && m[yy * w + xx]) expected[y * w + x] = 1;
            }
          }
        }
      }
      expect([...dilate(m, w, h, r)]).toEqual([...expected]);
    }
  });

  it('SCL mask hits nodata, saturated, shadow, clouds, cirrus, snow and keeps vegetation, bare, water, dark, unclassified', () => {
    const scl = new Float32Array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    expect([...sclMask(scl, 12, 1)]).toEqual([1, 1, 0, 1, 0, 0, 0, 0, 1, 1, 1, 1]);
  });
});

describe('planes (ndarray views)', () => {
  it('a window is a view, and contiguous() copies exactly its pixels in row order', async () => {
    const { plane, contiguous, isContiguous } = await import('../src/raster/plane.js');
    const p = plane(5, 4, Float32Array.from({ length: 20 }, (_, i) => i)); // value = 5*row + col
    const w = p.hi(3, 4).lo(1, 2); // rows 1..2, cols 2..3
    expect(w.data).toBe(p.data); // a view, not a copy
    expect(isContiguous(w)).toBe(false);
    expect([...contiguous(w).data]).toEqual([7, 8, 12, 13]);
    expect(contiguous(p)).toBe(p);
    // full-width row bands are contiguous views whose data is the whole plane: .data must hold only their pixels
    expect([...contiguous(p.hi(2, 5)).data]).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect([...contiguous(p.lo(2, 0)).data]).toEqual([10, 11, 12, 13, 14, 15, 16, 17, 18, 19]);
  });

  it('readOnGrid on a target at the top edge of a band returns exactly the target (a --bbox reaching the edge)', async () => {
    const { readOnGrid } = await import('../src/pipeline/align.js');
    const { windowGrid } = await import('../src/raster/grid.js');
    const grid = { crs: { epsg: 32629 }, transform: [500000, 10, 0, 4200000, 0, -10] as const, width: 6, height: 10 };
    const data = Float32Array.from({ length: 60 }, (_, i) => i);
    const ref = {
      grid, kind: 'reflectance', radiometry: { scale: 1, offset: 0, nodata: null },
      readStored: async (w: { x: number; y: number; width: number; height: number }) => {
        const out = new Float32Array(w.width * w.height);
        for (let r = 0; r < w.height; r++) for (let c = 0; c < w.width; c++) out[r * w.width + c] = data[(w.y + r) * 6 + w.x + c]!;
        return out;
      },
    } as never;
    const target = windowGrid(grid, { x: 0, y: 0, width: 6, height: 3 }); // the read window gets 2 margin rows below only
    const v = await readOnGrid(ref, target);
    expect(Array.from(v)).toEqual(Array.from(data.subarray(0, 18)));
  });
});
