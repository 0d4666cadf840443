/**
 * True-colour quicklooks read from the inputs' COG overviews (src/engine/quicklook-rgb.ts), on the real 29RKH L2A
 * tile (100 m pixels, internal overviews 549² and 275²): the overview chosen, and its pixels read by GDAL and picked
 * by numpy under the cell centres, must equal what the engine put in the picture; and the picture must stay close
 * to the full-resolution f x f means the blocks compute for inputs without overviews.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { detectBlocks } from '../src/engine/detect-blocks.js';
import { openScene } from '../src/io/scene.js';
import { overviewBand } from '../src/io/overviews.js';
import type { BandRef } from '../src/io/scene.js';
import { quicklookGrid, readQuicklookLayer } from '../src/engine/quicklook-rgb.js';
import { readOnGrid } from '../src/pipeline/align.js';
import type { Grid, Window } from '../src/raster/grid.js';
import { dataDir, GDAL_SKIP_REASON, hasGdal, pythonJson } from './helpers/gdal.js';

const R29 = path.join(dataDir(), 's2-l2a-cog-29RKH/tests/fixtures/sentinel-cogs/sentinel-s2-l2a-cogs/29/R/KH/2020/2/S2A_29RKH_20200219_0_L2A');
const dir = mkdtempSync(path.join(tmpdir(), 's2change-qlov-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * numpy oracle: band `sys.argv[1]`'s overview `argv[2]` (GDAL's index) as reflectance (DN × 1e-4 in float32, DN 0
 * nodata), taken at the overview pixel under the centre of each f x f cell of the full-resolution grid; prints the
 * values (null for NaN) and the overview's size.
 */
const ORACLE = `
import sys, json, numpy as np
from osgeo import gdal
ds = gdal.Open(sys.argv[1]); k = int(sys.argv[2]); f = int(sys.argv[3])
ov = ds.GetRasterBand(1).GetOverview(k)
W, H = ds.RasterXSize, ds.RasterYSize; w, h = ov.XSize, ov.YSize
a = ov.ReadAsArray()
refl = np.where(a == 0, np.nan, (a * 1e-4).astype(np.float32).astype(np.float64))
qw, qh = -(-W // f), -(-H // f)
# cell centres in full-resolution pixels, then in overview pixels (GDAL: the overview spans the same extent)
xs = np.minimum(w - 1, np.floor((np.arange(qw) + 0.5) * f * w / W).astype(int))
ys = np.minimum(h - 1, np.floor((np.arange(qh) + 0.5) * f * h / H).astype(int))
out = refl[np.ix_(ys, xs)]
print(json.dumps({"size": [w, h], "values": [None if np.isnan(x) else float(x) for x in out.ravel()]}))
`;

describe.skipIf(!existsSync(R29) || !hasGdal())(`quicklook RGB from overviews (29RKH)${hasGdal() ? '' : ` — ${GDAL_SKIP_REASON}`}`, () => {
  it('picks the coarsest overview no coarser than a quicklook cell', async () => {
    const scene = await openScene(R29, { offset: 0 });
    try {
      const b02 = scene.bands.get('B02')!;
      expect(b02.overviews!.map((o) => [o.grid.width, o.grid.height])).toEqual([[549, 549], [275, 275]]);
      expect(overviewBand(b02, 150)).toBeNull(); // finer than every overview
      expect(overviewBand(b02, 250)!.grid.width).toBe(549); // 200 m fits, 399 m does not
      expect(overviewBand(b02, 500)!.grid.width).toBe(275);
      expect(overviewBand(b02, 500)!.radiometry).toEqual(b02.radiometry);
    } finally {
      await scene.close();
    }
  });

  it('the engine\'s before/after RGB equal GDAL\'s overview pixels under the cell centres (numpy), and stay close to the full-resolution means', async () => {
    const run = (name: string, maxSize: number, overviews: boolean) => detectBlocks({
      before: R29, after: R29, preset: 'vegetation', scene: { offset: 0 }, classesPath: path.join(dir, `${name}.tif`), productPath: null,
      threads: 0, progress: false, quicklook: { maxSize, overviews },
    });
    // 1098 px on 256: factor 5, cells of 500 m; the 275² overview has 399 m pixels.
    const r = await run('ov', 256, true);
    const q = r.quicklook!;
    expect([q.factor, q.width, q.height]).toEqual([5, 220, 220]);
    expect(q.after!.source).toBe('overviews');
    expect(q.before!.source).toBe('overviews');
    for (const [c, band] of ['B04', 'B03', 'B02'].entries()) {
      const want = pythonJson(ORACLE, [path.join(R29, `${band}.tif`), '1', '5']) as { size: number[]; values: (number | null)[] };
      expect(want.size).toEqual([275, 275]);
      for (const d of [q.after!, q.before!]) {
        const got = d.rgb[c]!;
        let worst = 0;
        want.values.forEach((w, i) => {
          if (w === null) expect(got[i]).toBeNaN();
          else worst = Math.max(worst, Math.abs(got[i]! - w));
        });
        expect(worst, band).toBeLessThan(1e-6);
      }
    }
    // The same run with the blocks' 5 x 5 means of the full-resolution bands: the same picture to within a few %
    // (this fixture's overviews are NEAREST, OVR_RESAMPLING_ALG in its metadata: point samples, not means).
    const full = (await run('full', 256, false)).quicklook!;
    expect(full.after!.source).toBeUndefined();
    for (let c = 0; c < 3; c++) {
      const a = q.after!.rgb[c]!;
      const b = full.after!.rgb[c]!;
      let diff = 0;
      let sum = 0;
      let n = 0;
      for (let i = 0; i < a.length; i++) if (a[i] === a[i] && b[i] === b[i]) { diff += Math.abs(a[i]! - b[i]!); sum += b[i]!; n++; }
      expect(n).toBeGreaterThan(0.99 * a.length);
      expect(diff / sum).toBeLessThan(0.05);
    }
  }, 60_000);

  it('whenRgbReady gets the overview RGB first, and whileFinishing no longer carries it', async () => {
    const events: string[] = [];
    let seen: Float32Array | null = null;
    const r = await detectBlocks({
      before: R29, after: R29, preset: 'vegetation', scene: { offset: 0 }, classesPath: path.join(dir, 'early.tif'), productPath: null,
      threads: 0, progress: false, quicklook: { maxSize: 256 },
      whenRgbReady: async (rgb, w, h) => {
        events.push(`rgb ${w}x${h} ${rgb.after?.source} ${rgb.before?.source}`);
        seen = rgb.after!.rgb[1].slice(); // freed after the callback
      },
      whileFinishing: async (q) => { events.push(`finishing ${q!.after === null} ${q!.before === null}`); },
    });
    expect(events).toEqual(['rgb 220x220 overviews overviews', 'finishing true true']);
    expect(r.quicklook!.after).toBeNull();
    // The same numbers as a run that keeps them (the test above checks those against GDAL + numpy).
    const kept = await detectBlocks({
      before: R29, after: R29, preset: 'vegetation', scene: { offset: 0 }, classesPath: path.join(dir, 'kept.tif'), productPath: null,
      threads: 0, progress: false, quicklook: { maxSize: 256 },
    });
    expect([...seen!]).toEqual([...kept.quicklook!.after!.rgb[1]]);
  }, 60_000);
});

