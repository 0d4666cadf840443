/**
 * Issue #19, the output side, as a bounded fault harness: kills at every commit step (S2CHANGE_FAIL_AT, not timing),
 * stale locks and temp folders, concurrent runs into one --out, unwritable and full outputs, outputs over inputs,
 * an edited summary, and mutated inputs through `detect`. Every run here is a real process (the CLI, or a small
 * script on dist/io/output-dir.js) so that a kill is a kill; the scenes are 40 x 30 pixels.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { commitSteps, JOURNAL_NAME, LOCK_NAME, OutputDir, SUMMARY_NAME, verifyOutputs } from '../src/io/output-dir.js';
import { writeCog } from '../src/io/cog-writer.js';
import { isS2ChangeError } from '../src/errors.js';
import { seededRandom } from '../src/change/sampling.js';
import type { Grid } from '../src/raster/grid.js';
import { hasGdal, pythonJson } from './helpers/gdal.js';

const root = mkdtempSync(path.join(tmpdir(), 's2change-faults-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const CLI = path.resolve(import.meta.dirname, '../dist/cli/main.js');
const DIST_OUTPUT_DIR = path.resolve(import.meta.dirname, '../dist/io/output-dir.js');
let n = 0;
const fresh = (tag = 'd') => path.join(root, `${tag}-${++n}`);

const W = 40;
const H = 30;
const grid: Grid = { crs: { epsg: 32633 }, transform: [500000, 10, 0, 4200000, 0, -10], width: W, height: H };
const DN: Record<string, [number, number]> = { B02: [900, 950], B03: [1000, 1200], B04: [900, 1300], B08: [4000, 2000], B12: [2000, 3000] };

async function writeDate(name: string, role: 0 | 1): Promise<string> {
  const d = path.join(root, name);
  mkdirSync(d, { recursive: true });
  for (const [band, v] of Object.entries(DN)) {
    const a = new Uint16Array(W * H);
    // A burn in the left half after the fire, unchanged on the right.
    for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) a[y * W + x] = role === 1 && x >= W / 2 ? DN[band]![0] + (y % 7) : v[role] + ((x + y) % 5);
    await writeCog(path.join(d, `${band}.tif`), { grid, bands: [a] }, { blockSize: 16 });
  }
  return d;
}
const before = await writeDate('before', 0);
const after = await writeDate('after', 1);

interface Run { code: number | null; signal: NodeJS.Signals | null; stderr: string; stdout: string }

/** Run the CLI (async, so two can run at once); `env` adds to the environment. Killed after 60 s (a hang fails). */
function cli(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let stdout = '';
    child.stderr.on('data', (d) => (stderr += String(d)));
    child.stdout.on('data', (d) => (stdout += String(d)));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stderr, stdout });
    });
  });
}
const detectArgs = (out: string, ...more: string[]) => ['detect', '--preset', 'wildfire', '--before', before, '--after', after, '--out', out, '--engine', 'whole', ...more];

/** The invariant: summary.json present means every output it lists is there with its SHA-256, and it is unedited. */
async function expectCompleteOrNoSummary(dir: string): Promise<'complete' | 'no summary'> {
  if (!existsSync(path.join(dir, SUMMARY_NAME))) return 'no summary';
  const v = await verifyOutputs(dir);
  expect(v.ok, JSON.stringify(v)).toBe(true);
  return 'complete';
}

const noStack = (s: string) => expect(s).not.toMatch(/\n\s+at .+:\d+:\d+/);

