/**
 * The decode sandbox: untrusted files decoded in a Worker with a time and heap budget. Typed errors must cross
 * the worker boundary intact; budgets must stop the worker quickly. The expected description of a valid file is
 * the in-process reader's (itself checked against GDAL in tiff-reader.test.ts).
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  describeTiff, inspectTiffSandboxed, openTiff, openTiffFile, sandboxFailure, sandboxWorkerUrl,
} from '../src/io/tiff/index.js';
import { memorySource } from '../src/io/memory-source.js';
import { CorruptTiffError, DecodeTimeoutError, LimitExceededError, NotATiffError, S2ChangeError, UsageError } from '../src/errors.js';
import { dataDir, GDAL_SKIP_REASON, hasGdal, pythonJson } from './helpers/gdal.js';
import { tinyTilesTiff, validTiff } from './helpers/tiff-builder.js';

const worker = sandboxWorkerUrl();
const SKIP = worker ? '' : ' (skipped: dist/io/tiff/sandbox-worker.js is missing; run `npm run build` first)';

describe.skipIf(!worker)(`decode sandbox${SKIP}`, () => {
  let dir = '';
  const file = (name: string, bytes: Uint8Array) => {
    const p = path.join(dir, name);
    writeFileSync(p, bytes);
    return p;
  };
  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 's2change-sandbox-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('a valid file: the same description as in-process, and the probe decodes', async () => {
    const p = file('ok.tif', validTiff().bytes);
    const inProcess = await openTiffFile(p);
    const want = describeTiff(inProcess);
    await inProcess.close();
    const got = await inspectTiffSandboxed(p, { timeMs: 10_000 });
    expect(got.description).toEqual(want);
    expect(got.probed).toEqual([{ image: 0, window: { x: 0, y: 0, width: 40, height: 24 }, bands: 2 }]);
    const all = await inspectTiffSandboxed(p, { probe: 'all', timeMs: 10_000 });
    expect(all.probed.map((a) => a.window)).toEqual([{ x: 0, y: 0, width: 40, height: 24 }]);
  });

  const B04 = path.join(dataDir(), 's2-l2a-cog-29RKH/tests/fixtures/sentinel-cogs/sentinel-s2-l2a-cogs/29/R/KH/2020/2/S2A_29RKH_20200219_0_L2A/B04.tif');
  it.skipIf(!existsSync(B04))('the real B04 COG: the same description as in-process', async () => {
    const f = await openTiffFile(B04);
    const want = describeTiff(f);
    await f.close();
    const got = await inspectTiffSandboxed(B04, { timeMs: 10_000 });
    expect(got.description).toEqual(want);
    expect(got.description.crs).toBe('EPSG:32629');
  });

  it('a looping IFD -> CorruptTiffError through the worker boundary, same code, fields and message', async () => {
    const { bytes, ifdOffsets, nextPtrs } = validTiff();
    const looped = bytes.slice();
    new DataView(looped.buffer).setUint32(nextPtrs[0], ifdOffsets[0], true);
    const p = file('loop.tif', looped);
    const inProcess = (await openTiff(memorySource(looped, p)).catch((e: unknown) => e)) as S2ChangeError;
    const err = await inspectTiffSandboxed(p, { timeMs: 10_000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CorruptTiffError);
    const e = err as CorruptTiffError;
    expect(e.code).toBe('CORRUPT_TIFF');
    expect(e.input).toBe(p);
    expect(e.message).toMatch(/loops back/);
    expect(e.message).toBe(inProcess.message);
    expect([e.expected, e.found, e.fix]).toEqual([inProcess.expected, inProcess.found, inProcess.fix]);
  });

  it('not a TIFF -> NotATiffError through the worker boundary', async () => {
    const p = file('page.tif', new TextEncoder().encode('<!DOCTYPE html><html>403</html>'));
    await expect(inspectTiffSandboxed(p, { timeMs: 10_000 })).rejects.toBeInstanceOf(NotATiffError);
  });

  it('a file with 8M tiles -> LimitExceededError through the worker boundary', async () => {
    const p = file('tiles.tif', tinyTilesTiff());
    const err = await inspectTiffSandboxed(p, { timeMs: 20_000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LimitExceededError);
    expect(String(err)).toMatch(/too many tiles/);
    expect(String(err)).toContain(p);
  });

  it('invalid budgets -> UsageError naming the option', async () => {
    await expect(inspectTiffSandboxed('x.tif', { timeMs: 0 })).rejects.toThrow(UsageError);
    await expect(inspectTiffSandboxed('x.tif', { timeMs: Number.NaN })).rejects.toThrow(/--decode-timeout/);
    await expect(inspectTiffSandboxed('x.tif', { maxOldGenerationMb: -1 })).rejects.toThrow(/--decode-memory/);
    await expect(inspectTiffSandboxed('x.tif', { maxOldGenerationMb: 100 })).rejects.toThrow(/>= 256/);
  });

  describe.skipIf(!hasGdal())(`a slow file${hasGdal() ? '' : ` (skipped: ${GDAL_SKIP_REASON})`}`, () => {
    let slow = '';
    beforeAll(() => {
      // 50 KB on disk: one 8192 x 8192 LZW strip of zeros (64 MiB decoded, within every reader limit); any probe
      // window has to decode the whole strip, which takes our JS LZW decoder several hundred ms.
      slow = path.join(dir, 'slow.tif');
      pythonJson(String.raw`
import sys, json, numpy as np
from osgeo import gdal
gdal.UseExceptions()
ds = gdal.GetDriverByName('GTiff').Create(sys.argv[1], 8192, 8192, 1, gdal.GDT_Byte, ['COMPRESS=LZW', 'BLOCKYSIZE=8192'])
ds.GetRasterBand(1).WriteArray(np.zeros((8192, 8192), 'uint8')); ds = None
print(json.dumps(1))`, [slow]);
    });

    it('a tiny time budget -> DecodeTimeoutError quickly, naming the file, the budget and --decode-timeout', async () => {
      const t0 = performance.now();
      const err = await inspectTiffSandboxed(slow, { timeMs: 60 }).catch((e: unknown) => e);
      const ms = performance.now() - t0;
      expect(err).toBeInstanceOf(DecodeTimeoutError);
      expect((err as DecodeTimeoutError).code).toBe('DECODE_TIMEOUT');
      expect(String(err)).toContain(slow);
      expect(String(err)).toMatch(/60 ms/);
      expect(String(err)).toMatch(/--decode-timeout/);
      expect(ms).toBeLessThan(1000);
    });

    it('the same file with a generous budget decodes (it is slow, not broken)', async () => {
      const got = await inspectTiffSandboxed(slow, { timeMs: 20_000 });
      expect(got.description).toMatchObject({ width: 8192, height: 8192, compression: 'lzw', blockSize: [8192, 8192] });
      expect(got.probed).toHaveLength(1);
    });
  });
});

describe('sandbox failure mapping', () => {
  it('a worker out of heap (ERR_WORKER_OUT_OF_MEMORY) -> LimitExceededError naming the file, budget and --decode-memory', () => {
    const oom = Object.assign(new Error('Worker terminated due to reaching memory limit: JS heap out of memory'), { code: 'ERR_WORKER_OUT_OF_MEMORY' });
    const e = sandboxFailure(oom, 'big.tif', 300);
    expect(e).toBeInstanceOf(LimitExceededError);
    expect(e.message).toMatch(/^big\.tif: /);
    expect(e.message).toMatch(/300 MB/);
    expect(e.message).toMatch(/--decode-memory 600/);
    expect(sandboxFailure(new RangeError('Array buffer allocation failed'), 'a.tif', 300)).toBeInstanceOf(LimitExceededError);
  });
  it('any other worker error (a bug) is passed through unchanged', () => {
    const bug = new TypeError('x is undefined');
    expect(sandboxFailure(bug, 'a.tif', 300)).toBe(bug);
  });
});
