/**
 * Hostile and broken TIFFs: every one must end in a typed S2ChangeError, fast, without huge allocations.
 * Files are crafted here byte by byte (a tiny TIFF writer below); expected pixel values are computed by hand.
 */
import { deflateSync } from 'node:zlib';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { openTiff } from '../src/io/tiff/index.js';
import type { ReaderLimits } from '../src/io/tiff/types.js';
import { memorySource } from '../src/io/memory-source.js';
import {
  CorruptTiffError, LimitExceededError, NotATiffError, S2ChangeError, UnsupportedCompressionError, UnsupportedTiffError,
} from '../src/errors.js';
import { hasGdal, run } from './helpers/gdal.js';
import { buildTiff, tinyTilesTiff, validTiff, value } from './helpers/tiff-builder.js';

function setU32(b: Uint8Array, pos: number, v: number): Uint8Array {
  const c = b.slice();
  new DataView(c.buffer).setUint32(pos, v, true);
  return c;
}

/** Position of the value field of `tag` in the IFD at `ifd` (classic LE). */
function entryValuePos(b: Uint8Array, ifd: number, tag: number): number {
  const dv = new DataView(b.buffer, b.byteOffset);
  const n = dv.getUint16(ifd, true);
  for (let i = 0; i < n; i++) if (dv.getUint16(ifd + 2 + i * 12, true) === tag) return ifd + 2 + i * 12 + 8;
  throw new Error(`tag ${tag} not found`);
}

async function openAndReadAll(bytes: Uint8Array, limits?: Partial<ReaderLimits>) {
  const f = await openTiff(memorySource(bytes, 'crafted.tif'), limits);
  for (const img of f.images) await img.readWindow();
  return f;
}

async function timed<T>(p: Promise<T>): Promise<{ ms: number; err: unknown }> {
  const t0 = performance.now();
  try {
    await p;
    return { ms: performance.now() - t0, err: null };
  } catch (err) {
    return { ms: performance.now() - t0, err };
  }
}

describe('the hand-made reference file', () => {
  it('decodes to the values computed by hand (DEFLATE + predictor 2, edge tiles cropped)', async () => {
    const { bytes, W, H } = validTiff();
    const f = await openTiff(memorySource(bytes, 'ok.tif'));
    const img = f.images[0];
    expect(img.grid).toEqual({ crs: { epsg: 32631 }, transform: [600000, 10, 0, 5000000, 0, -10], width: W, height: H });
    expect(img.nodata).toBe(0);
    const [b0, b1] = await img.readWindow();
    for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
      if (b0[y * W + x] !== value(x, y, 0) || b1[y * W + x] !== value(x, y, 1)) throw new Error(`pixel ${x},${y} differs`);
    }
    const [w1] = await img.readWindow({ x: 13, y: 9, width: 20, height: 10 }, [1]);
    expect(w1[0]).toBe(value(13, 9, 1));
    expect(w1[19 * 1 + 9 * 20]).toBe(value(32, 18, 1));
  });
});

