/**
 * Accuracy metrics and label resampling, checked against a confusion matrix worked on paper, against scikit-learn
 * (tests/oracles/sklearn_metrics.py) on seeded random vectors, and against GDAL's nearest resampling.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { isS2ChangeError } from '../src/errors.js';
import { LABEL_CODINGS, aggregate, confusionMatrix, meanScores, scores } from '../src/eval/metrics.js';
import { resampleLabelsNearest } from '../src/eval/resample-labels.js';
import { seededRandom } from '../src/change/sampling.js';

const ORACLES = path.join(path.dirname(fileURLToPath(import.meta.url)), 'oracles');
const tmp = mkdtempSync(path.join(tmpdir(), 's2change-metrics-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function oracle(script: string, args: string[]): unknown {
  return JSON.parse(execFileSync('/usr/bin/python3', [path.join(ORACLES, script), ...args], { encoding: 'utf8', maxBuffer: 64 << 20 }));
}

describe('confusion matrix and scores: 4×4 example worked by hand', () => {
  // OSCD coding: 1 = no change, 2 = change. Truth change = 2×2 top-left block + bottom-right pixel.
  const truth = Uint8Array.from([2, 2, 1, 1, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2]);
  const pred = Uint8Array.from([1, 1, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);

  it('counts tp=3 fp=1 fn=2 tn=10', () => {
    const cm = confusionMatrix(pred, truth, LABEL_CODINGS.oscdTif);
    expect(cm).toMatchObject({ tp: 3, fp: 1, fn: 2, tn: 10, predInvalid: 0, ignored: 0 });
  });

  it('scores: precision 3/4, recall 3/5, F1 2/3, IoU 1/2, OA 13/16, kappa 7/13', () => {
    const s = scores({ tp: 3, fp: 1, fn: 2, tn: 10 });
    expect(s.precision).toBeCloseTo(0.75, 12);
    expect(s.recall).toBeCloseTo(0.6, 12);
    expect(s.f1).toBeCloseTo(2 / 3, 12);
    expect(s.iou).toBeCloseTo(0.5, 12);
    expect(s.overallAccuracy).toBeCloseTo(13 / 16, 12);
    // p_o = 13/16, p_e = (4·5 + 12·11)/256 = 152/256 → κ = (7/32)/(13/32)
    expect(s.kappa).toBeCloseTo(7 / 13, 12);
  });

  it('ignores listed truth values and counts invalid predictions as no change by default', () => {
    const t = truth.slice();
    t[15] = 0; // unlabelled
    const p = pred.slice();
    p[0] = 255; // invalid prediction on a change pixel
    const cm = confusionMatrix(p, t, { ...LABEL_CODINGS.oscdTif, ignore: [0] });
    expect(cm).toMatchObject({ tp: 2, fp: 1, fn: 2, tn: 10, predInvalid: 1, ignored: 1 });
    const dropped = confusionMatrix(p, t, { ...LABEL_CODINGS.oscdTif, ignore: [0], predInvalidAs: 'ignore' });
    expect(dropped).toMatchObject({ tp: 2, fp: 1, fn: 1, tn: 10, predInvalid: 1 });
  });

  it('refuses label values outside the coding, and size mismatches, with LABEL_MISMATCH', () => {
    expect(() => confusionMatrix(pred, truth, LABEL_CODINGS.mask0255)).toThrow(/neither change nor no change.*1 \(11 px\), 2 \(5 px\)/);
    try {
      confusionMatrix(pred, truth.subarray(1), LABEL_CODINGS.oscdTif);
      expect.unreachable();
    } catch (e) {
      expect(isS2ChangeError(e, 'LABEL_MISMATCH')).toBe(true);
    }
  });

  it('accepts predicates and Sets as value tests', () => {
    const cm = confusionMatrix(pred, truth, { truthChange: new Set([2]), truthNoChange: (v) => v === 1, predChange: (v) => v === 1 });
    expect(cm).toMatchObject({ tp: 3, fp: 1, fn: 2, tn: 10 });
  });
});

describe('zero denominators give NaN', () => {
  it('no predicted and no true change', () => {
    const s = scores({ tp: 0, fp: 0, fn: 0, tn: 10 });
    expect(s.precision).toBeNaN();
    expect(s.recall).toBeNaN();
    expect(s.f1).toBeNaN();
    expect(s.iou).toBeNaN();
    expect(s.kappa).toBeNaN(); // p_e = 1
    expect(s.overallAccuracy).toBe(1);
  });
  it('empty matrix', () => {
    expect(Object.values(scores({ tp: 0, fp: 0, fn: 0, tn: 0 })).every(Number.isNaN)).toBe(true);
  });
  it('missed all change: recall 0, F1 0, precision NaN', () => {
    const s = scores({ tp: 0, fp: 0, fn: 4, tn: 10 });
    expect(s.precision).toBeNaN();
    expect(s.recall).toBe(0);
    expect(s.f1).toBe(0);
    expect(s.kappa).toBe(0);
  });
});

describe('against scikit-learn on seeded random vectors', () => {
  const rand = seededRandom(20240611);
  const items = Array.from({ length: 12 }, (_, k) => {
    const n = 50 + Math.floor(rand() * 400);
    const pChange = 0.05 + 0.5 * rand();
    const agree = 0.5 + 0.5 * rand();
    const truth = Array.from({ length: n }, () => (rand() < pChange ? 1 : 0));
    truth[0] = 1;
    truth[1] = 0;
    const pred = truth.map((t) => (rand() < agree ? t : 1 - t));
    pred[k % 2] = 1; // make sure some change is predicted
    return { pred, truth };
  });
  const file = path.join(tmp, 'items.json');
  writeFileSync(file, JSON.stringify({ items }));
  const truthSk = oracle('sklearn_metrics.py', [file]) as Array<Record<string, number>>;

  it('confusion matrices and every score agree to 1e-12', () => {
    items.forEach((it, k) => {
      const cm = confusionMatrix(Uint8Array.from(it.pred), Uint8Array.from(it.truth), LABEL_CODINGS.binary01);
      const sk = truthSk[k]!;
      expect(cm).toMatchObject({ tp: sk.tp, fp: sk.fp, fn: sk.fn, tn: sk.tn });
      const s = scores(cm);
      for (const key of ['precision', 'recall', 'f1', 'iou', 'overallAccuracy', 'kappa'] as const) {
        expect(s[key], `item ${k} ${key}`).toBeCloseTo(sk[key]!, 12);
      }
    });
  });

  it('aggregate = scores of all items concatenated; meanScores = mean of per-item scores', () => {
    const cms = items.map((it) => confusionMatrix(Uint8Array.from(it.pred), Uint8Array.from(it.truth), LABEL_CODINGS.binary01));
    const pooled = confusionMatrix(
      Uint8Array.from(items.flatMap((i) => i.pred)),
      Uint8Array.from(items.flatMap((i) => i.truth)),
      LABEL_CODINGS.binary01,
    );
    expect(aggregate(cms)).toMatchObject({ tp: pooled.tp, fp: pooled.fp, fn: pooled.fn, tn: pooled.tn });
    const m = meanScores(cms);
    const skMeanF1 = truthSk.reduce((s, r) => s + r.f1!, 0) / truthSk.length;
    expect(m.f1).toBeCloseTo(skMeanF1, 12);
    expect(m.counts.f1).toBe(items.length);
  });

  it('meanScores leaves NaN items out of that score and counts them', () => {
    const m = meanScores([
      { tp: 3, fp: 1, fn: 2, tn: 10 },
      { tp: 0, fp: 0, fn: 0, tn: 5 },
    ]);
    expect(m.precision).toBeCloseTo(0.75, 12);
    expect(m.counts.precision).toBe(1);
    expect(m.overallAccuracy).toBeCloseTo((13 / 16 + 1) / 2, 12);
    expect(m.counts.overallAccuracy).toBe(2);
  });
});

describe('score properties', () => {
  const cmArb = fc.record({ tp: fc.nat(1000), fp: fc.nat(1000), fn: fc.nat(1000), tn: fc.nat(1000) });
  it('F1 = 2PR/(P+R), IoU = F1/(2−F1), all scores in [0,1] (kappa in [−1,1])', () => {
    fc.assert(
      fc.property(cmArb, (cm) => {
        const s = scores(cm);
        if (cm.tp > 0) {
          expect(s.f1).toBeCloseTo((2 * s.precision * s.recall) / (s.precision + s.recall), 10);
          expect(s.iou).toBeCloseTo(s.f1 / (2 - s.f1), 10);
        }
        for (const v of [s.precision, s.recall, s.f1, s.iou, s.overallAccuracy]) if (!Number.isNaN(v)) expect(v >= 0 && v <= 1).toBe(true);
        if (!Number.isNaN(s.kappa)) expect(s.kappa >= -1 - 1e-12 && s.kappa <= 1 + 1e-12).toBe(true);
      }),
    );
  });
});

describe('nearest-neighbour label resampling', () => {
  it('same size: input returned, no message', () => {
    const l = Uint8Array.from([1, 2, 3, 4]);
    const r = resampleLabelsNearest(l, { width: 2, height: 2 }, { width: 2, height: 2 });
    expect(r.data).toBe(l);
    expect(r.message).toBeUndefined();
  });

  it('2×2 → 4×4 replicates each label into a 2×2 block, with a message naming both sizes', () => {
    const r = resampleLabelsNearest(Uint8Array.from([1, 2, 3, 4]), { width: 2, height: 2 }, { width: 4, height: 4 }, 'cm.tif');
    expect([...r.data]).toEqual([1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4]);
    expect(r.message).toMatch(/cm\.tif: 2×2 labels resampled to the 4×4 prediction grid with nearest neighbour/);
  });

  it.each([
    [785, 799, 782, 795], // OSCD abudhabi img1 → img2 sizes
    [37, 23, 50, 11],
    [64, 64, 21, 97],
  ])('matches GDAL nearest %i×%i → %i×%i', (w, h, W, H) => {
    const rand = seededRandom(w * 1000 + h);
    const src = Uint8Array.from({ length: w * h }, () => Math.floor(rand() * 256));
    const file = path.join(tmp, `lab-${w}-${h}.u8`);
    writeFileSync(file, src);
    const gdal = oracle('gdal_nearest.py', [file, String(w), String(h), String(W), String(H)]) as number[];
    const ours = resampleLabelsNearest(src, { width: w, height: h }, { width: W, height: H });
    let diff = 0;
    for (let i = 0; i < gdal.length; i++) if (gdal[i] !== ours.data[i]) diff++;
    expect(diff).toBe(0);
  });

  it('refuses a raster whose length does not match its size', () => {
    expect(() => resampleLabelsNearest(new Uint8Array(5), { width: 2, height: 2 }, { width: 4, height: 4 })).toThrow(/LABEL|length/i);
  });
});