describe('kills at commit steps of a real detect run (S2CHANGE_FAIL_AT=commit:<step>)', async () => {
  // The outputs of this run, from a run that finishes: the commit renames them in sorted order, the summary last.
  const reference = fresh('ref');
  const ok = await cli(detectArgs(reference));
  const names = (JSON.parse(readFileSync(path.join(reference, SUMMARY_NAME), 'utf8')).outputs as { name: string }[]).map((o) => o.name);
  const steps = commitSteps(names);

  it('the reference run succeeds and verifies', async () => {
    expect(ok.code, ok.stderr).toBe(0);
    expect(names).toContain('change.tif');
    expect(steps.length).toBe(names.length + 5);
    expect((await verifyOutputs(reference)).ok).toBe(true);
  });

  // Every step is killed below on the library's commit (fresh and --overwrite); here the steps where the detect
  // run's folder holds nothing, a half set, and a complete set with its journal.
  for (const step of ['old-summary', 'rename:change.tif', 'summary']) {
    it(`fresh --out, killed at ${step}: no summary or a complete set; the next run recovers`, async () => {
      const out = fresh('kill');
      const killed = await cli(detectArgs(out), { S2CHANGE_FAIL_AT: `commit:${step}` });
      expect(killed.signal).toBe('SIGKILL');
      const state = await expectCompleteOrNoSummary(out);
      expect(state).toBe(step === 'summary' || step === 'journal-removed' ? 'complete' : 'no summary');
      expect(existsSync(path.join(out, LOCK_NAME))).toBe(true); // a dead run's lock
      // The next run into the same folder, without --overwrite: a half set is removed (said on stderr) and the run
      // succeeds; a complete set is kept and refused as existing outputs.
      const next = await cli(detectArgs(out));
      noStack(next.stderr);
      expect(next.stderr).toContain('took over the lock');
      if (state === 'complete') {
        expect(next.code).toBe(1);
        expect(next.stderr).toContain('[OUTPUT_EXISTS]');
      } else {
        expect(next.code, next.stderr).toBe(0);
        expect(next.stderr).toMatch(/removed (an incomplete output set|stale temp folder)/);
      }
      expect(await expectCompleteOrNoSummary(out)).toBe('complete');
      expect(readdirSync(out).filter((f) => f.startsWith('.s2change'))).toEqual([]); // no lock, journal or temp folder left
    }, 30_000);
  }
});

describe('kills at every commit step, fresh and --overwrite (library, real processes)', () => {
  const script = path.join(root, 'commit-child.mjs');
  writeFileSync(script, `
import { OutputDir } from ${JSON.stringify(DIST_OUTPUT_DIR)};
const [dir, version] = process.argv.slice(2);
const out = await OutputDir.open(dir, { overwrite: true, planned: ['a.bin', 'b.bin', 'c.bin', 'summary.json'] });
for (const n of ['a.bin', 'b.bin', 'c.bin']) await out.writeFile(n, n + ' of ' + version);
await out.commit({ summary: { version } });
`);
  const commitAs = (dir: string, version: string, failAt?: string) =>
    spawnSync(process.execPath, [script, dir, version], { env: { ...process.env, ...(failAt ? { S2CHANGE_FAIL_AT: failAt } : {}) }, encoding: 'utf8' });

  for (const step of commitSteps(['a.bin', 'b.bin', 'c.bin'])) {
    it(`fresh folder, killed at ${step}: a half set is removed by the next run, a complete one kept`, async () => {
      const dir = fresh('lib');
      expect(commitAs(dir, 'v1', `commit:${step}`).signal).toBe('SIGKILL');
      const state = await expectCompleteOrNoSummary(dir);
      expect(state).toBe(step === 'summary' || step === 'journal-removed' ? 'complete' : 'no summary');
      const lines: string[] = [];
      const out = await OutputDir.open(dir, { overwrite: false, planned: ['a.bin', 'b.bin', 'c.bin'], log: (l) => lines.push(l) })
        .catch((e: unknown) => e);
      if (state === 'complete') {
        expect(isS2ChangeError(out, 'OUTPUT_EXISTS')).toBe(true);
        expect(readdirSync(dir).sort()).toEqual(['a.bin', 'b.bin', 'c.bin', 'summary.json']);
      } else {
        expect(out).toBeInstanceOf(OutputDir);
        const renamed = step.startsWith('rename:') ? ['a.bin', 'b.bin', 'c.bin'].slice(0, 1 + ['a.bin', 'b.bin', 'c.bin'].indexOf(step.slice(7))) : [];
        if (step !== 'start') expect(lines.join('\n')).toContain(`removed an incomplete output set in ${dir} left by a run killed during its commit`);
        if (renamed.length) expect(lines.join('\n')).toContain(renamed.join(', '));
        expect(readdirSync(dir).filter((f) => !f.startsWith('.s2change-tmp-') && f !== LOCK_NAME)).toEqual([]);
        await (out as OutputDir).abort();
      }
    });

    it(`--overwrite, killed at ${step}: summary.json, when present, describes exactly the files beside it`, async () => {
      const dir = fresh('ow');
      expect(commitAs(dir, 'v1').status).toBe(0);
      const r = commitAs(dir, 'v2', `commit:${step}`);
      expect(r.signal).toBe('SIGKILL');
      const state = await expectCompleteOrNoSummary(dir);
      const version = state === 'complete' ? JSON.parse(readFileSync(path.join(dir, SUMMARY_NAME), 'utf8')).version : null;
      // Before the old summary is removed the old set stands; after the new summary is renamed in, the new one.
      if (step === 'start' || step === 'journal') expect(version).toBe('v1');
      else if (step === 'summary' || step === 'journal-removed') expect(version).toBe('v2');
      else expect(state).toBe('no summary');
      // Recovery by the next run: it finishes, and the folder then holds exactly its set.
      const again = commitAs(dir, 'v3');
      expect(again.status, again.stderr).toBe(0);
      expect(JSON.parse(readFileSync(path.join(dir, SUMMARY_NAME), 'utf8')).version).toBe('v3');
      expect((await verifyOutputs(dir)).ok).toBe(true);
      expect(readdirSync(dir).sort()).toEqual(['a.bin', 'b.bin', 'c.bin', 'summary.json']);
    });
  }
});

