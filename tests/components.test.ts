import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { labelComponents, removeSmallComponents, componentAreas } from '../src/raster/components.js';

/** Parse a hand-drawn raster: rows of digits, '.' = 0, 'x' = 255. */
function raster(rows: string[]): { classes: Uint8Array; width: number; height: number } {
  const height = rows.length;
  const width = rows[0]!.length;
  const classes = new Uint8Array(width * height);
  rows.forEach((r, y) => [...r].forEach((ch, x) => {
    classes[y * width + x] = ch === '.' ? 0 : ch === 'x' ? 255 : Number(ch);
  }));
  return { classes, width, height };
}

/** Independent oracle: naive BFS flood fill returning sorted component sizes per class. */
function naiveComponents(classes: Uint8Array, w: number, h: number, conn: 4 | 8, bg: number[]): Array<[number, number]> {
  const seen = new Uint8Array(w * h);
  const out: Array<[number, number]> = [];
  const nb = conn === 4 ? [[1, 0], [-1, 0], [0, 1], [0, -1]] : [[1, 0], [-1, 0], [0, 1], [0, -1], [1, 1], [1, -1], [-1, 1], [-1, -1]];
  for (let i = 0; i < w * h; i++) {
    if (seen[i] || bg.includes(classes[i]!)) continue;
    const v = classes[i]!;
    const queue = [i];
    seen[i] = 1;
    let size = 0;
    while (queue.length) {
      const p = queue.pop()!;
      size++;
      const px = p % w, py = Math.floor(p / w);
      for (const [dx, dy] of nb) {
        const qx = px + dx!, qy = py + dy!;
        if (qx < 0 || qy < 0 || qx >= w || qy >= h) continue;
        const q = qy * w + qx;
        if (!seen[q] && classes[q] === v) { seen[q] = 1; queue.push(q); }
      }
    }
    out.push([v, size]);
  }
  return out.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
}

function ours(classes: Uint8Array, w: number, h: number, conn: 4 | 8, bg: number[]): Array<[number, number]> {
  const c = labelComponents(classes, w, h, { connectivity: conn, background: bg });
  const out: Array<[number, number]> = [];
  for (let l = 1; l <= c.count; l++) out.push([c.classOf[l]!, c.sizes[l]!]);
  return out.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
}

describe('labelComponents', () => {
  const r = raster([
    '11..2',
    '1.1.2',
    '..1x2',
    '2...x',
  ]);

  it('counts components by hand, 8-connectivity (default)', () => {
    const c = labelComponents(r.classes, r.width, r.height);
    // 1s: {(0,0),(1,0),(0,1)} joined diagonally to {(2,1),(2,2)} -> one component of 5; 2s: column of 3, lone 2 at (0,3).
    expect(c.count).toBe(3);
    expect([...c.sizes.slice(1)]).toEqual([5, 3, 1]); // raster order of first pixel
    expect([...c.classOf.slice(1)]).toEqual([1, 2, 2]);
    expect(c.sizes[0]).toBe(20 - 9);
    expect(c.labels[0]).toBe(1);
    expect(c.labels[2 * 5 + 2]).toBe(1);
    expect(c.labels[3 * 5 + 3]).toBe(0);
    expect(c.labels[2 * 5 + 3]).toBe(0); // 255 is background
  });

  it('counts components by hand, 4-connectivity', () => {
    const c = labelComponents(r.classes, r.width, r.height, { connectivity: 4 });
    expect(c.count).toBe(4);
    expect([...c.sizes.slice(1)]).toEqual([3, 3, 2, 1]);
  });

  it('treats only the given background values as background', () => {
    const c = labelComponents(r.classes, r.width, r.height, { connectivity: 4, background: 0 });
    // 4 regions of 1s/2s plus the two 255 pixels, which touch only at a corner: two more regions with 4-connectivity.
    expect(c.count).toBe(6);
    const c8 = labelComponents(r.classes, r.width, r.height, { connectivity: 8, background: [0] });
    expect(c8.count).toBe(4); // 3 regions of 1s/2s + the diagonal 255 pair as one region
  });

  it('separates touching regions of different classes', () => {
    const t = raster(['1122', '1122']);
    const c = labelComponents(t.classes, 4, 2);
    expect(c.count).toBe(2);
    expect([...c.labels]).toEqual([1, 1, 2, 2, 1, 1, 2, 2]);
  });

  it('matches a naive flood fill on random rasters (and sizes sum to the non-background pixels)', () => {
    fc.assert(fc.property(
      fc.integer({ min: 1, max: 14 }), fc.integer({ min: 1, max: 14 }), fc.constantFrom<4 | 8>(4, 8), fc.integer(),
      (w, h, conn, seed) => {
        const vals = [0, 1, 2, 255];
        let s = seed >>> 0;
        const classes = Uint8Array.from({ length: w * h }, () => { s = (s * 1664525 + 1013904223) >>> 0; return vals[s >>> 30]!; });
        const expected = naiveComponents(classes, w, h, conn, [0, 255]);
        expect(ours(classes, w, h, conn, [0, 255])).toEqual(expected);
        const c = labelComponents(classes, w, h, { connectivity: conn });
        const nonBg = classes.filter((v) => v !== 0 && v !== 255).length;
        expect(c.sizes.slice(1).reduce((a, b) => a + b, 0)).toBe(nonBg);
      }), { numRuns: 300 });
  });

  it('handles a 3000x3000 single snake-shaped region without recursion', () => {
    const w = 3000, h = 3000;
    const classes = new Uint8Array(w * h);
    // Serpentine: every even row full, odd rows connect alternately at the right/left end.
    for (let y = 0; y < h; y++) {
      if (y % 2 === 0) classes.fill(1, y * w, (y + 1) * w);
      else classes[y * w + ((y >> 1) % 2 === 0 ? w - 1 : 0)] = 1;
    }
    const c = labelComponents(classes, w, h, { connectivity: 4 });
    expect(c.count).toBe(1);
    expect(c.sizes[1]).toBe(1500 * 3000 + 1500);
  });

  it('rejects a size mismatch', () => {
    expect(() => labelComponents(new Uint8Array(5), 2, 2)).toThrow(/expected 2x2/);
  });
});

