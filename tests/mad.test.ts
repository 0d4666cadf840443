/**
 * Plain MAD and IR-MAD (src/change/irmad.ts) against an independent numpy/scipy implementation written from the papers
 * (tests/oracles/mad_reference.py): canonical correlations, MAD variances, χ² statistics and change probabilities,
 * the iterations' stopping rules, and the collapse of the literal IR-MAD on a scene with much change.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { fitIrmadSample, irmad, irmadChangeMask, IRMAD_MIN_NO_CHANGE_SHARE } from '../src/change/irmad.js';
import { seededRandom } from '../src/change/sampling.js';
import { getPreset } from '../src/change/presets/index.js';

const ORACLE = path.join(path.dirname(fileURLToPath(import.meta.url)), 'oracles', 'mad_reference.py');
const tmp = mkdtempSync(path.join(tmpdir(), 's2change-mad-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const P = 4;
const N = 8_000;

/** Gaussian by Box–Muller on a seeded uniform generator. */
function gaussian(rand: () => number): () => number {
  return () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
}

/**
 * Two dates of P bands: date 2 = a band mix of date 1 plus noise (no change); `changed` of the pixels (those with
 * i mod 100 < 100·changed) get a large random change in every band of date 2. Returns the bands, the pixel-major rows
 * the oracle reads, and which pixels changed.
 */
function pair(seed: number, changed: number) {
  const g = gaussian(seededRandom(seed));
  const before = Array.from({ length: P }, () => new Float32Array(N));
  const after = Array.from({ length: P }, () => new Float32Array(N));
  const mix = [[1.1, 0.2, 0, 0], [0, 0.9, 0.1, 0], [0.1, 0, 1.2, 0.1], [0, 0.1, 0, 0.8]];
  const isChanged = (i: number) => i % 100 < Math.round(100 * changed);
  for (let i = 0; i < N; i++) {
    const f = [g(), g(), g(), g()];
    const base = [f[0]! + 0.5 * f[1]!, f[1]! + 0.3 * f[2]!, f[2]! + 0.2 * f[3]!, f[3]! + 0.4 * f[0]!];
    for (let b = 0; b < P; b++) before[b]![i] = 0.2 + 0.05 * (base[b]! + 0.2 * g());
    for (let b = 0; b < P; b++) {
      let v = 0.21;
      for (let j = 0; j < P; j++) v += 0.05 * mix[b]![j]! * base[j]!;
      v += 0.05 * 0.2 * g();
      if (isChanged(i)) v += 0.05 * (1 + 2 * Math.abs(g())) * (b % 2 ? -1 : 1) * (1 + (i % 3));
      after[b]![i] = v;
    }
  }
  const rows = new Float32Array(N * 2 * P);
  for (let i = 0; i < N; i++) for (let b = 0; b < P; b++) {
    rows[i * 2 * P + b] = before[b]![i]!;
    rows[i * 2 * P + P + b] = after[b]![i]!;
  }
  const file = path.join(tmp, `pair-${seed}-${changed}.f32`);
  writeFileSync(file, new Uint8Array(rows.buffer));
  return { before, after, rows: Float64Array.from(rows), file, isChanged };
}

function oracle(file: string, mode: 'mad' | 'irmad', extra: (string | number)[] = []): any {
  return JSON.parse(execFileSync('/usr/bin/python3', [ORACLE, file, String(N), String(P), mode, ...extra.map(String)], { encoding: 'utf8', maxBuffer: 64 << 20 }));
}

const rel = (a: number, b: number) => Math.abs(a - b) / Math.max(1e-12, Math.abs(b));

describe('plain MAD against numpy/scipy', () => {
  it('canonical correlations, MAD σ, Z and P(change) with χ²(p) match to 1e-4', () => {
    const d = pair(31, 0.1);
    const np = oracle(d.file, 'mad');
    const r = irmad(d.before, d.after, N, { maxIterations: 1, maxSamples: N });
    expect(r.iterations).toBe(1);
    expect(r.stopReason).toBe('max-iterations');
    expect(r.model.dof).toBe(P);
    r.rho.forEach((v, k) => expect(Math.abs(v - np.rho[k])).toBeLessThan(1e-4));
    r.model.sigma.forEach((v, k) => expect(rel(v, np.sigma[k])).toBeLessThan(1e-4));
    for (let i = 0; i < 2000; i++) {
      expect(rel(r.chi2[i]!, np.z[i])).toBeLessThan(1e-3);
      expect(Math.abs(r.pChange[i]! - np.pchange[i])).toBeLessThan(1e-4);
    }
  });

  it('the `mad` method of the generic preset is that one fit, thresholded at the χ²(p) 99th percentile', () => {
    const d = pair(32, 0.1);
    const valid = new Uint8Array(N).fill(1);
    const bands = ['B02', 'B03', 'B04', 'B08'] as const;
    const arrays = (x: Float32Array[]) => Object.fromEntries(bands.map((b, k) => [b, x[k]!]));
    const res = getPreset('generic').run({ width: N, height: 1, before: arrays(d.before), after: arrays(d.after), valid, options: { method: 'mad', cvaBands: [...bands] } });
    expect(res.method).toBe('mad');
    expect(res.formula).toMatch(/one unweighted CCA fit/);
    expect(res.thresholds[0]!.value).toBeCloseTo(13.2767, 3); // χ²(4) 0.99 quantile, tables
    const np = oracle(d.file, 'mad');
    for (let i = 0; i < 2000; i++) expect(res.classes[i]).toBe(np.pchange[i] > 0.99 ? 1 : 0);
    let hits = 0;
    let changed = 0;
    for (let i = 0; i < N; i++) if (d.isChanged(i)) { changed++; hits += res.classes[i]!; }
    expect(hits / changed).toBeGreaterThan(0.5);
  });
});