describe('lock and leftovers', () => {
  const deadPid = () => {
    const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    return Number(r.stdout);
  };

  it('a second open of a folder in use is refused with OUTPUT_LOCKED; the lock goes with commit and abort', async () => {
    const dir = fresh();
    const a = await OutputDir.open(dir, { overwrite: false });
    const err = await OutputDir.open(dir, { overwrite: true }).catch((e: unknown) => e);
    expect(isS2ChangeError(err, 'OUTPUT_LOCKED')).toBe(true);
    expect(String((err as Error).message)).toContain(`pid ${process.pid} on ${hostname()}`);
    await a.writeFile('x.txt', 'x');
    await a.commit({ summary: {} });
    expect(existsSync(path.join(dir, LOCK_NAME))).toBe(false);
    const b = await OutputDir.open(dir, { overwrite: true });
    await b.abort();
    expect(readdirSync(dir).sort()).toEqual(['summary.json', 'x.txt']);
  });

  it('a lock and temp folders of a dead pid on this host are taken over and removed, saying so; another host\'s are kept', async () => {
    const dir = fresh();
    mkdirSync(dir);
    const pid = deadPid();
    writeFileSync(path.join(dir, LOCK_NAME), JSON.stringify({ pid, host: hostname(), startedAt: '2026-01-01T00:00:00Z' }));
    const stale = path.join(dir, `.s2change-tmp-${pid}-aaaa`);
    mkdirSync(stale);
    writeFileSync(path.join(stale, '.s2change-owner.json'), JSON.stringify({ pid, host: hostname(), startedAt: '2026-01-01T00:00:00Z' }));
    writeFileSync(path.join(stale, 'change.tif'), Buffer.alloc(12345));
    const noOwner = path.join(dir, `.s2change-tmp-${pid}-bbbb`); // killed before its owner file was written
    mkdirSync(noOwner);
    const foreign = path.join(dir, '.s2change-tmp-1-cccc');
    mkdirSync(foreign);
    writeFileSync(path.join(foreign, '.s2change-owner.json'), JSON.stringify({ pid: 1, host: 'elsewhere.example', startedAt: '2026-01-01T00:00:00Z' }));
    const lines: string[] = [];
    const out = await OutputDir.open(dir, { overwrite: false, log: (l) => lines.push(l) });
    expect(lines.some((l) => l.includes('took over the lock') && l.includes(`pid ${pid}`))).toBe(true);
    const line = lines.find((l) => l.includes(`removed stale temp folder ${stale} (`)) ?? '';
    expect(Number(/\((\d+) bytes\)/.exec(line)?.[1])).toBeGreaterThan(12345); // the output and the owner file
    expect(lines.some((l) => l.includes(`removed stale temp folder ${noOwner}`))).toBe(true);
    expect(lines.some((l) => l.includes(`kept temp folder ${foreign}`) && l.includes('elsewhere.example'))).toBe(true);
    expect(existsSync(stale) || existsSync(noOwner)).toBe(false);
    expect(existsSync(foreign)).toBe(true);
    await out.abort();
  });

  it('an empty lock (killed between creating and writing it) is removed once older than 10 s, not before', async () => {
    const dir = fresh();
    mkdirSync(dir);
    const lock = path.join(dir, LOCK_NAME);
    writeFileSync(lock, '');
    const e = await OutputDir.open(dir, { overwrite: true, log: () => {} }).catch((err: unknown) => err);
    expect(isS2ChangeError(e, 'OUTPUT_LOCKED')).toBe(true);
    const old = new Date(Date.now() - 60_000);
    utimesSync(lock, old, old);
    const lines: string[] = [];
    const out = await OutputDir.open(dir, { overwrite: true, log: (l) => lines.push(l) });
    expect(lines.join('\n')).toContain('removed the unreadable lock');
    await out.abort();
  });

  it('a lock of a live process, or of another host, is not taken over', async () => {
    const dir = fresh();
    mkdirSync(dir);
    writeFileSync(path.join(dir, LOCK_NAME), JSON.stringify({ pid: deadPid(), host: 'elsewhere.example', startedAt: 'x' }));
    const e1 = await OutputDir.open(dir, { overwrite: true, log: () => {} }).catch((e: unknown) => e);
    expect(isS2ChangeError(e1, 'OUTPUT_LOCKED')).toBe(true);
    expect(String((e1 as Error).message)).toContain('elsewhere.example');
    expect(String((e1 as Error).message)).toContain(`delete ${path.join(dir, LOCK_NAME)}`);
    writeFileSync(path.join(dir, LOCK_NAME), JSON.stringify({ pid: 1, host: hostname(), startedAt: 'x' })); // init: alive
    const e2 = await OutputDir.open(dir, { overwrite: true, log: () => {} }).catch((e: unknown) => e);
    expect(isS2ChangeError(e2, 'OUTPUT_LOCKED')).toBe(true);
  });
});

