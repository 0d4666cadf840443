/**
 * The urban model file and its use: a tiny end-to-end train + apply on synthetic cities with planted
 * "construction" (the truth is where we planted it), the model file's validation (malformed JSON, other format
 * or version, inconsistent spec, missing bands, DN instead of reflectance), and the OSCD loader with both label
 * folder names and repeated roots.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isS2ChangeError } from '../src/errors.js';
import type { BandArrays } from '../src/indices/registry.js';
import { seededRandom } from '../src/change/sampling.js';
import { defaultUrbanFeatureSpec, sceneStatistics, urbanFeatures } from '../src/change/urban-features.js';
import { applyUrbanModel, checkModelFitsInput, parseUrbanModel, type UrbanModel } from '../src/change/urban-model.js';
import { buildUrbanModel, chooseThreshold, sampleCity, trainUrbanLearner } from '../src/change/urban-training.js';
import { readDataset, readDatasets } from '../src/pipeline/datasets.js';

const tmp = mkdtempSync(path.join(tmpdir(), 's2change-urbanm-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const spec = { ...defaultUrbanFeatureSpec(), radii: [1, 3] };
const S = 48;

/**
 * A synthetic city: vegetated fields and old built-up blocks on both dates with noise and a global brightness
 * shift between the dates (a different sun/atmosphere), and 5 new 3×3 to 5×5 "buildings" in the after scene
 * (NIR down, SWIR and red up): the truth.
 */
function city(seed: number): { before: BandArrays; after: BandArrays; truth: Uint8Array } {
  const rnd = seededRandom(seed);
  const n = S * S;
  const veg = { B02: 0.04, B03: 0.07, B04: 0.05, B05: 0.1, B06: 0.25, B07: 0.3, B08: 0.35, B8A: 0.36, B11: 0.18, B12: 0.09 };
  const urb = { B02: 0.1, B03: 0.11, B04: 0.13, B05: 0.15, B06: 0.17, B07: 0.18, B08: 0.2, B8A: 0.21, B11: 0.27, B12: 0.24 };
  const old = new Uint8Array(n);
  for (let k = 0; k < 4; k++) {
    const x0 = Math.floor(rnd() * (S - 10)), y0 = Math.floor(rnd() * (S - 10));
    for (let y = y0; y < y0 + 8; y++) for (let x = x0; x < x0 + 8; x++) old[y * S + x] = 1;
  }
  const truth = new Uint8Array(n);
  for (let k = 0; k < 5; k++) {
    const w = 3 + Math.floor(rnd() * 3);
    const x0 = Math.floor(rnd() * (S - w)), y0 = Math.floor(rnd() * (S - w));
    for (let y = y0; y < y0 + w; y++) for (let x = x0; x < x0 + w; x++) if (!old[y * S + x]) truth[y * S + x] = 1;
  }
  const gain = 0.9 + 0.2 * rnd();
  const before: BandArrays = {}, after: BandArrays = {};
  for (const b of spec.bands) {
    const bb = new Float32Array(n), aa = new Float32Array(n);
    const v = veg[b as keyof typeof veg], u = urb[b as keyof typeof urb];
    for (let i = 0; i < n; i++) {
      const base = old[i] ? u : v * (0.8 + 0.4 * rnd());
      bb[i] = base + 0.01 * (rnd() - 0.5);
      aa[i] = (truth[i] ? u * (1.1 + 0.2 * rnd()) : base) * gain + 0.015 * (rnd() - 0.5);
    }
    before[b] = bb; after[b] = aa;
  }
  return { before, after, truth };
}

function f1(classes: Uint8Array, truth: Uint8Array): number {
  let tp = 0, fp = 0, fn = 0;
  for (let i = 0; i < truth.length; i++) {
    const p = classes[i] === 1;
    if (p && truth[i]) tp++; else if (p) fp++; else if (truth[i]) fn++;
  }
  return (2 * tp) / (2 * tp + fp + fn);
}

let model: UrbanModel;

describe('urban model, end to end on synthetic cities', () => {
  it('trained on three cities finds the planted buildings of a fourth', () => {
    const samples = [11, 12, 13].map((seed) => {
      const c = city(seed);
      const f = urbanFeatures(spec, c.before, c.after, S, S, undefined, sceneStatistics(spec, c.before, c.after, S, S));
      return sampleCity(`c${seed}`, f, c.truth, 300, seed);
    });
    const trained = trainUrbanLearner(samples, { gbdt: { trees: 30, minSamplesLeaf: 10 }, innerFolds: 3 });
    expect(trained.threshold).toBeGreaterThanOrEqual(0.05);
    expect(trained.threshold).toBeLessThanOrEqual(0.95);
    model = buildUrbanModel(spec, trained, { dataset: 'synthetic', cities: ['c11', 'c12', 'c13'], samplesPerCity: 300, seconds: 0, postFilter: { majority: false, minPixels: 4 } });
    const test = city(99);
    const p = applyUrbanModel(model, test.before, test.after, S, S);
    expect(f1(p.classes, test.truth)).toBeGreaterThan(0.8);
    // the same through the file: written, parsed back, applied
    const back = parseUrbanModel(JSON.stringify(model), 'model.json');
    expect(Array.from(applyUrbanModel(back, test.before, test.after, S, S).classes)).toEqual(Array.from(p.classes));
  });

  it('chooses the threshold that maximises the weighted F1 (by hand)', () => {
    // positives at 0.9 and 0.6, negatives at 0.75 and 0.2 (weight 3): t ≤ 0.6 → tp 2, fp 3 (F1 0.57);
    // 0.6 < t ≤ 0.75 → tp 1, fp 3, fn 1 (F1 0.33); 0.75 < t ≤ 0.9 → tp 1, fn 1 (F1 0.667): the smallest such t is 0.76
    const r = chooseThreshold(Float32Array.from([0.9, 0.6, 0.75, 0.2]), Uint8Array.from([1, 1, 0, 0]), Float64Array.from([1, 1, 3, 3]));
    expect(r.threshold).toBeCloseTo(0.76, 5);
    expect(r.f1).toBeCloseTo(2 / 3, 6);
  });
});

