/**
 * summary.json's `indexHistogram`: counts by hand, the merge of blocks equal to the whole, numpy's histogram of the
 * written index COG as the oracle on real runs (both engines), and the area beyond a threshold read from the
 * histogram against what `detect --threshold X` maps.
 */
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  addAreasToIndexHistogram, addToIndexHistogram, emptyIndexHistogram, hectaresBeyond, INDEX_HISTOGRAM_BINS, mergeIndexHistograms, pixelsBeyond,
  summarizeIndexHistogram, type IndexHistogram,
} from '../src/change/index-histogram.js';
import { runDetect, type RunDetectOptions } from '../src/pipeline/run-detect.js';
import { dataDir, GDAL_SKIP_REASON, hasGdal, pythonJson } from './helpers/gdal.js';

const facts = { product: 'd', description: 'd', pixelAreaM2: 100, pixelAreaVaries: false, thresholds: [], classRules: null };

describe('index histogram (pure)', () => {
  it('counts valid finite values in lattice bins, with values off the lattice apart', () => {
    const c = addToIndexHistogram(new Float32Array([0.2505, 0.2509, NaN, -3, 2, 5, -2, 0.3]), [1, 1, 1, 1, 1, 1, 1, 0]);
    // bin of 0.2505 and 0.2509: floor((0.25 + 2) / 0.001) = 2250
    expect(c[2250]).toBe(2);
    expect(c[0]).toBe(1); // −2 is the first edge
    expect(c[INDEX_HISTOGRAM_BINS]).toBe(1); // −3 below
    expect(c[INDEX_HISTOGRAM_BINS + 1]).toBe(2); // 2 and 5 at/above the end
    const h = summarizeIndexHistogram(c, facts);
    expect(h.min).toBe(-2);
    expect(h.max).toBe(0.251);
    expect(h.counts.length).toBe(2251);
    expect(h.pixels).toBe(6);
  });

  it('area beyond a threshold: whole bins by hand, and a share of the bin holding it', () => {
    const h: IndexHistogram = { ...facts, binWidth: 0.1, min: 0, max: 0.4, counts: [10, 20, 30, 40], below: 1, above: 2, pixels: 103, thresholds: [] };
    expect(pixelsBeyond(h, 0.2, 'above')).toBeCloseTo(30 + 40 + 2, 9);
    expect(pixelsBeyond(h, 0.25, 'above')).toBeCloseTo(15 + 40 + 2, 9);
    expect(pixelsBeyond(h, 0.2, 'below')).toBeCloseTo(1 + 10 + 20, 9);
    expect(pixelsBeyond(h, -1, 'above')).toBe(102);
    expect(pixelsBeyond(h, 9, 'below')).toBe(101);
    expect(hectaresBeyond(h, 0.3, 'above')).toBeCloseTo((42 * 100) / 10_000, 9);
  });

  it('per-bin ground areas: each row\'s pixel area into its values\' bins', () => {
    const a = addAreasToIndexHistogram(new Float32Array([0.25, NaN, 0.25, -3]), 2, (row) => (row === 0 ? 10 : 30));
    expect(a[2250]).toBe(10 + 30);
    expect(a[INDEX_HISTOGRAM_BINS]).toBe(30);
    const h = summarizeIndexHistogram(addToIndexHistogram(new Float32Array([0.25, NaN, 0.25, -3])), { ...facts, areasM2: a });
    expect(h.areasM2).toEqual([40]);
    expect(h.belowM2).toBe(30);
    expect(hectaresBeyond(h, 0.2, 'above')).toBeCloseTo(40 / 1e4, 12); // the areas, not 2 pixels x 100 m²
    expect(hectaresBeyond(h, 0.2, 'below')).toBeCloseTo(30 / 1e4, 12);
  });

  it('the histograms of two parts merged equal the histogram of the whole', () => {
    fc.assert(fc.property(fc.array(fc.float({ min: -3, max: 3, noNaN: false }), { maxLength: 200 }), fc.nat(200), (vals, cut) => {
      const a = Float32Array.from(vals);
      const k = Math.min(cut, a.length);
      const merged = mergeIndexHistograms(addToIndexHistogram(a.subarray(0, k)), addToIndexHistogram(a.subarray(k)));
      expect(Array.from(merged)).toEqual(Array.from(addToIndexHistogram(a, null, emptyIndexHistogram())));
    }));
  });
});

const DATA = dataDir();
const FIRE = path.join(DATA, 'wildfire-calfire-s2', 'data');
const BARB = path.join(DATA, 'sen2r-barbellino', 'inst', 'extdata', 'out');
const tmp = mkdtempSync(path.join(os.tmpdir(), 's2change-hist-'));
const ready = existsSync(FIRE) && existsSync(BARB) && hasGdal();

/** numpy's histogram of an index COG's finite pixels on the same bin edges as `h`. */
function numpyHistogram(file: string, h: IndexHistogram): { counts: number[]; below: number; above: number } {
  return pythonJson(`
import sys, json, numpy as np
from osgeo import gdal
v = gdal.Open(sys.argv[1]).ReadAsArray().astype(np.float32).ravel()
v = v[np.isfinite(v)]
lo, w, n = float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
# bins on the lattice edges -2 + k*w, as float64 like the code's floor((v + 2) / w)
k = np.floor((v.astype(np.float64) + 2) / w).astype(np.int64)
first = int(round((lo + 2) / w))
counts = np.bincount(k[(k >= first) & (k < first + n)] - first, minlength=n)
print(json.dumps({"counts": counts.tolist(), "below": int((k < 0).sum()), "above": int((k >= 4000).sum()),
  "np": np.histogram(v, bins=np.linspace(lo, lo + n * w, n + 1))[0].sum().item()}))
`, [file, String(h.min), String(h.binWidth), String(h.counts.length)]);
}