describe('concurrent runs into one --out (two real CLI processes)', () => {
  it('while one run holds the folder, a detect into it is refused with OUTPUT_LOCKED and changes nothing', async () => {
    const dir = fresh('held');
    const holder = spawn(process.execPath, ['-e', `
import(${JSON.stringify(DIST_OUTPUT_DIR)}).then(async ({ OutputDir }) => {
  await OutputDir.open(${JSON.stringify(dir)}, { overwrite: false });
  process.stdout.write('HELD\\n');
  setTimeout(() => {}, 30000);
});`], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await new Promise<void>((resolve) => holder.stdout.on('data', (d) => String(d).includes('HELD') && resolve()));
      const before = readdirSync(dir).sort();
      const r = await cli(detectArgs(dir, '--overwrite'));
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('[OUTPUT_LOCKED]');
      expect(r.stderr).toContain(`pid ${holder.pid}`);
      noStack(r.stderr);
      expect(readdirSync(dir).sort()).toEqual(before);
    } finally {
      holder.kill('SIGKILL');
    }
  });

  it('pairs started together: never both succeed; the loser is refused (locked or existing) and the set verifies', async () => {
    for (let pair = 0; pair < 2; pair++) {
      const dir = fresh('pair');
      const [a, b] = await Promise.all([cli(detectArgs(dir)), cli(detectArgs(dir))]);
      const codes = [a.code, b.code].sort();
      expect(codes, `${a.stderr}\n${b.stderr}`).toEqual([0, 1]);
      const loser = a.code === 1 ? a : b;
      expect(loser.stderr).toMatch(/\[OUTPUT_(LOCKED|EXISTS)\]/);
      noStack(loser.stderr);
      expect((await verifyOutputs(dir)).ok).toBe(true);
      expect(readdirSync(dir).filter((f) => f.startsWith('.s2change'))).toEqual([]);
    }
  }, 60_000);
});

