/**
 * The optional libdeflate binding (native/libdeflate, built by `npm run build` when libdeflate-dev is installed):
 * what it inflates equals node:zlib's inflate, what it deflates node:zlib inflates back (an independent decoder),
 * bombs and corrupt data are refused; and a whole `detect` run gives the same pixels with the binding and with
 * S2CHANGE_NO_LIBDEFLATE=1 (node:zlib), as GDAL reads them.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { deflateSync, inflateSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { libdeflate } from '../src/io/libdeflate.js';
import { dataDir, hasGdal, pythonJson } from './helpers/gdal.js';

const SKIP = libdeflate ? '' : ' (skipped: the binding is not built — apt-get install libdeflate-dev, then npm run build)';

function sample(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245 + 12345) & 0x7fffffff;
    out[i] = (i >> 7) % 7 === 0 ? s & 0xff : (i >> 9) & 0xff; // runs and noise, like predictor-differenced tiles
  }
  return out;
}

describe.skipIf(!libdeflate)(`libdeflate binding${SKIP}`, () => {
  const ld = libdeflate!;

  it('inflates node:zlib streams to the same bytes, at every zlib level', () => {
    const raw = sample(512 * 512 * 2, 7);
    for (const level of [1, 6, 9]) {
      const z = deflateSync(raw, { level });
      const out = new Uint8Array(raw.length);
      expect(ld.inflate(z, out)).toBe(raw.length);
      expect(Buffer.compare(Buffer.from(out), Buffer.from(raw))).toBe(0);
    }
  });

  it('what it deflates, node:zlib inflates back exactly', () => {
    const raw = sample(300_001, 3);
    for (const level of [1, 6, 12]) {
      const out = new Uint8Array(ld.deflateBound(raw.length, level));
      const n = ld.deflate(raw, out, level);
      expect(n).toBeGreaterThan(0);
      expect(Buffer.compare(inflateSync(out.subarray(0, n)), Buffer.from(raw))).toBe(0);
    }
  });

  it('a stream larger than the output (a bomb) gives -1; corrupt data throws', () => {
    const z = deflateSync(new Uint8Array(1 << 20)); // 1 MiB of zeros in ~1 KB
    expect(ld.inflate(z, new Uint8Array(4096))).toBe(-1);
    const bad = Uint8Array.from(z);
    bad.fill(0xff, 2, 40);
    expect(() => ld.inflate(bad, new Uint8Array(1 << 20))).toThrow(/corrupt/);
    expect(() => ld.deflate(new Uint8Array(8), new Uint8Array(64), 13)).toThrow(/0\.\.12/);
  });

  it('mallocTune sets glibc\'s arena limit and mmap threshold (1), and refuses non-positive values', () => {
    const glibc = Boolean((process.report.getReport() as { header?: { glibcVersionRuntime?: string } }).header?.glibcVersionRuntime);
    expect(ld.mallocTune!(2, 4 * 1024 * 1024)).toBe(glibc ? 1 : -1);
    expect(() => ld.mallocTune!(0, 1024)).toThrow(/positive/);
  });
});

const CLI = path.resolve('dist/cli/main.js');
const FIRE = path.join(dataDir(), 'wildfire-calfire-s2', 'data');
const ready = Boolean(libdeflate) && existsSync(CLI) && existsSync(FIRE) && hasGdal();

describe.skipIf(!ready)('detect with and without the binding', () => {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 's2change-libdeflate-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('the same change.tif and dnbr.tif pixels (GDAL/numpy), whole-array and block engines', () => {
    const outs: string[] = [];
    for (const engine of ['whole', 'blocks']) {
      for (const env of [{}, { S2CHANGE_NO_LIBDEFLATE: '1' }]) {
        const out = path.join(tmp, `${engine}-${outs.length}`);
        const r = spawnSync(process.execPath, [CLI, 'detect', '--before', `${FIRE}/pre_fire/5_INCIDENT_20240715.tif`,
          '--after', `${FIRE}/post_fire/5_INCIDENT_20240715.tif`, '--preset', 'wildfire', '--engine', engine, '--out', out],
        { encoding: 'utf8', env: { ...process.env, ...env } });
        expect(r.status, r.stderr).toBe(0);
        outs.push(out);
      }
    }
    const same = pythonJson(String.raw`
import sys, json, numpy as np
from osgeo import gdal
def read(d, f): return gdal.Open(d + '/' + f).ReadAsArray()
ref = sys.argv[1]
print(json.dumps([bool(np.array_equal(read(ref, 'change.tif'), read(d, 'change.tif')))
  and bool(np.array_equal(read(ref, 'dnbr.tif'), read(d, 'dnbr.tif'), equal_nan=True)) for d in sys.argv[2:]]))`, outs);
    expect(same).toEqual([true, true, true]);
  });
});
