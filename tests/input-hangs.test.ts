/**
 * Issue #19 items 3 and 7 (input side): nothing an input can do makes s2change hang or print a stack trace.
 * - A FIFO (or device, or folder) where a file is expected is INVALID_INPUT before it is opened for reading: as a
 *   GeoTIFF, a band in a folder, a PNG, a STAC item .json, a --model file; /dev/zero too.
 * - readJsonFile: missing, malformed, binary, empty and too-large JSON files are typed errors naming the file and never
 *   quoting it.
 * - An HTTP fault server on 127.0.0.1: a body dripped at 256 bytes/s trips the total request time (TIME_LIMIT, not
 *   retried); a server that never answers trips the run's --max-time; a CLI run waiting on it ends by SIGTERM
 *   within a few seconds, leaving no output folder.
 * Bounds on time are generous (the machine is shared); they only catch hangs.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkModel } from '../src/change/supervised.js';
import { isS2ChangeError } from '../src/errors.js';
import { httpFetch } from '../src/io/http-source.js';
import { readJsonFile } from '../src/io/local-file.js';
import { readLabelRaster, readPrediction } from '../src/pipeline/evaluate.js';
import { openScene } from '../src/io/scene.js';
import { openTiffFile } from '../src/io/tiff/index.js';
import { startFaultServer, type FaultServer } from './helpers/fault-server.js';
import { rejection } from './helpers/rejection.js';

const CLI = path.resolve('dist/cli/main.js');
const tmp = mkdtempSync(path.join(os.tmpdir(), 's2change-hangs-'));
let srv: FaultServer;

function fifo(name: string): string {
  const p = path.join(tmp, name);
  const r = spawnSync('mkfifo', [p]);
  if (r.status !== 0) throw new Error(`mkfifo failed: ${r.stderr}`);
  return p;
}

/** Run the compiled CLI; resolves with exit code, signal, stderr and the elapsed time. */
function runCli(args: string[], opts: { killAfterMs?: number; killWith?: NodeJS.Signals; waitFor?: () => boolean } = {}):
  Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string; ms: number; killedAtMs?: number }> {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, HOME: tmp } });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += String(d)));
    let killedAtMs: number | undefined;
    const hard = setTimeout(() => child.kill('SIGKILL'), 60_000);
    if (opts.killWith) {
      const poll = setInterval(() => {
        if ((opts.waitFor?.() ?? true) && Date.now() - t0 >= (opts.killAfterMs ?? 0)) {
          clearInterval(poll);
          killedAtMs = Date.now();
          child.kill(opts.killWith);
        }
      }, 20);
      child.on('exit', () => clearInterval(poll));
    }
    child.on('exit', (code, signal) => {
      clearTimeout(hard);
      resolve({ code, signal, stderr, ms: Date.now() - (killedAtMs ?? t0), killedAtMs });
    });
  });
}

beforeAll(async () => {
  srv = await startFaultServer();
  srv.routes.set('/drip.json', { kind: 'drip', total: 1 << 20, bytesPerSecond: 256 });
  srv.routes.set('/drip/search', { kind: 'drip', total: 1 << 20, bytesPerSecond: 256 });
  srv.routes.set('/silent/B04.tif', { kind: 'silent' });
  srv.routes.set('/silent/item.json', { kind: 'silent' });
});

afterAll(async () => {
  await srv?.close();
  rmSync(tmp, { recursive: true, force: true });
});