describe('IR-MAD against numpy/scipy', () => {
  it('literal algorithm (no consistency correction, no stop rule): same fits, iterations and convergence', () => {
    const d = pair(33, 0.05);
    const np = oracle(d.file, 'irmad', [30, 1e-4, 0, 0]);
    const r = fitIrmadSample(d.rows, P, { consistencyCorrection: false, minNoChangeShare: 0 });
    expect(np.stop).toBe('converged');
    expect(r.stopReason).toBe('converged');
    expect(r.iterations).toBe(np.iterations);
    r.rhoHistory.forEach((rho, it) => rho.forEach((v, k) => expect(Math.abs(v - np.history[it][k])).toBeLessThan(1e-4)));
  });

  it('on a scene with 45 % change the literal algorithm collapses; the no-change-share stop keeps half the pixels', () => {
    const d = pair(34, 0.45);
    const literal = oracle(d.file, 'irmad', [30, 1e-4, 0, 0]);
    const stopped = oracle(d.file, 'irmad', [30, 1e-4, 0, 0.5]);
    const ours = fitIrmadSample(d.rows, P, { consistencyCorrection: false, minNoChangeShare: 0.5 });
    // Same stop, same fits as the reference with the same rule
    expect(stopped.stop).toBe('no-change share');
    expect(ours.stopReason).toBe('no-change-share');
    expect(ours.iterations).toBe(stopped.iterations);
    ours.rho.forEach((v, k) => expect(Math.abs(v - stopped.rho[k])).toBeLessThan(1e-4));
    // The literal run went on; share of the unchanged pixels among the oracle's first 2000 that each flags
    expect(literal.iterations).toBeGreaterThan(stopped.iterations);
    const flagged = (pc: number[]) => pc.filter((v, i) => !d.isChanged(i) && v > 0.99).length / pc.filter((_, i) => !d.isChanged(i)).length;
    expect(flagged(literal.pchange)).toBeGreaterThan(0.3); // unchanged pixels flagged: the collapse
    expect(flagged(stopped.pchange)).toBeLessThan(flagged(literal.pchange));
  });

  it('the presets\' IR-MAD (default stop rule) flags fewer unchanged pixels than the literal one on that scene', () => {
    const d = pair(34, 0.45);
    const fixed = irmad(d.before, d.after, N, { regularization: 1e-6, maxSamples: N });
    const literal = irmad(d.before, d.after, N, { regularization: 1e-6, maxSamples: N, minNoChangeShare: 0, consistencyCorrection: false });
    const share = (m: Uint8Array, ch: boolean) => {
      let k = 0;
      let n = 0;
      for (let i = 0; i < N; i++) if (d.isChanged(i) === ch) { n++; k += m[i]!; }
      return k / n;
    };
    const falseShare = (m: Uint8Array) => share(m, false);
    const hits = (m: Uint8Array) => share(m, true);
    const a = irmadChangeMask(fixed).mask;
    const b = irmadChangeMask(literal).mask;
    expect(fixed.stopReason).not.toBe('max-iterations');
    expect(IRMAD_MIN_NO_CHANGE_SHARE).toBe(0.25);
    expect(fixed.noChangeShare).toBeGreaterThan(0.25 * 0.8); // the last fit's share: just under the rule's, not collapsed
    expect(literal.noChangeShare).toBeLessThan(fixed.noChangeShare);
    expect(falseShare(a)).toBeLessThan(falseShare(b));
    expect(hits(a)).toBeGreaterThan(0.8);
  });

  it('refuses a no-change share outside [0, 1]', () => {
    const d = pair(35, 0.05);
    expect(() => fitIrmadSample(d.rows, P, { minNoChangeShare: 2 })).toThrow(/minNoChangeShare/);
  });
});