function summaryOf(dir: string): any {
  return JSON.parse(readFileSync(path.join(dir, 'summary.json'), 'utf8'));
}

const fire = { before: `${FIRE}/pre_fire/5_INCIDENT_20240715.tif`, after: `${FIRE}/post_fire/5_INCIDENT_20240715.tif`, preset: 'wildfire' };
const barbellino = {
  before: `${BARB}/S2A2A_20170703_022_Barbellino_BOA_10.tif`, after: `${BARB}/S2A2A_20190723_022_Barbellino_BOA_10.tif`,
  beforeScl: `${BARB}/S2A2A_20170703_022_Barbellino_SCL_10.tif`, afterScl: `${BARB}/S2A2A_20190723_022_Barbellino_SCL_10.tif`,
  bands: 'B1,B2,B3,B4,B5,B6,B7,B8,B9,B11,B12'.split(','), preset: 'vegetation',
};

async function run(name: string, opts: Omit<RunDetectOptions, 'out' | 'overwrite'> & { blockSize?: number }): Promise<string> {
  const out = path.join(tmp, name);
  await runDetect({ ...opts, out, overwrite: true, threads: 0, progress: false, decodeBudget: null } as RunDetectOptions);
  return out;
}

describe.skipIf(!ready)(`indexHistogram on real runs — ${GDAL_SKIP_REASON}`, () => {
  const outs: Record<string, string> = {};
  beforeAll(async () => {
    outs.fireWhole = await run('fire-whole', { ...fire, engine: 'whole' });
    outs.fireBlocks = await run('fire-blocks', { ...fire, engine: 'blocks', blockSize: 64 }); // 2 x 4 blocks, merged
    outs.barbWhole = await run('barb-whole', { ...barbellino, engine: 'whole' });
  }, 120_000);

  for (const name of ['fireWhole', 'fireBlocks', 'barbWhole']) {
    it(`${name}: equals numpy's histogram of the written index COG, and counts every valid pixel`, () => {
      const s = summaryOf(outs[name]!);
      const h = s.indexHistogram as IndexHistogram;
      const file = path.join(outs[name]!, `${h.product}.tif`);
      const np = numpyHistogram(file, h);
      expect(h.counts).toEqual(np.counts);
      expect([h.below, h.above]).toEqual([np.below, np.above]);
      expect(h.pixels).toBe(s.pixels.valid);
      expect(h.thresholds[0]).toMatchObject({ value: s.thresholds[0].value, kind: 'fixed' });
    });
  }

  it('the block engine (8 blocks) gives the whole-array histogram', () => {
    const [b, w] = [summaryOf(outs.fireBlocks!).indexHistogram, summaryOf(outs.fireWhole!).indexHistogram];
    expect({ ...b, areasM2: undefined }).toEqual({ ...w, areasM2: undefined });
    b.areasM2.forEach((a: number, k: number) => expect(a).toBeCloseTo(w.areasM2[k], 1)); // summed in another order
  });

  it('EPSG:4326: the per-bin ground areas add up to the valid area the class table measures', () => {
    const s = summaryOf(outs.fireWhole!);
    const h = s.indexHistogram as IndexHistogram;
    expect(h.pixelAreaVaries).toBe(true);
    const validHa = s.areas.reduce((t: number, a: any) => t + a.hectares, 0);
    const histHa = (h.areasM2!.reduce((t, a) => t + a, 0) + h.belowM2! + h.aboveM2!) / 1e4;
    expect(Math.abs(histHa - validHa) / validHa).toBeLessThan(1e-6);
    expect(summaryOf(outs.barbWhole!).indexHistogram.areasM2).toBeUndefined(); // UTM: counts x pixel area
  });

  it('hectares beyond X from the histogram agree with detect --threshold X within 1 %', async () => {
    const fireHist = summaryOf(outs.fireWhole!).indexHistogram as IndexHistogram;
    for (const x of [0.05, 0.1234, 0.3]) {
      const s = summaryOf(await run(`fire-${x}`, { ...fire, engine: 'whole', threshold: x }));
      const burned = s.areas.filter((a: any) => [1, 2, 3, 4].includes(a.value)).reduce((t: number, a: any) => t + a.hectares, 0);
      expect(burned).toBeGreaterThan(10);
      expect(Math.abs(hectaresBeyond(fireHist, x, 'above') - burned) / burned).toBeLessThan(0.01);
    }
    const veg = summaryOf(outs.barbWhole!).indexHistogram as IndexHistogram;
    for (const x of [0.1, 0.2]) {
      const s = summaryOf(await run(`barb-${x}`, { ...barbellino, engine: 'whole', threshold: x }));
      const loss = s.areas.find((a: any) => a.value === 1).hectares;
      const gain = s.areas.find((a: any) => a.value === 2).hectares;
      expect(hectaresBeyond(veg, -x, 'below')).toBeCloseTo(loss, 2);
      expect(hectaresBeyond(veg, x, 'above')).toBeCloseTo(gain, 2);
    }
  }, 60_000);

  it('records the acquisition dates the sen2r file names carry', () => {
    expect(summaryOf(outs.barbWhole!).provenance.acquired).toMatchObject({
      before: { date: '2017-07-03', source: expect.stringMatching(/sen2r file name/) }, after: { date: '2019-07-23' },
    });
    expect(summaryOf(outs.fireWhole!).provenance.acquired).toEqual({ before: null, after: null }); // composites: no date
  });
});