describe('hostile files fail with typed errors, fast', () => {
  it('an IFD that points to itself -> CorruptTiffError in well under a second', async () => {
    const { bytes, ifdOffsets, nextPtrs } = validTiff();
    const { ms, err } = await timed(openTiff(memorySource(setU32(bytes, nextPtrs[0], ifdOffsets[0]), 'loop.tif')));
    expect(err).toBeInstanceOf(CorruptTiffError);
    expect(String(err)).toMatch(/loop/);
    expect(ms).toBeLessThan(200);
  });

  it('an IFD cycle of two -> CorruptTiffError', async () => {
    const { bytes, ifdOffsets, nextPtrs } = validTiff({ extraIfd: true });
    const { ms, err } = await timed(openTiff(memorySource(setU32(bytes, nextPtrs[1], ifdOffsets[0]), 'cycle.tif')));
    expect(err).toBeInstanceOf(CorruptTiffError);
    expect(ms).toBeLessThan(200);
  });

  it('more IFDs than limits.maxIfds -> LimitExceededError naming the limit', async () => {
    const { bytes } = validTiff({ extraIfd: true });
    await expect(openTiff(memorySource(bytes, 'two.tif'), { maxIfds: 1 })).rejects.toThrow(LimitExceededError);
    await expect(openTiff(memorySource(bytes, 'two.tif'), { maxIfds: 1 })).rejects.toThrow(/maxIfds/);
  });

  it('a deflate bomb (16x16 tile inflating to 32 MiB) -> CorruptTiffError fast, no big allocation', async () => {
    const bomb = new Uint8Array(deflateSync(new Uint8Array(32 * 1024 * 1024)));
    const { bytes } = buildTiff([{
      entries: [[256, 3, [16]], [257, 3, [16]], [258, 3, [8]], [259, 3, [8]], [277, 3, [1]], [322, 3, [16]], [323, 3, [16]]],
      tiles: [bomb],
    }]);
    const before = process.memoryUsage().arrayBuffers;
    const { ms, err } = await timed(openAndReadAll(bytes));
    expect(err).toBeInstanceOf(CorruptTiffError);
    expect(String(err)).toMatch(/bomb|past/);
    expect(ms).toBeLessThan(500);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(8 * 1024 * 1024);
  });

  it('a ZSTD frame declaring a huge size -> CorruptTiffError before decoding', async () => {
    const frame = new Uint8Array([0x28, 0xb5, 0x2f, 0xfd, 0xe0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0]);
    const { bytes } = buildTiff([{
      entries: [[256, 3, [16]], [257, 3, [16]], [258, 3, [8]], [259, 3, [50000]], [277, 3, [1]], [322, 3, [16]], [323, 3, [16]]],
      tiles: [frame],
    }]);
    const { err } = await timed(openAndReadAll(bytes));
    expect(err).toBeInstanceOf(CorruptTiffError);
  });

  it('a truncated file -> CorruptTiffError (or NotATiffError when the header itself is cut)', async () => {
    const { bytes } = validTiff();
    for (const len of [0, 3, 7, 8, 20, bytes.length >> 1, bytes.length - 5]) {
      const { err } = await timed(openAndReadAll(bytes.slice(0, len)));
      expect(err, `length ${len}`).toBeInstanceOf(len < 8 ? NotATiffError : CorruptTiffError);
    }
  });

  it('a tile offset past the end of the file -> CorruptTiffError at open', async () => {
    const { bytes, ifdOffsets, tiles } = validTiff();
    const arrPos = new DataView(bytes.buffer).getUint32(entryValuePos(bytes, ifdOffsets[0], 324), true);
    expect(tiles.length).toBeGreaterThan(1);
    const bad = setU32(bytes, arrPos + 4, bytes.length + 100);
    await expect(openTiff(memorySource(bad, 'eof.tif'))).rejects.toThrow(/past the end/);
    await expect(openTiff(memorySource(bad, 'eof.tif'))).rejects.toBeInstanceOf(CorruptTiffError);
  });

  it('a tile table with the wrong number of entries -> CorruptTiffError', async () => {
    const { bytes, ifdOffsets } = validTiff();
    const countPos = entryValuePos(bytes, ifdOffsets[0], 324) - 4; // TileOffsets count: 6 tiles -> 2
    await expect(openTiff(memorySource(setU32(bytes, countPos, 2), 'count.tif'))).rejects.toThrow(/6 entries/);
  });

  it('absurd dimensions (1e6 x 1e6) -> LimitExceededError naming --max-pixels, before allocating', async () => {
    const { bytes } = buildTiff([{
      entries: [[256, 4, [1e6]], [257, 4, [1e6]], [258, 3, [8]], [259, 3, [8]], [277, 3, [1]], [322, 3, [16]], [323, 3, [16]]],
      tiles: [new Uint8Array(10)],
    }]);
    const { ms, err } = await timed(openTiff(memorySource(bytes, 'huge.tif')));
    expect(err).toBeInstanceOf(LimitExceededError);
    expect(String(err)).toMatch(/--max-pixels/);
    expect(ms).toBeLessThan(200);
  });

  it('8M 1x1 tiles (an 8 MB file) -> LimitExceededError naming the tile count, without building 8M-entry arrays', async () => {
    const before = process.memoryUsage().heapUsed;
    const { ms, err } = await timed(openTiff(memorySource(tinyTilesTiff(), 'tiles.tif')));
    expect(err).toBeInstanceOf(LimitExceededError);
    expect(String(err)).toMatch(/too many tiles.*8388608/);
    expect(ms).toBeLessThan(200);
    expect(process.memoryUsage().heapUsed - before).toBeLessThan(32 * 1024 * 1024);
  });

  it('a window larger than limits.maxWindowBytes -> LimitExceededError naming --max-memory', async () => {
    const { bytes } = validTiff();
    const f = await openTiff(memorySource(bytes, 'ok.tif'), { maxWindowBytes: 1000 });
    await expect(f.images[0].readWindow()).rejects.toThrow(/--max-memory/);
  });

  it('a zero tile size -> CorruptTiffError', async () => {
    const { bytes } = buildTiff([{
      entries: [[256, 3, [16]], [257, 3, [16]], [258, 3, [8]], [259, 3, [1]], [277, 3, [1]], [322, 3, [0]], [323, 3, [16]]],
      tiles: [new Uint8Array(256)],
    }]);
    await expect(openTiff(memorySource(bytes, 'zero.tif'))).rejects.toThrow(CorruptTiffError);
    await expect(openTiff(memorySource(bytes, 'zero.tif'))).rejects.toThrow(/zero tile size/);
  });

  it('zero width -> CorruptTiffError', async () => {
    const { bytes } = buildTiff([{
      entries: [[256, 3, [0]], [257, 3, [16]], [258, 3, [8]], [277, 3, [1]], [322, 3, [16]], [323, 3, [16]]],
      tiles: [new Uint8Array(256)],
    }]);
    await expect(openTiff(memorySource(bytes, 'w0.tif'))).rejects.toThrow(CorruptTiffError);
  });

  it('not a TIFF: PNG, HTML, JSON and ZIP bytes -> NotATiffError saying what they look like', async () => {
    const cases: [string, Uint8Array, RegExp][] = [
      ['x.png', new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13]), /PNG/],
      ['x.html', new TextEncoder().encode('<!DOCTYPE html><html><body>403 Forbidden</body></html>'), /HTML/],
      ['x.json', new TextEncoder().encode('{"type":"FeatureCollection"}'), /JSON/],
      ['x.zip', new Uint8Array([0x50, 0x4b, 0x03, 0x04, 20, 0, 0, 0, 8, 0]), /ZIP/],
    ];
    for (const [name, b, re] of cases) {
      const p = openTiff(memorySource(b, name));
      await expect(p).rejects.toBeInstanceOf(NotATiffError);
      await expect(openTiff(memorySource(b, name))).rejects.toThrow(re);
      await expect(openTiff(memorySource(b, name))).rejects.toThrow(name);
    }
  });

  it('JPEG compression -> UnsupportedCompressionError suggesting gdal_translate -co COMPRESS=DEFLATE', async () => {
    const { bytes } = buildTiff([{
      entries: [[256, 3, [16]], [257, 3, [16]], [258, 3, [8]], [259, 3, [7]], [277, 3, [1]], [322, 3, [16]], [323, 3, [16]]],
      tiles: [new Uint8Array(100)],
    }]);
    await expect(openTiff(memorySource(bytes, 'jpeg.tif'))).rejects.toBeInstanceOf(UnsupportedCompressionError);
    await expect(openTiff(memorySource(bytes, 'jpeg.tif'))).rejects.toThrow(/JPEG.*gdal_translate -co COMPRESS=DEFLATE/);
  });

  it('1-bit samples -> UnsupportedTiffError', async () => {
    const { bytes } = buildTiff([{
      entries: [[256, 3, [16]], [257, 3, [16]], [258, 3, [1]], [259, 3, [1]], [277, 3, [1]], [322, 3, [16]], [323, 3, [16]]],
      tiles: [new Uint8Array(32)],
    }]);
    await expect(openTiff(memorySource(bytes, 'bits.tif'))).rejects.toBeInstanceOf(UnsupportedTiffError);
  });
});

