import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { polygonize, ringArea, type PixelRing } from '../src/raster/polygonize.js';

function raster(rows: string[]): { classes: Uint8Array; width: number; height: number } {
  const height = rows.length;
  const width = rows[0]!.length;
  const classes = new Uint8Array(width * height);
  rows.forEach((r, y) => [...r].forEach((ch, x) => { classes[y * width + x] = ch === '.' ? 0 : ch === 'x' ? 255 : Number(ch); }));
  return { classes, width, height };
}

/** Ring as [x,y] pairs without the closing vertex, rotated to start at the smallest (y, x): orientation kept. */
function norm(r: PixelRing): Array<[number, number]> {
  const pts: Array<[number, number]> = [];
  for (let i = 0; i + 2 < r.length; i += 2) pts.push([r[i]!, r[i + 1]!]);
  let k = 0;
  pts.forEach((p, i) => { const q = pts[k]!; if (p[1] < q[1] || (p[1] === q[1] && p[0] < q[0])) k = i; });
  return [...pts.slice(k), ...pts.slice(0, k)];
}

describe('polygonize: hand-computed rings', () => {
  it('L-shape: one outer ring, counter-clockwise on a north-up map (negative shoelace in col/row)', () => {
    const r = raster(['1.', '11']);
    const { polygons } = polygonize(r.classes, r.width, r.height);
    expect(polygons).toHaveLength(1);
    const p = polygons[0]!;
    expect(p.value).toBe(1);
    expect(p.pixels).toBe(3);
    expect(p.parts).toHaveLength(1);
    // Going down the left side first = counter-clockwise as seen on screen (rows grow downwards).
    expect(norm(p.parts[0]!.outer)).toEqual([[0, 0], [0, 2], [2, 2], [2, 1], [1, 1], [1, 0]]);
    const o = p.parts[0]!.outer;
    expect([o[0], o[1]]).toEqual([o[o.length - 2], o[o.length - 1]]); // closed
    expect(ringArea(o)).toBe(-3);
  });

  it('square with a hole: clockwise hole ring', () => {
    const r = raster(['111', '1.1', '111']);
    const { polygons } = polygonize(r.classes, r.width, r.height);
    expect(polygons).toHaveLength(1);
    const part = polygons[0]!.parts[0]!;
    expect(norm(part.outer)).toEqual([[0, 0], [0, 3], [3, 3], [3, 0]]);
    expect(part.holes).toHaveLength(1);
    expect(norm(part.holes[0]!)).toEqual([[1, 1], [2, 1], [2, 2], [1, 2]]);
    expect(ringArea(part.holes[0]!)).toBe(1);
  });

  it('a hole filled by another class gives that class its own polygon', () => {
    const r = raster(['111', '121', '111']);
    const { polygons } = polygonize(r.classes, r.width, r.height);
    expect(polygons.map((p) => [p.value, p.pixels, p.parts[0]!.holes.length])).toEqual([[1, 8, 1], [2, 1, 0]]);
  });

  it('diagonal pair, 8-connectivity: one region, two simple squares touching at a vertex (MultiPolygon)', () => {
    const r = raster(['1.', '.1']);
    const { polygons } = polygonize(r.classes, r.width, r.height, { connectivity: 8 });
    expect(polygons).toHaveLength(1);
    expect(polygons[0]!.pixels).toBe(2);
    expect(polygons[0]!.parts.map((q) => norm(q.outer))).toEqual([
      [[0, 0], [0, 1], [1, 1], [1, 0]],
      [[1, 1], [1, 2], [2, 2], [2, 1]],
    ]);
  });

  it('8-connected region with two parts, the hole going to the part that contains it', () => {
    const r = raster(['111..', '1.1..', '111..', '...1.']);
    const { polygons } = polygonize(r.classes, r.width, r.height, { connectivity: 8 });
    expect(polygons).toHaveLength(1);
    expect(polygons[0]!.pixels).toBe(9);
    expect(polygons[0]!.parts.map((q) => [norm(q.outer), q.holes.map(norm)])).toEqual([
      [[[0, 0], [0, 3], [3, 3], [3, 0]], [[[1, 1], [2, 1], [2, 2], [1, 2]]]],
      [[[3, 3], [3, 4], [4, 4], [4, 3]], []],
    ]);
  });

  it('diagonal pair, 4-connectivity: two regions', () => {
    const r = raster(['1.', '.1']);
    const { polygons } = polygonize(r.classes, r.width, r.height, { connectivity: 4 });
    expect(polygons.map((p) => p.parts.length)).toEqual([1, 1]);
  });

  it('ring pinched at a corner: outer ring plus a hole touching it at one vertex, both simple', () => {
    const r = raster(['11.', '1.1', '111']);
    for (const connectivity of [4, 8] as const) {
      const { polygons } = polygonize(r.classes, r.width, r.height, { connectivity });
      expect(polygons).toHaveLength(1);
      const [part, ...rest] = polygons[0]!.parts;
      expect(rest).toHaveLength(0);
      expect(norm(part!.outer)).toEqual([[0, 0], [0, 3], [3, 3], [3, 1], [2, 1], [2, 0]]);
      expect(part!.holes.map(norm)).toEqual([[[1, 1], [2, 1], [2, 2], [1, 2]]]);
    }
  });

  it('skips classes and caps the number of polygons, keeping the largest', () => {
    const r = raster(['1.22', '..22', '3...']);
    expect(polygonize(r.classes, r.width, r.height, { skip: [0, 2] }).polygons.map((p) => p.value)).toEqual([1, 3]);
    const capped = polygonize(r.classes, r.width, r.height, { maxPolygons: 1, rowAreaM2: () => 100 });
    expect(capped.polygons.map((p) => [p.value, p.pixels, p.areaM2])).toEqual([[2, 4, 400]]);
    expect([capped.regions, capped.droppedRegions, capped.droppedPixels, capped.droppedAreaM2]).toEqual([3, 2, 2, 200]);
  });
});

