/**
 * Urban model features against an independent numpy/scipy implementation of their definitions
 * (docs/methods.md; src/change/urban-features.ts module comment) on a small synthetic pair, and the block
 * property: features of a block grown by the halo equal the whole array's (bit for bit).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { BandArrays } from '../src/indices/registry.js';
import {
  baseLayerNames, defaultUrbanFeatureSpec, sceneStatistics, urbanFeatureNames, urbanFeatures, urbanHalo, QUANTUM,
} from '../src/change/urban-features.js';
import { PYTHON, run } from './helpers/gdal.js';

const tmp = mkdtempSync(path.join(tmpdir(), 's2change-urbanf-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const W = 37;
const H = 29;
const spec = defaultUrbanFeatureSpec();

/** numpy makes the pair (seeded), writes it as raw float32, and computes every feature by its definition. */
const SCRIPT = String.raw`
import json, sys, numpy as np
from scipy.ndimage import uniform_filter
out = sys.argv[1]; W, H = 37, 29
bands = ['B02','B03','B04','B05','B06','B07','B08','B8A','B11','B12']
rng = np.random.default_rng(42)
base = rng.uniform(0.02, 0.4, (len(bands), H, W))
before = base + rng.normal(0, 0.01, base.shape)
after = base + rng.normal(0, 0.02, base.shape)
after[:, 10:16, 12:20] += np.linspace(0.05, 0.2, len(bands))[:, None, None]   # a "building"
after[6, 10:16, 12:20] -= 0.3                                                      # NIR drops
before = before.astype(np.float32); after = after.astype(np.float32)
valid = np.ones((H, W), np.uint8); valid[0, :5] = 0; valid[20:23, 30:33] = 0
before.tofile(out + '/before.f32'); after.tofile(out + '/after.f32'); valid.tofile(out + '/valid.u8')
b = {k: before[i].astype(np.float64) for i, k in enumerate(bands)}
a = {k: after[i].astype(np.float64) for i, k in enumerate(bands)}
ok = valid == 1
def nd(x, y): return (x - y) / (x + y)
def idx(d, name):
    if name == 'NDVI': return nd(d['B08'], d['B04'])
    if name == 'NDBI': return nd(d['B11'], d['B08'])
    if name == 'MNDWI': return nd(d['B03'], d['B11'])
    if name == 'BSI': return ((d['B11'] + d['B04']) - (d['B08'] + d['B02'])) / ((d['B11'] + d['B04']) + (d['B08'] + d['B02']))
# float32 arithmetic where the library stores float32 (differences, indices), float64 elsewhere
layers = []
for k in bands: layers.append((after[bands.index(k)] - before[bands.index(k)]).astype(np.float64))
for k in bands: layers.append(np.log(np.maximum(a[k], 0) + 0.01) - np.log(np.maximum(b[k], 0) + 0.01))
for name in ['NDVI','NDBI','BSI','MNDWI']:
    ib = idx(b, name).astype(np.float32).astype(np.float64); ia = idx(a, name).astype(np.float32).astype(np.float64)
    layers += [ib, ia, (ia - ib).astype(np.float32).astype(np.float64)]
feats = {}
names = [f'diff_{k}' for k in bands] + [f'lr_{k}' for k in bands] + [f'{i}_{s}' for i in ['NDVI','NDBI','BSI','MNDWI'] for s in ['before','after','diff']]
q = {}
for n, l in zip(names, layers):
    z = (l - l[ok].mean()) / l[ok].std()
    q[n] = np.where(ok, np.round(np.clip(z, -50, 50) * 1024), np.nan)
D = np.stack([layers[i][ok] for i in range(len(bands))])
mu = D.mean(axis=1); C = np.cov(D)
d = np.stack([(a[k] - b[k]) for k in bands]) - mu[:, None, None]
chi = np.einsum('ihw,ij,jhw->hw', d, np.linalg.inv(C), d)
q['chi2'] = np.where(ok, np.round(np.minimum(np.log1p(np.maximum(chi, 0)), 50) * 1024), np.nan)
for n in q: feats[n] = q[n] / 1024
for layer in ['diff_B02','diff_B04','diff_B08','diff_B11','NDVI_diff','NDBI_diff','BSI_diff','chi2']:
    v = np.where(ok, q[layer], 0)
    for r in [1, 3, 6, 12]:
        s = 2 * r + 1
        S = uniform_filter(v, s, mode='constant', cval=0) * s * s
        S2 = uniform_filter(v * v, s, mode='constant', cval=0) * s * s
        c = uniform_filter(ok.astype(float), s, mode='constant', cval=0) * s * s
        m = S / c
        feats[f'{layer}_mean{s}'] = np.where(ok, m / 1024, np.nan)
        feats[f'{layer}_std{s}'] = np.where(ok, np.sqrt(np.maximum(S2 / c - m * m, 0)) / 1024, np.nan)
print(json.dumps({k: [None if np.isnan(x) else float(x) for x in v.ravel()] for k, v in feats.items()}))
`;