describe('property: mutated or truncated files decode or throw an S2ChangeError, never hang', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 's2change-hostile-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const bases: [string, Uint8Array][] = [
    ['deflate-pred2', validTiff().bytes],
    ['none', validTiff({ compression: 1, predictor: 1 }).bytes],
  ];
  if (hasGdal()) {
    // small GDAL-written files for the codecs and layouts we do not write here (LZW, ZSTD, PackBits, float predictor, strips)
    const src = path.join(dir, 'src.tif');
    writeFileSync(src, validTiff().bytes);
    const variants: [string, string[]][] = [
      ['lzw-pred2-strips', ['-co', 'COMPRESS=LZW', '-co', 'PREDICTOR=2', '-co', 'BLOCKYSIZE=5']],
      ['zstd-float-pred3', ['-ot', 'Float32', '-co', 'COMPRESS=ZSTD', '-co', 'PREDICTOR=3', '-co', 'TILED=YES', '-co', 'BLOCKXSIZE=16', '-co', 'BLOCKYSIZE=16']],
      ['packbits-band', ['-co', 'COMPRESS=PACKBITS', '-co', 'INTERLEAVE=BAND']],
      ['bigtiff-bigendian-lzw', ['-co', 'BIGTIFF=YES', '-co', 'ENDIANNESS=BIG', '-co', 'COMPRESS=LZW', '-co', 'TILED=YES', '-co', 'BLOCKXSIZE=16', '-co', 'BLOCKYSIZE=16']],
    ];
    for (const [label, args] of variants) {
      const out = path.join(dir, `${label}.tif`);
      run('gdal_translate', ['-q', ...args, src, out]);
      bases.push([label, new Uint8Array(readFileSync(out))]);
    }
  }
  const limits: Partial<ReaderLimits> = { maxPixels: 1 << 22, maxTileBytes: 1 << 22, maxWindowBytes: 1 << 24 };

  for (const [label, base] of bases) {
    it(`${label}: random byte mutations and truncations`, async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.record({ pos: fc.nat(), val: fc.integer({ min: 0, max: 255 }) }), { minLength: 1, maxLength: 6 }),
          fc.option(fc.nat(), { nil: undefined }),
          async (muts, cut) => {
            const b = base.slice();
            for (const m of muts) b[m.pos % b.length] = m.val;
            const bytes = cut === undefined ? b : b.slice(0, cut % (b.length + 1));
            const outcome = await Promise.race([
              openAndReadAll(bytes, limits).then(() => 'ok', (err: unknown) => err),
              new Promise((resolve) => setTimeout(() => resolve('timeout'), 2000)),
            ]);
            if (outcome === 'timeout') throw new Error('decoding hung for more than 2 s');
            if (outcome !== 'ok' && !(outcome instanceof S2ChangeError)) throw outcome;
          },
        ),
        { numRuns: 300 },
      );
    });
  }
});
