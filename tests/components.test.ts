import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { labelComponents, removeSmallComponents, componentAreas, patchGroupTable } from '../src/raster/components.js';
import { minAreaGroups } from '../src/change/presets/common.js';
import { getPreset } from '../src/change/presets/index.js';

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

describe('removeSmallComponents on patch groups (the union of change classes)', () => {
  // A burn scar of severities 1-4 (15 pixels) with a 2-pixel high-severity (4) island and a 1-pixel 3; a separate
  // 3-pixel scar of 1 and 2; a 3-pixel regrowth patch (5, 5, 6) touching the scar (its own group); nodata x.
  const r = raster([
    '1122556.',
    '1443....',
    '1222....',
    '111..x..',
    '....12..',
    '.....1..',
  ]);
  const fire = patchGroupTable([[1, 2, 3, 4], [5, 6]]);

  it('keeps a small class inside a large patch of its group and removes small patches whole (by hand)', () => {
    const res = removeSmallComponents(r.classes, r.width, r.height, { minPixels: 4, groups: fire });
    // Scar 15 px: kept with its 4s and 3; small scar 3 px: removed; regrowth 5+5+6 = 3 px: removed.
    expect([...res.classes]).toEqual([...raster([
      '1122....',
      '1443....',
      '1222....',
      '111..x..',
      '........',
      '........',
    ]).classes]);
    expect(res.removedPixels).toBe(6);
    expect(res.removedComponents).toBe(2);
    expect(res.keptComponents).toBe(1);
    // Per class (no groups) the island of 4s (2 px) and the lone 3 went too: the bug of issue 14.
    const perClass = removeSmallComponents(r.classes, r.width, r.height, { minPixels: 4 });
    expect(perClass.classes[9]).toBe(0);
    expect(perClass.classes[11]).toBe(0);
  });

  it('patches of exactly minPixels are kept, and groups never join across groups', () => {
    const res = removeSmallComponents(r.classes, r.width, r.height, { minPixels: 3, groups: fire });
    expect([res.classes[4], res.classes[5], res.classes[6]]).toEqual([5, 5, 6]);
    expect(res.classes[36]).toBe(1); // the small scar, 3 px, is kept too
    const four = removeSmallComponents(r.classes, r.width, r.height, { minPixels: 4, groups: patchGroupTable([[1, 2, 3, 4, 5, 6]]) });
    expect([four.classes[4], four.classes[6]]).toEqual([5, 6]); // regrowth joined to the scar when the groups say so
  });

  it('patch groups of the presets: wildfire severities together, regrowth apart; others their change classes', () => {
    expect(minAreaGroups(getPreset('wildfire'))).toEqual([[1, 2, 3, 4], [5, 6]]);
    expect(minAreaGroups(getPreset('flood'))).toEqual([[1]]);
    const t = patchGroupTable(minAreaGroups(getPreset('wildfire')));
    expect([...t.subarray(0, 8)]).toEqual([0, 1, 1, 1, 1, 5, 5, 7]);
    expect(t[255]).toBe(255);
  });

  it('rejects groups that overlap, contain background or are not class values', () => {
    expect(() => patchGroupTable([[1, 2], [2, 3]])).toThrow(/two patch groups/);
    expect(() => patchGroupTable([[0, 1]])).toThrow(/background/);
    expect(() => patchGroupTable([[1, 256]])).toThrow(/uint8/);
  });

  it('matches a naive flood fill over the groups (property)', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 14 }), fc.integer({ min: 1, max: 14 }), fc.integer({ min: 1, max: 8 }),
      fc.constantFrom<4 | 8>(4, 8), fc.integer(), (w, h, minPixels, conn, seed) => {
        let s = seed >>> 0;
        const next = () => { s = (s * 1664525 + 1013904223) >>> 0; return s >>> 24; };
        const classes = Uint8Array.from({ length: w * h }, () => [0, 0, 1, 2, 3, 4, 5, 6, 255][next() % 9]!);
        // Oracle: the naive flood fill labels the group keys; small key components are zeroed in the classes.
        const key = Uint8Array.from(classes, (v) => (v >= 1 && v <= 4 ? 1 : v === 6 ? 5 : v));
        const expected = classes.slice();
        const seen = new Uint8Array(w * h);
        const nb = conn === 4 ? [[1, 0], [-1, 0], [0, 1], [0, -1]] : [[1, 0], [-1, 0], [0, 1], [0, -1], [1, 1], [1, -1], [-1, 1], [-1, -1]];
        for (let i = 0; i < w * h; i++) {
          if (seen[i] || key[i] === 0 || key[i] === 255) continue;
          const members = [i];
          seen[i] = 1;
          for (let q = 0; q < members.length; q++) {
            const p = members[q]!;
            for (const [dx, dy] of nb) {
              const x = (p % w) + dx!, y = Math.floor(p / w) + dy!;
              const j = y * w + x;
              if (x >= 0 && y >= 0 && x < w && y < h && !seen[j] && key[j] === key[i]) { seen[j] = 1; members.push(j); }
            }
          }
          if (members.length < minPixels) for (const p of members) expected[p] = 0;
        }
        const res = removeSmallComponents(classes, w, h, { minPixels, connectivity: conn, groups: fire });
        expect([...res.classes]).toEqual([...expected]);
      }), { numRuns: 300, seed: 1414 });
  });
});