function readPair(): { before: BandArrays; after: BandArrays; valid: Uint8Array } {
  const plane = (file: string) => new Float32Array(readFileSync(path.join(tmp, file)).buffer.slice(0));
  const b = plane('before.f32');
  const a = plane('after.f32');
  const before: BandArrays = {};
  const after: BandArrays = {};
  spec.bands.forEach((name, i) => {
    before[name] = b.slice(i * W * H, (i + 1) * W * H);
    after[name] = a.slice(i * W * H, (i + 1) * W * H);
  });
  return { before, after, valid: new Uint8Array(readFileSync(path.join(tmp, 'valid.u8'))) };
}

describe('urban features', () => {
  it('equal an independent numpy/scipy computation of their definitions', () => {
    const ref = JSON.parse(run(PYTHON, ['-c', SCRIPT, tmp])) as Record<string, (number | null)[]>;
    const { before, after, valid } = readPair();
    const stats = sceneStatistics(spec, before, after, W, H, valid);
    const f = urbanFeatures(spec, before, after, W, H, valid, stats);
    expect(f.names).toEqual(urbanFeatureNames(spec));
    expect(Object.keys(ref).sort()).toEqual([...f.names].sort());
    expect(f.names).toHaveLength(baseLayerNames(spec).length + spec.context.length * spec.radii.length * 2);
    let worst = 0;
    let worstName = '';
    let offByOneQuantum = 0;
    for (const [k, name] of f.names.entries()) {
      const mine = f.planes[k]!;
      const theirs = ref[name]!;
      for (let i = 0; i < W * H; i++) {
        const t = theirs[i];
        if (t === null) { expect(Number.isNaN(mine[i]!), `${name}[${i}] should be NaN`).toBe(true); continue; }
        const e = Math.abs(mine[i]! - t);
        if (e > 1e-4) offByOneQuantum++;
        if (e > worst) { worst = e; worstName = name; }
      }
    }
    // Values agree to float rounding; a rare value rounds to the neighbouring quantum (float32 vs float64 z).
    expect(worst, worstName).toBeLessThanOrEqual(1.5 / QUANTUM);
    expect(offByOneQuantum).toBeLessThan(0.002 * W * H * f.names.length);
    // the planted building stands out in the chi-square magnitude and its context
    const chi = f.planes[f.names.indexOf('chi2')]!;
    let inside = 0, outside = 0, ni = 0, no = 0;
    for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
      const v = chi[y * W + x]!;
      if (Number.isNaN(v)) continue;
      if (y >= 10 && y < 16 && x >= 12 && x < 20) { inside += v; ni++; } else { outside += v; no++; }
    }
    expect(inside / ni).toBeGreaterThan(outside / no + 1);
  });

  it('of a block grown by the halo equal the whole array\'s, bit for bit (and not with a halo one pixel short)', () => {
    const { before, after, valid } = readPair();
    const stats = sceneStatistics(spec, before, after, W, H, valid);
    const whole = urbanFeatures(spec, before, after, W, H, valid, stats);
    const halo = urbanHalo(spec);
    expect(halo).toBe(12);
    // block rows 9..17, cols 14..22, grown by `grow` pixels and clipped at the image edges
    const [y0, y1, x0, x1] = [9, 18, 14, 23];
    const blockDiffs = (grow: number): number => {
      const gy0 = Math.max(0, y0 - grow), gy1 = Math.min(H, y1 + grow), gx0 = Math.max(0, x0 - grow), gx1 = Math.min(W, x1 + grow);
      const bw = gx1 - gx0, bh = gy1 - gy0;
      const crop = (a: Float32Array) => {
        const out = new Float32Array(bw * bh);
        for (let y = 0; y < bh; y++) for (let x = 0; x < bw; x++) out[y * bw + x] = a[(y + gy0) * W + x + gx0]!;
        return out;
      };
      const cb: BandArrays = {}, ca: BandArrays = {};
      for (const b of spec.bands) { cb[b] = crop(before[b]!); ca[b] = crop(after[b]!); }
      const cv = new Uint8Array(bw * bh);
      for (let y = 0; y < bh; y++) for (let x = 0; x < bw; x++) cv[y * bw + x] = valid[(y + gy0) * W + x + gx0]!;
      const block = urbanFeatures(spec, cb, ca, bw, bh, cv, stats);
      let diffs = 0;
      for (let k = 0; k < whole.planes.length; k++) {
        for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) {
          if (!Object.is(whole.planes[k]![y * W + x]!, block.planes[k]![(y - gy0) * bw + (x - gx0)]!)) diffs++;
        }
      }
      return diffs;
    };
    expect(blockDiffs(halo)).toBe(0);
    expect(blockDiffs(halo - 1)).toBeGreaterThan(0);
  });

  it('refuses a missing band with MISSING_BAND', () => {
    const { before, after, valid } = readPair();
    const b2 = { ...before };
    delete b2.B11;
    expect(() => sceneStatistics(spec, b2, after, W, H, valid)).toThrow(/B11/);
  });
});