describe('typed errors instead of stack traces', () => {
  for (const out of ['/etc/passwd/x', '/sys/x', '/proc/x', '/proc/self/x']) {
    it(`--out ${out}: OUTPUT_NOT_WRITABLE, exit 1, at once`, async () => {
      const r = await cli(detectArgs(out));
      expect(r.signal).toBeNull(); // not killed by the 60 s guard: no spinning
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('[OUTPUT_NOT_WRITABLE]');
      expect(r.stderr).toContain(out);
      noStack(r.stderr);
    });
  }

  it.skipIf(process.getuid?.() === 0)('a read-only folder: OUTPUT_NOT_WRITABLE', async () => {
    const ro = fresh('ro');
    mkdirSync(ro);
    chmodSync(ro, 0o555);
    const r = await cli(detectArgs(path.join(ro, 'out')));
    chmodSync(ro, 0o755);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('[OUTPUT_NOT_WRITABLE]');
  });

  for (const name of ['change.tif', 'change.png', 'report.html']) {
    it(`a full disk while writing ${name} (injected ENOSPC): DISK_FULL naming the file, nothing left behind`, async () => {
      const dir = fresh('full');
      const r = await cli(detectArgs(dir), { S2CHANGE_FAIL_AT: `enospc:${name}` });
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('[DISK_FULL]');
      expect(r.stderr).toContain(path.join(dir, name));
      noStack(r.stderr);
      expect(existsSync(dir)).toBe(false); // created by the run, removed with everything in it
    });
  }

  it('--out equal to an input folder is refused even with --overwrite (exit 2), and the input is untouched', async () => {
    const listing = () => readdirSync(after).map((f) => `${f}:${createHash('sha256').update(readFileSync(path.join(after, f))).digest('hex')}`).sort();
    const was = listing();
    for (const extra of [[], ['--overwrite']]) {
      const r = await cli(detectArgs(after, ...extra));
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('[OUTPUT_OVER_INPUT]');
      noStack(r.stderr);
    }
    // The same folder through another spelling.
    const r = await cli(detectArgs(`${after}/./`, '--overwrite'));
    expect(r.stderr).toContain('[OUTPUT_OVER_INPUT]');
    expect(listing()).toEqual(was);
  });

  it('an output path equal to an input file is refused even with overwrite, at open and at write', async () => {
    const dir = fresh('overinput');
    mkdirSync(dir);
    const input = path.join(dir, 'change.tif');
    copyFileSync(path.join(after, 'B04.tif'), input);
    const bytes = readFileSync(input);
    const e1 = await OutputDir.open(dir, { overwrite: true, planned: ['change.tif'], inputs: [input] }).catch((e: unknown) => e);
    expect(isS2ChangeError(e1, 'OUTPUT_OVER_INPUT')).toBe(true);
    const out = await OutputDir.open(dir, { overwrite: true, planned: ['other.tif'], inputs: [input] });
    await expect(out.writeFile('change.tif', 'x')).rejects.toSatisfy((e: unknown) => isS2ChangeError(e, 'OUTPUT_OVER_INPUT'));
    await out.abort();
    expect(readFileSync(input).equals(bytes)).toBe(true);
  });
});

describe('verify checks what it claims', async () => {
  const dir = fresh('verify');
  const made = await cli(detectArgs(dir));

  it('an untouched run verifies; the summary carries its integrity record', async () => {
    expect(made.code, made.stderr).toBe(0);
    const s = JSON.parse(readFileSync(path.join(dir, SUMMARY_NAME), 'utf8'));
    expect(s.integrity.algorithm).toBe('sha256');
    expect(s.integrity.expectedOutputs).toEqual(s.outputs.map((o: { name: string }) => o.name));
    const r = await cli(['verify', dir]);
    expect(r.code).toBe(0);
  });

  const edit = (fn: (s: any) => void) => {
    const copy = fresh('verify-edit');
    mkdirSync(copy);
    for (const f of readdirSync(dir)) copyFileSync(path.join(dir, f), path.join(copy, f));
    const s = JSON.parse(readFileSync(path.join(copy, SUMMARY_NAME), 'utf8'));
    fn(s);
    writeFileSync(path.join(copy, SUMMARY_NAME), `${JSON.stringify(s, null, 2)}\n`);
    return copy;
  };

  it('fails when the hectares in summary.json were edited', async () => {
    const copy = edit((s) => { s.areas[1].hectares += 1; });
    const r = await cli(['verify', copy]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/CHANGED\s+summary\.json: content does not match its integrity digest/);
    expect(r.stderr).toContain('[OUTPUT_INTEGRITY]');
  });

  it('fails when an output was dropped from the manifest (and its file deleted), even with the digest list edited too', async () => {
    const copy = edit((s) => { s.outputs = s.outputs.filter((o: { name: string }) => o.name !== 'dnbr.tif'); });
    rmSync(path.join(copy, 'dnbr.tif'));
    const v = await verifyOutputs(copy);
    expect(v.ok).toBe(false);
    expect(v.summary.problems.join('; ')).toContain('expected outputs missing from the manifest: dnbr.tif');
    const both = edit((s) => {
      s.outputs = s.outputs.filter((o: { name: string }) => o.name !== 'dnbr.tif');
      s.integrity.expectedOutputs = s.integrity.expectedOutputs.filter((o: string) => o !== 'dnbr.tif');
    });
    expect((await verifyOutputs(both)).summary.problems.join('; ')).toContain('was edited');
  });

  it('a summary without an integrity record fails', async () => {
    const copy = edit((s) => { delete s.integrity; });
    expect((await verifyOutputs(copy)).summary.ok).toBe(false);
  });
});