describe('readQuicklookLayer (strips of stored values) against readOnGrid nearest (whole window)', () => {
  // An overview of 37 x 29 pixels of 40 m, tiled in rows of 5, whose extent the target overhangs on every side; DN 0
  // is nodata. Cells of 6 x 10 m = 60 m.
  const W = 37, H = 29;
  const dn = Uint16Array.from({ length: W * H }, (_, i) => (i % 11 === 0 ? 0 : 900 + ((i * 7919) % 5000)));
  const crs = { epsg: 32633, wkt: null, proj4: '+proj=utm +zone=33 +datum=WGS84 +units=m +no_defs' } as unknown as Grid['crs'];
  const windows: Window[] = [];
  const ref: BandRef = {
    name: 'B04', href: 'memory', sample: 0, kind: 'reflectance', tile: { width: 16, height: 5 },
    grid: { crs, transform: [500_000, 40, 0, 4_000_000, 0, -40], width: W, height: H },
    radiometry: { scale: 1e-4, offset: -1000, nodata: 0, source: 'test' },
    async readStored(w) {
      windows.push(w);
      const out = new Uint16Array(w.width * w.height);
      for (let r = 0; r < w.height; r++) out.set(dn.subarray((w.y + r) * W + w.x, (w.y + r) * W + w.x + w.width), r * w.width);
      return out;
    },
  };

  it('gives the same values, NaN outside and for nodata, reading one strip of tile rows at a time', async () => {
    const target: Grid = { crs, transform: [499_930, 10, 0, 4_000_070, 0, -10], width: 163, height: 131 };
    const f = 6;
    windows.length = 0;
    const got = await readQuicklookLayer(ref, target, f);
    for (const w of windows) expect(Math.floor(w.y / 5)).toBe(Math.floor((w.y + w.height - 1) / 5));
    expect(windows.length).toBe(Math.ceil(H / 5));
    const want = await readOnGrid(ref, quicklookGrid(target, f), 'nearest');
    expect(got.length).toBe(want.length);
    expect([...got]).toEqual([...want]);
    // By hand: cell (2, 3) has its centre at x = 499930 + 2.5 × 60 = 500080, y = 4000070 − 3.5 × 60 = 3999860, in
    // overview pixel (2, 3); cell (0, 0) at 499960, 4000040 lies outside.
    const qw = Math.ceil(163 / f);
    expect(got[3 * qw + 2]).toBeCloseTo((dn[3 * W + 2]! - 1000) * 1e-4, 7);
    expect(got[0]).toBeNaN();
    expect(got.some((v) => Number.isNaN(v))).toBe(true);
    let nodataCells = 0;
    got.forEach((v, i) => { if (Number.isNaN(v) && !Number.isNaN(want[i]!)) nodataCells++; });
    expect(nodataCells).toBe(0);
  });
});