describe('urban model file validation', () => {
  const expectModelError = (fn: () => unknown, re: RegExp) => {
    try { fn(); } catch (e) {
      expect(isS2ChangeError(e, 'MODEL'), String(e)).toBe(true);
      expect((e as Error).message).toMatch(re);
      return;
    }
    throw new Error('no error thrown');
  };
  const text = () => JSON.stringify(model);

  it('refuses malformed JSON, another format, another version, an inconsistent spec', () => {
    expectModelError(() => parseUrbanModel('{"format": "s2change-urban', 'm.json'), /m\.json: the model file is not valid JSON/);
    expectModelError(() => parseUrbanModel(JSON.stringify({ ...model, format: 'other' }), 'm.json'), /format "s2change-urban-model".*found format "other"/);
    expectModelError(() => parseUrbanModel(JSON.stringify({ ...model, version: 2 }), 'm.json'), /expected version 1.*found version 2/);
    expectModelError(() => parseUrbanModel(JSON.stringify({ ...model, featureNames: model.featureNames.slice(1) }), 'm.json'), /featureNames/);
    expectModelError(() => parseUrbanModel(JSON.stringify({ ...model, halo: 1 }), 'm.json'), /halo 3/);
    expectModelError(() => parseUrbanModel(JSON.stringify({ ...model, threshold: 2 }), 'm.json'), /threshold/);
    const bad = JSON.parse(text()) as UrbanModel;
    bad.learner.trees[0]!.left[0] = 0;
    expectModelError(() => parseUrbanModel(JSON.stringify(bad), 'm.json'), /tree 0 node 0/);
    expectModelError(() => parseUrbanModel('[1, 2]', 'm.json'), /found an array/);
  });

  it('refuses an input without a band the model needs (MODEL) and DN instead of reflectance (RADIOMETRY)', () => {
    const c = city(5);
    const after = { ...c.after };
    delete after.B12;
    expectModelError(() => checkModelFitsInput(model, c.before, after, 'urban-model.json'), /urban-model\.json: the input lacks bands.*after scene without B12/);
    const dn: BandArrays = {};
    for (const [b, a] of Object.entries(c.before)) dn[b as keyof BandArrays] = a!.map((v) => v * 10000);
    try {
      checkModelFitsInput(model, dn, c.after);
      throw new Error('no error thrown');
    } catch (e) {
      expect(isS2ChangeError(e, 'RADIOMETRY'), String(e)).toBe(true);
    }
  });
});

describe('OSCD loader', () => {
  const touch = (p: string) => { mkdirSync(path.dirname(p), { recursive: true }); writeFileSync(p, ''); };
  const images = 'Onera Satellite Change Detection dataset - Images';
  const mk = (root: string, cityName: string, labels: 'Train' | 'Test' | null) => {
    mkdirSync(path.join(root, images, cityName, 'imgs_1'), { recursive: true });
    mkdirSync(path.join(root, images, cityName, 'imgs_2'), { recursive: true });
    if (labels) touch(path.join(root, `Onera Satellite Change Detection dataset - ${labels} Labels`, cityName, 'cm', `${cityName}-cm.tif`));
  };
  const a = path.join(tmp, 'train');
  const b = path.join(tmp, 'test');
  mk(a, 'alpha', 'Train');
  mk(a, 'beta', 'Train');
  mk(b, 'gamma', 'Test');
  mk(b, 'delta', null);

  it('reads cities labelled in "Train Labels" and in "Test Labels", skipping unlabelled ones', async () => {
    const test = await readDataset('oscd', b);
    expect(test.items.map((i) => i.id)).toEqual(['gamma']);
    expect(test.items[0]!.truth).toBe(path.join(b, 'Onera Satellite Change Detection dataset - Test Labels', 'gamma', 'cm', 'gamma-cm.tif'));
    expect(test.notes.join(' ')).toMatch(/skipped.*delta/);
  });

  it('merges repeated roots, and refuses a city found under two roots', async () => {
    const both = await readDatasets('oscd', [a, b]);
    expect(both.items.map((i) => i.id)).toEqual(['alpha', 'beta', 'gamma']);
    expect(both.root).toBe(`${a}, ${b}`);
    const c = path.join(tmp, 'again');
    mk(c, 'beta', 'Test');
    await expect(readDatasets('oscd', [a, c])).rejects.toThrow(/beta also under/);
  });
});