/** Even-odd test of a point against a set of closed rings. */
function insideRings(rings: PixelRing[], px: number, py: number): boolean {
  let inside = false;
  for (const r of rings) {
    for (let i = 0; i + 3 < r.length; i += 2) {
      const x0 = r[i]!, y0 = r[i + 1]!, x1 = r[i + 2]!, y1 = r[i + 3]!;
      if ((y0 > py) !== (y1 > py) && px < ((x1 - x0) * (py - y0)) / (y1 - y0) + x0) inside = !inside;
    }
  }
  return inside;
}

describe('polygonize: properties on random rasters', () => {
  it('area(outer) - area(holes) = pixel count; rings simple, closed, axis-parallel, no collinear vertices; pixels covered exactly', () => {
    fc.assert(fc.property(
      fc.integer({ min: 1, max: 14 }), fc.integer({ min: 1, max: 14 }), fc.constantFrom<4 | 8>(4, 8), fc.integer(),
      fc.constantFrom([0, 1, 2, 255], [0, 1, 1, 1], [0, 1, 1, 2]),
      (w, h, connectivity, seed, vals) => {
        let s = seed >>> 0;
        const classes = Uint8Array.from({ length: w * h }, () => { s = (s * 1664525 + 1013904223) >>> 0; return vals[s >>> 30]!; });
        const { polygons } = polygonize(classes, w, h, { connectivity });
        let total = 0;
        for (const p of polygons) {
          let area = 0;
          for (const part of p.parts) {
            expect(ringArea(part.outer)).toBeLessThan(0);
            area -= ringArea(part.outer);
            for (const hole of part.holes) { expect(ringArea(hole)).toBeGreaterThan(0); area -= ringArea(hole); }
            for (const ring of [part.outer, ...part.holes]) {
              const n = ring.length;
              expect([ring[0], ring[1]]).toEqual([ring[n - 2], ring[n - 1]]);
              const keys = new Set<number>();
              for (let i = 0; i + 2 < n; i += 2) keys.add(ring[i + 1]! * 1000 + ring[i]!);
              expect(keys.size).toBe(n / 2 - 1); // simple: no vertex visited twice
              for (let i = 0; i + 3 < n; i += 2) {
                const dx = ring[i + 2]! - ring[i]!, dy = ring[i + 3]! - ring[i + 1]!;
                expect(dx === 0 || dy === 0).toBe(true);
                expect(dx !== 0 || dy !== 0).toBe(true);
                const j = i + 4 < n ? i + 2 : 0; // next edge (wrapping)
                const ex = ring[j + 2]! - ring[j]!, ey = ring[j + 3]! - ring[j + 1]!;
                expect(dx * ey - dy * ex).not.toBe(0); // consecutive edges turn: no collinear vertex
              }
            }
          }
          expect(area).toBe(p.pixels);
          total += p.pixels;
        }
        expect(total).toBe(classes.filter((v) => v === 1 || v === 2).length);
        // Every pixel centre lies inside exactly the polygon of its own region (and its own class).
        for (let y = 0; y < h; y++) {
          for (let x = 0; x < w; x++) {
            const hits = polygons.filter((p) => p.parts.some((q) => insideRings([q.outer, ...q.holes], x + 0.5, y + 0.5)));
            const v = classes[y * w + x]!;
            if (v === 0 || v === 255) expect(hits).toHaveLength(0);
            else { expect(hits).toHaveLength(1); expect(hits[0]!.value).toBe(v); }
          }
        }
        // OGC: each part has a connected interior, so parts = the region's 4-connected pieces (naive flood fill).
        for (const p of polygons) {
          const mine = new Set<number>();
          for (let i = 0; i < w * h; i++) {
            if (p.parts.some((q) => insideRings([q.outer, ...q.holes], (i % w) + 0.5, Math.floor(i / w) + 0.5))) mine.add(i);
          }
          let pieces = 0;
          const seen = new Set<number>();
          for (const start of mine) {
            if (seen.has(start)) continue;
            pieces++;
            const stack = [start];
            seen.add(start);
            while (stack.length) {
              const q = stack.pop()!;
              const qx = q % w;
              for (const n of [qx > 0 ? q - 1 : -1, qx < w - 1 ? q + 1 : -1, q - w, q + w]) {
                if (n >= 0 && mine.has(n) && !seen.has(n)) { seen.add(n); stack.push(n); }
              }
            }
          }
          expect(p.parts).toHaveLength(pieces);
        }
      }), { numRuns: 400 });
  });

  it('is fast on a large noisy raster (2000x2000)', () => {
    const w = 2000, h = 2000;
    let s = 12345;
    const classes = Uint8Array.from({ length: w * h }, () => { s = (s * 1664525 + 1013904223) >>> 0; return (s >>> 29) < 4 ? 1 : 0; }); // 50%: one huge 8-connected region
    const t0 = performance.now();
    const { polygons } = polygonize(classes, w, h);
    const ms = performance.now() - t0;
    expect(polygons.reduce((a, p) => a + p.pixels, 0)).toBe(classes.filter((v) => v === 1).length);
    expect(ms).toBeLessThan(15_000);
  });
});