describe('non-regular files are refused before they are read', () => {
  it('a FIFO as a GeoTIFF, a PNG, a STAC item, a band in a folder, eval labels and summary.json, and /dev/zero: INVALID_INPUT at once', async () => {
    const folder = path.join(tmp, 'bands');
    mkdirSync(folder);
    spawnSync('mkfifo', [path.join(folder, 'B04.tif')]);
    const detectOut = path.join(tmp, 'detect-out');
    mkdirSync(detectOut);
    spawnSync('mkfifo', [path.join(detectOut, 'summary.json')]);
    const cases: [string, () => Promise<unknown>][] = [
      ['fifo.tif', () => openScene(fifo('fifo.tif'))],
      ['fifo.png', () => openScene(fifo('fifo.png'))],
      ['fifo.json', () => openScene(fifo('fifo.json'))],
      ['bands/B04.tif', () => openScene(folder)],
      ['/dev/zero', () => openTiffFile('/dev/zero')],
      ['a folder as a TIFF', () => openTiffFile(tmp)],
      ['eval --truth fifo-labels.png', () => readLabelRaster(fifo('fifo-labels.png'))],
      ['eval --pred folder with a FIFO summary.json', () => readPrediction(detectOut)],
    ];
    for (const [name, open] of cases) {
      const t0 = Date.now();
      const err = await rejection(open());
      expect(isS2ChangeError(err, 'INVALID_INPUT'), `${name}: ${err.message}`).toBe(true);
      expect(err.message).toMatch(/not a regular file/);
      expect(Date.now() - t0, name).toBeLessThan(5000);
    }
  });

  it('readJsonFile: missing, FIFO, malformed, binary, empty, too large: typed, naming the file, never quoting it', async () => {
    const bad = path.join(tmp, 'bad.json');
    writeFileSync(bad, 'root:x:0:0:TOPSECRET:/root:/bin/bash\n');
    const bin = path.join(tmp, 'bin.json');
    writeFileSync(bin, Buffer.from([0xff, 0xfe, 0x00, 0x41, 0xc3]));
    const empty = path.join(tmp, 'empty.json');
    writeFileSync(empty, '');
    const big = path.join(tmp, 'big.json');
    writeFileSync(big, `[${'0,'.repeat(600)}0]`);
    const cases: [string, string, number | undefined, RegExp][] = [
      [path.join(tmp, 'missing.json'), 'INPUT_NOT_FOUND', undefined, /ENOENT/],
      [fifo('model-fifo.json'), 'INVALID_INPUT', undefined, /named pipe/],
      [bad, 'INVALID_INPUT', undefined, /not valid JSON.*content not shown/],
      [bin, 'INVALID_INPUT', undefined, /binary data/],
      [empty, 'INVALID_INPUT', undefined, /an empty file/],
      [big, 'INVALID_INPUT', 1000, /at most 1000 bytes/],
    ];
    for (const [file, code, max, re] of cases) {
      const err = await rejection(readJsonFile(file, 'the --model file', max));
      expect(isS2ChangeError(err, code as 'INVALID_INPUT'), `${file}: ${err.message}`).toBe(true);
      expect(err.message).toContain(file);
      expect(err.message).toMatch(re);
      expect(err.message).not.toContain('TOPSECRET');
      expect(err.message).not.toContain('root:x');
    }
    await expect(readJsonFile(path.join(tmp, 'ok.json'), 'x').catch((e) => e.code)).resolves.toBe('INPUT_NOT_FOUND');
    writeFileSync(path.join(tmp, 'ok.json'), '\uFEFF{"a": [1, 2]}');
    await expect(readJsonFile(path.join(tmp, 'ok.json'), 'x')).resolves.toEqual({ a: [1, 2] });
  });

  it('checkModel: a JSON that is not a model, or a damaged forest, is INVALID_INPUT naming the file', () => {
    for (const v of [null, 3, [], { format: 'other' }, { format: 's2change-random-forest', version: 1, spec: { bands: [] }, forest: { nope: 1 } }]) {
      let err: unknown = null;
      try {
        checkModel(v, 'm.json');
      } catch (e) {
        err = e;
      }
      expect(isS2ChangeError(err, 'INVALID_INPUT'), JSON.stringify(v)).toBe(true);
      expect((err as Error).message).toContain('m.json');
    }
  });
});

