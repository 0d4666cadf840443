/**
 * Class areas: `accumulateClassAreas` against the definition — the sum over a class's pixels of each pixel's
 * ground area (`pixelAreaM2` of its row) — on projected and geographic grids, whole maps and windows.
 */
import { describe, expect, it } from 'vitest';
import { accumulateClassAreas } from '../src/raster/class-areas.js';
import { pixelAreaM2, type Grid } from '../src/raster/grid.js';

function randomClasses(n: number, seed: number): Uint8Array {
  let s = seed;
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245 + 12345) & 0x7fffffff;
    out[i] = [0, 0, 0, 1, 2, 255, 7][s % 7]!;
  }
  return out;
}

const grids: Record<string, Grid> = {
  'UTM 10 m': { crs: { epsg: 32633 }, transform: [500000, 10, 0, 5000000, 0, -10], width: 37, height: 23 },
  'EPSG:4326 near 60° N': { crs: { epsg: 4326 }, transform: [10, 0.001, 0, 60.5, 0, -0.001], width: 37, height: 23 },
};

describe('accumulateClassAreas', () => {
  for (const [name, grid] of Object.entries(grids)) {
    it(`${name}: pixels and m² per class equal the per-pixel sum of pixelAreaM2, for a window starting at row 5`, () => {
      const classes = randomClasses(grid.width * 11, 3);
      const pixels = new Float64Array(256);
      const m2 = new Float64Array(256);
      accumulateClassAreas(classes, grid.width, 11, grid, 5, pixels, m2);
      const wantPixels = new Float64Array(256);
      const wantM2 = new Float64Array(256);
      for (let i = 0; i < classes.length; i++) {
        wantPixels[classes[i]!]!++;
        wantM2[classes[i]!]! += pixelAreaM2(grid, 5 + Math.floor(i / grid.width));
      }
      expect([...pixels]).toEqual([...wantPixels]);
      for (let v = 0; v < 256; v++) expect(m2[v]).toBeCloseTo(wantM2[v]!, 6);
      expect(pixels[1]).toBeGreaterThan(0);
    });
  }

  it('adds into existing totals (blocks of one map sum to the whole map)', () => {
    const grid = grids['EPSG:4326 near 60° N']!;
    const classes = randomClasses(grid.width * grid.height, 9);
    const whole = [new Float64Array(256), new Float64Array(256)] as const;
    accumulateClassAreas(classes, grid.width, grid.height, grid, 0, ...whole);
    const parts = [new Float64Array(256), new Float64Array(256)] as const;
    accumulateClassAreas(classes.subarray(0, 10 * grid.width), grid.width, 10, grid, 0, ...parts);
    accumulateClassAreas(classes.subarray(10 * grid.width), grid.width, grid.height - 10, grid, 10, ...parts);
    expect([...parts[0]]).toEqual([...whole[0]]);
    for (let v = 0; v < 256; v++) expect(parts[1][v]).toBeCloseTo(whole[1][v]!, 6);
  });
});
