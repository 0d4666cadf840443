/**
 * The hand-written histogram GBDT against scikit-learn's HistGradientBoostingClassifier (/usr/bin/python3) with
 * the same hyper-parameters on the same seeded synthetic data: held-out AUC within 0.01 of scikit-learn's, and
 * probabilities that agree closely. Plus the JSON round trip and the NaN rule.
 */
import { describe, expect, it } from 'vitest';
import { binEdges, binMatrix, predictMatrix, predictPlanes, trainGbdt, type GbdtModel } from '../src/change/gbdt.js';
import { PYTHON, run } from './helpers/gdal.js';

const SCRIPT = String.raw`
import json, numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score
rng = np.random.default_rng(3)
def make(n):
    X = rng.normal(size=(n, 8))
    z = 1.5 * X[:, 0] - X[:, 1] ** 2 + np.sin(2 * X[:, 2]) + 0.8 * (X[:, 3] > 0.5) * X[:, 4] + 0.5 * rng.normal(size=n)
    y = (z > 0).astype(np.uint8)
    X[rng.random(n) < 0.03, 5] = np.nan   # a feature with missing values (no signal)
    return X.astype(np.float32), y
Xtr, ytr = make(4000); Xte, yte = make(2000)
m = HistGradientBoostingClassifier(max_iter=80, learning_rate=0.1, max_depth=4, max_leaf_nodes=None, min_samples_leaf=20,
    l2_regularization=1.0, max_bins=64, early_stopping=False, random_state=0).fit(Xtr, ytr)
p = m.predict_proba(Xte)[:, 1]
nan = lambda a: [None if np.isnan(v) else float(v) for v in a.ravel()]
print(json.dumps({'xtr': nan(Xtr), 'ytr': ytr.tolist(), 'xte': nan(Xte), 'yte': yte.tolist(), 'p': p.tolist(), 'auc': roc_auc_score(yte, p)}))
`;

/** AUC by the rank-sum (Mann-Whitney) formula, ties averaged. */
function auc(p: ArrayLike<number>, y: ArrayLike<number>): number {
  const idx = Array.from({ length: p.length }, (_, i) => i).sort((a, b) => p[a]! - p[b]!);
  const rank = new Float64Array(p.length);
  for (let i = 0; i < idx.length;) {
    let j = i;
    while (j + 1 < idx.length && p[idx[j + 1]!] === p[idx[i]!]) j++;
    for (let k = i; k <= j; k++) rank[idx[k]!] = (i + j) / 2 + 1;
    i = j + 1;
  }
  let pos = 0, sum = 0;
  for (let i = 0; i < p.length; i++) if (y[i]) { pos++; sum += rank[i]!; }
  const neg = p.length - pos;
  return (sum - (pos * (pos + 1)) / 2) / (pos * neg);
}

const f32 = (a: (number | null)[]) => Float32Array.from(a, (v) => (v === null ? NaN : v));

describe('histogram GBDT', () => {
  const ref = JSON.parse(run(PYTHON, ['-c', SCRIPT])) as { xtr: (number | null)[]; ytr: number[]; xte: (number | null)[]; yte: number[]; p: number[]; auc: number };
  const F = 8;
  const xtr = { data: f32(ref.xtr), rows: ref.ytr.length, nFeatures: F };
  const xte = { data: f32(ref.xte), rows: ref.yte.length, nFeatures: F };
  const model = trainGbdt(xtr, Uint8Array.from(ref.ytr), { trees: 80, learningRate: 0.1, maxDepth: 4, minSamplesLeaf: 20, l2: 1, bins: 64, subsample: 1 });

  it('scores like scikit-learn HistGradientBoostingClassifier with the same settings', () => {
    const p = predictMatrix(model, xte);
    const mine = auc(p, ref.yte);
    if (process.env.GBDT_VERBOSE) console.log({ sklearnAuc: ref.auc, mine });
    expect(ref.auc).toBeGreaterThan(0.85); // the data is learnable: the comparison means something
    expect(Math.abs(mine - ref.auc)).toBeLessThan(0.01);
    let d = 0, same = 0;
    for (let i = 0; i < p.length; i++) { d += Math.abs(p[i]! - ref.p[i]!); if ((p[i]! >= 0.5) === (ref.p[i]! >= 0.5)) same++; }
    if (process.env.GBDT_VERBOSE) console.log({ meanAbsDiff: d / p.length, sameClass: same / p.length });
    expect(d / p.length).toBeLessThan(0.03);
    expect(same / p.length).toBeGreaterThan(0.97);
  });

  it('predicts the same from feature planes as from rows, and after a JSON round trip', () => {
    const planes = Array.from({ length: F }, (_, f) => Float32Array.from({ length: xte.rows }, (_, r) => xte.data[r * F + f]!));
    const a = predictMatrix(model, xte);
    const b = predictPlanes(model, planes);
    const c = predictPlanes(JSON.parse(JSON.stringify(model)) as GbdtModel, planes);
    expect(Array.from(b)).toEqual(Array.from(a));
    expect(Array.from(c)).toEqual(Array.from(a));
  });

  it('bins NaN to bin 0, which every split sends left, as prediction does', () => {
    const x = { data: Float32Array.from([NaN, 1, 2, 3, 4, 5]), rows: 6, nFeatures: 1 };
    const e = binEdges(x, 4);
    const b = binMatrix(x, e);
    expect(b[0]).toBe(0);
    for (let i = 2; i < 6; i++) expect(b[i]!).toBeGreaterThanOrEqual(b[i - 1]!);
    // a one-split stump: x ≤ t or NaN → left
    const stump: GbdtModel = { kind: 'gbdt-binary-logistic', nFeatures: 1, baseScore: 0, params: model.params,
      trees: [{ feature: [0, -1, -1], threshold: [2.5, 0, 0], left: [1, -1, -1], right: [2, -1, -1], value: [0, -5, 5] }] };
    const p = predictPlanes(stump, [Float32Array.from([NaN, 2, 3])]);
    expect(p[0]!).toBeLessThan(0.01);
    expect(p[1]!).toBeLessThan(0.01);
    expect(p[2]!).toBeGreaterThan(0.99);
  });

  it('refuses a label array of the wrong length and bins out of range', () => {
    expect(() => trainGbdt(xtr, new Uint8Array(3))).toThrow(/3 labels/);
    expect(() => trainGbdt(xtr, Uint8Array.from(ref.ytr), { bins: 300 })).toThrow(/bins/);
  });
});
