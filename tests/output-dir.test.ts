/**
 * Atomic output folder: existing outputs are refused before any work, failures and signals leave nothing behind,
 * commit produces files whose SHA-256 (recomputed here with node:crypto over the final bytes) matches the
 * manifest, and verifyOutputs catches flipped bytes and missing files.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { OutputExistsError, OutputIntegrityError, InputNotFoundError, isS2ChangeError } from '../src/errors.js';
import { OutputDir, UnsafeOutputNameError, checkOutputName, verifyOutputs } from '../src/io/output-dir.js';

const root = mkdtempSync(path.join(tmpdir(), 's2change-out-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const fresh = () => path.join(root, `run-${n++}`);
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe('OutputDir', () => {
  it('refuses a planned name that exists, before creating anything', async () => {
    const dir = fresh();
    mkdirSync(dir);
    writeFileSync(path.join(dir, 'change.tif'), 'old');
    const err = await OutputDir.open(dir, { overwrite: false, planned: ['summary.json', 'change.tif'] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OutputExistsError);
    expect((err as Error).message).toContain(path.join(dir, 'change.tif'));
    expect((err as OutputExistsError).fix).toMatch(/--overwrite/);
    expect(readdirSync(dir)).toEqual(['change.tif']);
    expect(readFileSync(path.join(dir, 'change.tif'), 'utf8')).toBe('old');
  });

  it('overwrite replaces existing outputs', async () => {
    const dir = fresh();
    mkdirSync(dir);
    writeFileSync(path.join(dir, 'a.txt'), 'old');
    const out = await OutputDir.open(dir, { overwrite: true, planned: ['a.txt'] });
    await out.writeFile('a.txt', 'new');
    await out.commit();
    expect(readFileSync(path.join(dir, 'a.txt'), 'utf8')).toBe('new');
    expect(readdirSync(dir)).toEqual(['a.txt']);
  });

  it('an unplanned write onto an existing file is refused too', async () => {
    const dir = fresh();
    mkdirSync(dir);
    writeFileSync(path.join(dir, 'x.png'), 'old');
    const out = await OutputDir.open(dir, { overwrite: false });
    await expect(out.writeFile('x.png', 'new')).rejects.toBeInstanceOf(OutputExistsError);
    await out.abort();
    expect(readdirSync(dir)).toEqual(['x.png']);
  });

  it('a failure inside the run + abort leaves no final and no temp files (and removes a folder it created)', async () => {
    const dir = fresh();
    const out = await OutputDir.open(dir, { overwrite: false, planned: ['a.bin', 'b.bin'] });
    await out.writeFile('a.bin', new Uint8Array([1, 2, 3]));
    await expect(out.writeWith('b.bin', async (tmp) => {
      writeFileSync(tmp, 'partial');
      throw new Error('boom');
    })).rejects.toThrow('boom');
    expect(existsSync(path.join(out.tmpDir, 'b.bin'))).toBe(false);
    await out.abort();
    expect(existsSync(dir)).toBe(false);

    const kept = fresh();
    mkdirSync(kept);
    writeFileSync(path.join(kept, 'notes.txt'), 'mine');
    const out2 = await OutputDir.open(kept, { overwrite: false });
    await out2.writeFile('a.bin', 'x');
    await out2.abort();
    expect(readdirSync(kept)).toEqual(['notes.txt']);
  });

  it('commit: final files, SHA-256 over final bytes, summary.json last with the manifest under outputs', async () => {
    const dir = fresh();
    const out = await OutputDir.open(dir, { overwrite: false, planned: ['change.tif', 'report.html', 'summary.json'] });
    const big = new Uint8Array(3_000_000).map((_, i) => (i * 31) % 251);
    expect(path.dirname(out.tempPath('change.tif'))).toBe(out.tmpDir);
    expect(path.dirname(out.tmpDir)).toBe(path.resolve(dir));
    await out.writeWith('change.tif', async (tmp) => writeFileSync(tmp, big));
    await out.writeFile('report.html', '<html></html>');
    const manifest = await out.commit({ summary: { preset: 'flood' } });
    expect(readdirSync(dir).sort()).toEqual(['change.tif', 'report.html', 'summary.json']);
    for (const e of manifest) {
      const bytes = readFileSync(path.join(dir, e.name));
      expect(e.sha256).toBe(sha(bytes));
      expect(e.bytes).toBe(bytes.length);
    }
    expect(manifest.map((e) => e.name)).toEqual(['change.tif', 'report.html']);
    expect(manifest[0]!.sha256).toBe(sha(big));
    const summary = JSON.parse(readFileSync(path.join(dir, 'summary.json'), 'utf8'));
    expect(summary.preset).toBe('flood');
    expect(summary.outputs).toEqual(manifest);
    const v = await verifyOutputs(dir);
    expect(v.ok).toBe(true);
    expect(v.files).toHaveLength(2);
  });

  it('a digest recorded by the writer is used while the file keeps its size; a rewrite or another size is hashed again', async () => {
    const dir = fresh();
    const out = await OutputDir.open(dir, { overwrite: false, planned: ['a.bin', 'b.bin', 'c.bin'] });
    const bytes = new TextEncoder().encode('streamed output');
    await out.writeFile('a.bin', bytes);
    await out.writeFile('b.bin', bytes);
    await out.writeFile('c.bin', bytes);
    // a: the writer's digest is taken as is (a made-up one proves that the file was not read again);
    // b: recorded with a wrong size, so hashed; c: recorded, then rewritten, so hashed.
    out.recordDigest('a.bin', { bytes: bytes.length, sha256: 'f'.repeat(64) });
    out.recordDigest('b.bin', { bytes: bytes.length + 1, sha256: 'f'.repeat(64) });
    out.recordDigest('c.bin', { bytes: bytes.length, sha256: 'f'.repeat(64) });
    await out.writeFile('c.bin', bytes);
    expect(() => out.recordDigest('nope.bin', { bytes: 1, sha256: '0' })).toThrow(/no such staged output/);
    const manifest = await out.commit();
    expect(manifest).toEqual([
      { name: 'a.bin', bytes: bytes.length, sha256: 'f'.repeat(64) },
      { name: 'b.bin', bytes: bytes.length, sha256: sha(bytes) },
      { name: 'c.bin', bytes: bytes.length, sha256: sha(bytes) },
    ]);
  });

  it('verify detects a flipped byte and a missing file', async () => {
    const dir = fresh();
    const out = await OutputDir.open(dir, { overwrite: false });
    await out.writeFile('a.bin', new Uint8Array(1000).fill(7));
    await out.writeFile('b.bin', 'bbb');
    await out.writeFile('c.bin', 'ccc');
    await out.commit({ summary: (outputs) => ({ version: 1, outputs }) });
    const a = readFileSync(path.join(dir, 'a.bin'));
    a[500] ^= 0x01;
    writeFileSync(path.join(dir, 'a.bin'), a);
    rmSync(path.join(dir, 'b.bin'));
    const v = await verifyOutputs(dir);
    expect(v.ok).toBe(false);
    const by = Object.fromEntries(v.files.map((f) => [f.name, f]));
    expect(by['a.bin']!.ok).toBe(false);
    expect(by['a.bin']!.actual!.sha256).toBe(sha(a));
    expect(by['b.bin']!.ok).toBe(false);
    expect(by['b.bin']!.actual).toBeNull();
    expect(by['c.bin']!.ok).toBe(true);
  });

  it('verify refuses a folder without summary.json, or one without an outputs list, and flags escaping names', async () => {
    const dir = fresh();
    mkdirSync(dir);
    await expect(verifyOutputs(dir)).rejects.toBeInstanceOf(InputNotFoundError);
    writeFileSync(path.join(dir, 'summary.json'), '{"preset":"flood"}');
    await expect(verifyOutputs(dir)).rejects.toBeInstanceOf(OutputIntegrityError);
    writeFileSync(path.join(root, 'outside.txt'), 'x');
    writeFileSync(path.join(dir, 'summary.json'), JSON.stringify({
      outputs: [{ name: '../outside.txt', bytes: 1, sha256: sha(Buffer.from('x')) }],
    }));
    const v = await verifyOutputs(dir);
    expect(v.ok).toBe(false);
  });

  it('rejects names that would escape the folder', async () => {
    const dir = fresh();
    const out = await OutputDir.open(dir, { overwrite: false });
    for (const bad of ['..', '.', '../x.tif', 'a/b.tif', 'a\\b.tif', '/etc/passwd', '', 'C:evil', 'x\u0000y', '.s2change-tmp-1']) {
      expect(() => out.tempPath(bad), JSON.stringify(bad)).toThrow(UnsafeOutputNameError);
      await expect(out.writeFile(bad, 'x')).rejects.toBeInstanceOf(UnsafeOutputNameError);
    }
    await expect(OutputDir.open(fresh(), { overwrite: false, planned: ['../up.json'] })).rejects.toBeInstanceOf(UnsafeOutputNameError);
    await out.abort();
    expect(existsSync(path.join(root, 'x.tif'))).toBe(false);
  });

  it('property: any accepted name resolves to a direct child of the folder', () => {
    const base = path.resolve(root, 'prop');
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 40 }), (name) => {
      let accepted = true;
      try {
        checkOutputName(name);
      } catch (e) {
        accepted = false;
        expect(isS2ChangeError(e, 'USAGE')).toBe(true);
      }
      if (accepted) expect(path.dirname(path.resolve(base, name))).toBe(base);
    }), { numRuns: 500 });
  });
});

const here = path.dirname(fileURLToPath(import.meta.url));
const distModule = path.resolve(here, '..', 'dist', 'io', 'output-dir.js');
const haveDist = existsSync(distModule);

describe.skipIf(!haveDist)(`signals (${haveDist ? 'using dist/' : 'SKIPPED: dist/io/output-dir.js missing, run `npx tsc -p .` first'})`, () => {
  for (const [sig, code] of [['SIGTERM', 143], ['SIGINT', 130]] as const) {
    it(`a child killed with ${sig} mid-run exits ${code} and leaves no final or temp files`, async () => {
      const dir = fresh();
      const script = path.join(root, `child-${sig}.mjs`);
      writeFileSync(script, `
import { OutputDir } from ${JSON.stringify(distModule)};
const out = await OutputDir.open(process.argv[2], { overwrite: false, planned: ['a.bin', 'b.bin', 'summary.json'], signals: true });
await out.writeFile('a.bin', 'first');
process.stdout.write('READY\\n');
await new Promise((r) => setTimeout(r, 20000));
await out.writeFile('b.bin', 'second');
await out.commit({ summary: {} });
`);
      const child = spawn(process.execPath, [script, dir], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d) => (stderr += String(d)));
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (d) => String(d).includes('READY') && resolve());
        child.on('exit', () => reject(new Error(`child exited early: ${stderr}`)));
      });
      expect(readdirSync(dir).some((f) => f.startsWith('.s2change-tmp-'))).toBe(true);
      const exit = new Promise<string | number | null>((resolve) => child.on('exit', (c, s) => resolve(s ?? c)));
      child.kill(sig);
      // The signal is re-raised after the cleanup (src/io/interrupt.ts): the child ends *by* it (a shell shows `code`).
      void code;
      expect(await exit).toBe(sig);
      expect(stderr).toContain(`interrupted by ${sig}`);
      expect(existsSync(dir)).toBe(false);
    });
  }
});