describe('HTTP fault server: slow and silent servers end in time', () => {
  it('a body dripped at 256 bytes/s trips the total request time: TIME_LIMIT, one request, not retried', async () => {
    const before = srv.requests.length;
    const t0 = Date.now();
    const err = await rejection(httpFetch(srv.url('drip.json'), { allowPrivateNetwork: true, requestTimeMs: 1200, timeoutMs: 5000, retries: 3, retryBaseMs: 5 }));
    const ms = Date.now() - t0;
    expect(isS2ChangeError(err, 'TIME_LIMIT'), err.message).toBe(true);
    expect(err.message).toMatch(/--request-time/);
    expect(ms).toBeGreaterThanOrEqual(1100);
    expect(ms).toBeLessThan(8000);
    expect(srv.requests.length - before).toBe(1);
  });

  it('the same drip through openScene of a STAC item URL', async () => {
    const err = await rejection(openScene(srv.url('drip.json'), { remote: { allowPrivateNetwork: true, requestTimeMs: 800, retries: 0 } }));
    expect(isS2ChangeError(err, 'TIME_LIMIT'), err.message).toBe(true);
  });
});

describe.skipIf(!existsSync(CLI))('the CLI ends: --request-time, --max-time, SIGTERM (compiled CLI)', () => {
  const net = ['--allow-private-network', '--no-cache', '--timeout', '60'];

  it('search against a dripping STAC API: exit 1 TIME_LIMIT with --request-time 1', async () => {
    const r = await runCli(['search', '--stac-api', srv.url('drip'), '--bbox', '0,0,1,1', '--datetime', '2020-01-01/2020-02-01',
      '--allow-private-network', '--request-time', '1']);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/error \[TIME_LIMIT\]/);
    expect(r.stderr).not.toMatch(/unexpected error|at .*\.js:\d+/);
    expect(r.ms).toBeLessThan(30_000);
  });

  it('detect waiting on a silent server: --max-time 2 ends it with TIME_LIMIT, exit 1, no output folder left', async () => {
    const out = path.join(tmp, 'out-maxtime');
    const r = await runCli(['detect', '--preset', 'water', '--after', srv.url('silent/B04.tif'), '--out', out, ...net, '--max-time', '2']);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/error \[TIME_LIMIT\].*--max-time/);
    expect(r.stderr).not.toMatch(/interrupted by SIGTERM/);
    expect(r.ms).toBeLessThan(30_000);
    expect(existsSync(out) ? readdirSync(out) : []).toEqual([]);
  });

  it('detect waiting on a silent server ends by SIGTERM within a few seconds of it, after removing its temp folder', async () => {
    const out = path.join(tmp, 'out-sigterm');
    const staged = () => existsSync(out) && readdirSync(out).some((n) => n.startsWith('.s2change-tmp'));
    const r = await runCli(['detect', '--preset', 'water', '--after', srv.url('silent/B04.tif'), '--out', out, ...net],
      { killWith: 'SIGTERM', waitFor: staged, killAfterMs: 300 });
    expect(r.killedAtMs, r.stderr).toBeDefined();
    expect(r.signal, r.stderr).toBe('SIGTERM');
    expect(r.stderr).toMatch(/interrupted by SIGTERM/);
    expect(r.ms).toBeLessThan(10_000);
    expect(existsSync(out)).toBe(false);
  });

  it('--model: a FIFO, a missing file and malformed JSON are typed errors (exit 1), never a stack trace', async () => {
    const bad = path.join(tmp, 'model-bad.json');
    writeFileSync(bad, '{"format": "s2change-random-forest", ');
    for (const [model, code] of [[fifo('cli-model.json'), 'INVALID_INPUT'], [path.join(tmp, 'nope.json'), 'INPUT_NOT_FOUND'], [bad, 'INVALID_INPUT']] as const) {
      const r = await runCli(['detect', '--preset', 'water', '--after', tmp, '--method', 'supervised', '--model', model, '--out', path.join(tmp, 'o-model')]);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toContain(`error [${code}]`);
      expect(r.stderr).toContain(model);
      expect(r.stderr).not.toMatch(/unexpected error|at .*\.js:\d+/);
      expect(r.ms).toBeLessThan(30_000);
    }
  });
});