/** GDAL's view of a mutant: does it decode B12 to the original's pixels, and are two class maps equal? */
const GDAL_CHECK = `
import json, sys
import numpy as np
from osgeo import gdal
gdal.UseExceptions()
orig, mutant, ref_classes, classes = sys.argv[1:5]
def read(p):
    try:
        return gdal.Open(p).ReadAsArray()
    except Exception:
        return None
m = read(mutant)
print(json.dumps({
    "gdalSame": None if m is None else bool(np.array_equal(m, read(orig))),
    "classesSame": bool(np.array_equal(read(ref_classes), read(classes))),
}))
`;

describe('mutated inputs through detect: a typed error or a verified result, never a crash or hang', () => {
  it('14 truncated or bit-flipped copies of an input band', async () => {
    const reference = fresh('mut-ref');
    expect((await cli(['detect', '--preset', 'wildfire', '--before', before, '--after', after, '--out', reference, '--engine', 'whole'])).code).toBe(0);
    const source = readFileSync(path.join(after, 'B12.tif'));
    const rand = seededRandom(19);
    const outcomes = { ok: 0, typed: 0, sameAsGdal: 0 };
    const mutants: [string, Buffer][] = [];
    for (const len of [0, 8, 64, 200, Math.floor(source.length / 2), source.length - 1]) mutants.push([`truncated to ${len}`, source.subarray(0, len)]);
    for (let k = 0; k < 8; k++) {
      const b = Buffer.from(source);
      const flips = 1 + Math.floor(rand() * 4);
      // Half of the flips in the header and IFD (first 512 bytes), half anywhere.
      for (let f = 0; f < flips; f++) b[Math.floor(rand() * (k % 2 ? b.length : Math.min(512, b.length)))]! ^= 1 << Math.floor(rand() * 8);
      mutants.push([`${flips} bit flips (#${k})`, b]);
    }
    // Four at a time (the machine is shared).
    const runs: { what: string; out: string; r: Run; mutant: string }[] = [];
    for (let i0 = 0; i0 < mutants.length; i0 += 4) runs.push(...await Promise.all(mutants.slice(i0, i0 + 4).map(async ([what, bytes], j) => {
      const i = i0 + j;
      const dateDir = path.join(root, `mutant-${i}`);
      mkdirSync(dateDir);
      for (const f of readdirSync(after)) copyFileSync(path.join(after, f), path.join(dateDir, f));
      writeFileSync(path.join(dateDir, 'B12.tif'), bytes);
      const out = path.join(root, `mutant-out-${i}`);
      const r = await cli(['detect', '--preset', 'wildfire', '--before', before, '--after', dateDir, '--out', out, '--engine', 'whole']);
      return { what, out, r, mutant: path.join(dateDir, 'B12.tif') };
    })));
    for (const { what, out, r, mutant } of runs) {
      expect(r.signal, `${what}: killed (hang)`).toBeNull();
      noStack(r.stderr);
      if (r.code === 0) {
        outcomes.ok++;
        expect((await verifyOutputs(out)).ok, what).toBe(true);
        // Correct: where GDAL decodes the mutant to the original pixels (a flip in bytes no pixel depends on), the
        // class map must be the unmutated run's.
        if (hasGdal()) {
          const g = pythonJson(GDAL_CHECK, [path.join(after, 'B12.tif'), mutant, path.join(reference, 'change.tif'), path.join(out, 'change.tif')]);
          if (g.gdalSame) {
            outcomes.sameAsGdal++;
            expect(g.classesSame, `${what}: GDAL reads the original pixels, the classes differ`).toBe(true);
          }
        }
      } else {
        outcomes.typed++;
        expect(r.code, `${what}: ${r.stderr}`).toBe(1);
        expect(r.stderr, what).toMatch(/^s2change: error \[[A-Z_]+\]/m);
        expect(existsSync(out), `${what}: output folder left behind`).toBe(false);
      }
    }
    expect(outcomes.ok + outcomes.typed).toBe(14);
    expect(outcomes.typed).toBeGreaterThan(0);
    process.stderr.write(`mutated inputs: ${outcomes.ok} verified results (${outcomes.sameAsGdal} where GDAL reads the original pixels, classes equal), ${outcomes.typed} typed errors of ${mutants.length}\n`);
  }, 120_000);
});