describe('removeSmallComponents (minimum mapping unit)', () => {
  const r = raster([
    '11..2',
    '11..2',
    '...x2',
    '3...2',
  ]);

  it('removes regions below minPixels and keeps background untouched', () => {
    const res = removeSmallComponents(r.classes, r.width, r.height, { minPixels: 4 });
    expect(res.removedComponents).toBe(1); // the lone 3
    expect(res.removedPixels).toBe(1);
    expect(res.keptComponents).toBe(2);
    expect(res.classes[15]).toBe(0);
    expect(res.classes[13]).toBe(255);
    expect(r.classes[15]).toBe(3); // input untouched
    const res5 = removeSmallComponents(r.classes, r.width, r.height, { minPixels: 5, replaceWith: 7 });
    expect([...res5.classes]).toEqual([...raster(['77..7', '77..7', '...x7', '7...7']).classes]);
  });

  it('uses ground area per row (minAreaM2 + rowAreaM2)', () => {
    // Rows 0-1 have 100 m² pixels, rows 2-3 have 50 m² pixels: the 2s cover 2*100 + 2*50 = 300 m², the 1s 400 m².
    const rowArea = (row: number): number => (row < 2 ? 100 : 50);
    const res = removeSmallComponents(r.classes, r.width, r.height, { minAreaM2: 350, rowAreaM2: rowArea });
    expect(res.removedComponents).toBe(2);
    expect(res.classes[0]).toBe(1);
    expect(res.classes[4]).toBe(0);
    const c = labelComponents(r.classes, r.width, r.height);
    expect([...componentAreas(c, r.width, r.height, rowArea)]).toEqual([0, 400, 300, 50]);
    expect(() => removeSmallComponents(r.classes, r.width, r.height, { minAreaM2: 1 })).toThrow(/rowAreaM2/);
  });

  it('never adds change pixels and only ever writes replaceWith (property)', () => {
    fc.assert(fc.property(
      fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 12 }), fc.integer({ min: 0, max: 10 }),
      fc.constantFrom<4 | 8>(4, 8), fc.integer(),
      (w, h, minPixels, conn, seed) => {
        let s = seed >>> 0;
        const classes = Uint8Array.from({ length: w * h }, () => { s = (s * 1664525 + 1013904223) >>> 0; return [0, 1, 2, 255][s >>> 30]!; });
        const res = removeSmallComponents(classes, w, h, { minPixels, connectivity: conn });
        let removed = 0;
        for (let i = 0; i < classes.length; i++) {
          if (res.classes[i] !== classes[i]) { removed++; expect(res.classes[i]).toBe(0); expect([1, 2]).toContain(classes[i]); }
        }
        expect(removed).toBe(res.removedPixels);
        // Every surviving region is at least minPixels large.
        const after = labelComponents(res.classes, w, h, { connectivity: conn });
        for (let l = 1; l <= after.count; l++) expect(after.sizes[l]).toBeGreaterThanOrEqual(minPixels);
      }), { numRuns: 200 });
  });
});
