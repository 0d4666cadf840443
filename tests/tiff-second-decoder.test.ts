/**
 * GeoTIFFs GDAL reads that our reader does not decode itself, read through the second decoder (geotiff.js in the
 * decode sandbox), against GDAL's own reading; plus the refusals that are by design, and hostile files that must
 * neither hang nor crash. The corpus is made here by bench/tiff_corpus.py --quick (GDAL, seeded); the full corpus
 * figure comes from `node bench/tiff-corpus.mjs` (docs/inputs.md).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { openScene } from '../src/io/scene.js';
import { openTiffFile } from '../src/io/tiff/index.js';
import { mayFallBack, openTiffWithGeotiffJs } from '../src/io/decode/geotiff-fallback.js';
import { decodeSandboxed, decodeWorkerUrl } from '../src/io/decode/decode-sandbox.js';
import { GDAL_SKIP_REASON, hasGdal, run } from './helpers/gdal.js';

const CLI = path.resolve('dist/cli/main.js');
const ready = hasGdal() && decodeWorkerUrl() !== null && existsSync(CLI);
const dir = mkdtempSync(path.join(os.tmpdir(), 's2change-corpus-quick-'));

interface Entry { name: string; file: string; gdalOpens?: boolean; width: number; height: number; bands: number; lossy: boolean }
let manifest: Entry[] = [];
const entry = (name: string) => manifest.find((m) => m.name === name)!;

function gdalValues(file: string): Float64Array {
  const b = readFileSync(`${file}.gdal.f64`);
  return new Float64Array(b.buffer, b.byteOffset, b.byteLength / 8);
}

async function ours(file: string): Promise<{ values: Float64Array; second: boolean }> {
  let second = false;
  const tiff = await openTiffFile(file).catch(async (err) => {
    if (!mayFallBack(err)) throw err;
    second = true;
    return openTiffWithGeotiffJs(file, { timeMs: 30_000 });
  });
  const img = tiff.images[0]!;
  const planes = await img.readWindow();
  const out = new Float64Array(planes.length * img.width * img.height);
  planes.forEach((p, b) => out.set(Float64Array.from(p as ArrayLike<number>, Number), b * img.width * img.height));
  await tiff.close();
  return { values: out, second };
}

function maxDiff(a: Float64Array, b: Float64Array): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) if (!(Number.isNaN(a[i]!) && Number.isNaN(b[i]!))) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

describe.skipIf(!ready)(`second decoder against GDAL${ready ? '' : ` — skipped: ${GDAL_SKIP_REASON} or npm run build missing`}`, () => {
  beforeAll(() => {
    run('/usr/bin/python3', [path.resolve('bench/tiff_corpus.py'), dir, '--quick']);
    manifest = JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
  }, 60_000);

  const lossless = ['Byte_LERC_tiled', 'Float32_LERC_tiled', 'UInt16_PACKBITS_tiled', 'nbits1_NONE', 'nbits4_DEFLATE', 'nbits15_NONE',
    'int8_NONE', 'float16_DEFLATE', 'UInt16_LZMA_tiled', 'webp_rgb', 'UInt16_PACKBITS_tiled_planar', 'Byte_LERC_strips_planar'];
  it.each(lossless)('%s: the same values as GDAL', async (name) => {
    const e = entry(name);
    expect(e?.gdalOpens, `${name} in the GDAL corpus`).toBe(true);
    const r = await ours(e.file);
    expect(maxDiff(r.values, gdalValues(e.file)), name).toBe(0);
  }, 60_000);

  // Lossy JPEG: geotiff.js's own IDCT differs from libjpeg's by a grey level or two; with YCbCr 2x2 chroma subsampling
  // its chroma upsampling (nearest) differs from libjpeg's smooth ("fancy") upsampling by a few more.
  it.each([['jpeg_1b_tiledYES', 2], ['jpeg_ycbcr_tiled', 8]] as const)('%s (lossy JPEG): within %d grey levels of GDAL', async (name, tol) => {
    const e = entry(name);
    const r = await ours(e.file);
    expect(r.second).toBe(true);
    const d = maxDiff(r.values, gdalValues(e.file));
    expect(d).toBeGreaterThan(0); // a real decode by another library, not GDAL's bytes
    expect(d).toBeLessThanOrEqual(tol);
  }, 60_000);

  it('a JPEG band in a band folder opens as a scene (second decoder), with the grid GDAL reports', async () => {
    const folder = mkdtempSync(path.join(os.tmpdir(), 's2change-jpeg-band-'));
    const b04 = path.join(folder, 'B04.tif');
    writeFileSync(b04, readFileSync(entry('jpeg_1b_tiledYES').file));
    const scene = await openScene(folder);
    try {
      const ref = scene.bands.get('B04')!;
      expect(ref.decodedInSandbox).toBe(true);
      expect(ref.grid).toEqual({ crs: { epsg: 32629 }, transform: [499980, 20, 0, 5900040, 0, -20], width: 67, height: 53 });
    } finally {
      await scene.close();
    }
  });

  it.each([['int64_none', /64-bit integer samples are not supported.*gdal_translate -ot Float64/],
    ['cfloat32_none', /complex samples are not supported.*gdal_translate -ot Float32/]])('%s: a clear refusal naming the conversion', async (name, re) => {
    const r = spawnSync(process.execPath, [CLI, 'info', entry(name).file], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(re);
  });

  it('`info` describes a file only the second decoder reads, and says which decoder it was', () => {
    const r = spawnSync(process.execPath, [CLI, 'info', '--json', entry('Float32_LERC_tiled').file], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.tiff.compression).toMatch(/lerc.*geotiff\.js/);
    expect(j.secondDecoder).toMatch(/^geotiff\.js/);
  });

  it('hostile: a JPEG TIFF whose IFD points to itself ends in CORRUPT_TIFF at once (geotiff.js, which would loop, is never run)', () => {
    const b = new Uint8Array(readFileSync(entry('jpeg_1b_tiledYES').file));
    const dv = new DataView(b.buffer);
    expect(dv.getUint16(0, true)).toBe(0x4949);
    const ifd = dv.getUint32(4, true);
    dv.setUint32(ifd + 2 + 12 * dv.getUint16(ifd, true), ifd, true);
    const f = path.join(dir, 'loop-jpeg.tif');
    writeFileSync(f, b);
    const t0 = Date.now();
    const r = spawnSync(process.execPath, [CLI, 'info', f], { encoding: 'utf8', timeout: 30_000 });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/CORRUPT_TIFF/);
    expect(Date.now() - t0).toBeLessThan(20_000);
  });

  it('hostile: the second decoder is stopped by its time budget (DecodeTimeoutError), and a truncated file is an error, not a hang', async () => {
    const e = entry('UInt16_LZMA_tiled');
    await expect(decodeSandboxed({ op: 'geotiff', name: e.file, path: e.file, maxBytes: 1e9 }, { timeMs: 1 })).rejects.toMatchObject({ code: 'DECODE_TIMEOUT' });
    const cut = path.join(dir, 'cut.tif');
    const full = readFileSync(e.file);
    writeFileSync(cut, full.subarray(0, Math.floor(full.length * 0.6)));
    await expect(openTiffWithGeotiffJs(cut, { timeMs: 20_000 })).rejects.toThrow();
  }, 60_000);
});

describe('LZMA decompression-bomb guard', () => {
  it('xzDeclaredSize reads the size an .xz stream declares (Python lzma as the encoder), and refuses a stream without a footer', async () => {
    const { xzDeclaredSize } = await import('../src/io/decode/xz-size.js');
    const f = path.join(dir, 'zeros.xz');
    run('/usr/bin/python3', ['-c', 'import lzma,sys; open(sys.argv[1],"wb").write(lzma.compress(bytes(10_000_000)))', f]);
    const xz = new Uint8Array(readFileSync(f));
    expect(xz.length).toBeLessThan(10_000); // a 1000:1 bomb
    expect(xzDeclaredSize(xz)).toBe(10_000_000);
    expect(() => xzDeclaredSize(xz.subarray(0, xz.length - 1))).toThrow(/footer/);
  });
});
