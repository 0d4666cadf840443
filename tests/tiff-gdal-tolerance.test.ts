/**
 * Files GDAL reads although their strip tables are incomplete must not be called corrupt: fewer byte counts than
 * strips (GDAL reads the strips without a count as empty), and no StripByteCounts at all with one strip (libtiff
 * estimates it). Our reader must read the same pixels as GDAL (the oracle, on the same bytes); where GDAL refuses
 * (no byte counts, several strips), so do we. Files crafted byte by byte with the test TIFF writer.
 */
import { deflateSync } from 'node:zlib';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { openTiffFile } from '../src/io/tiff/index.js';
import { buildTiff, type Entry } from './helpers/tiff-builder.js';
import { GDAL_SKIP_REASON, hasGdal, pythonJson } from './helpers/gdal.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 's2change-strips-'));
const W = 10, H = 7, RPS = 2;
const px = (x: number, y: number) => 1000 + 37 * y + 3 * x;

/** A stripped uint16 TIFF; `counts` decides the StripByteCounts tag: 'none', or the first n counts only. */
function stripped(name: string, compression: 1 | 8, counts: 'none' | number, rps: number): string {
  const strips: Uint8Array[] = [];
  for (let y0 = 0; y0 < H; y0 += rps) {
    const rows = Math.min(rps, H - y0);
    const a = new Uint16Array(W * rows);
    for (let r = 0; r < rows; r++) for (let x = 0; x < W; x++) a[r * W + x] = px(x, y0 + r);
    const raw = new Uint8Array(a.buffer);
    strips.push(compression === 8 ? new Uint8Array(deflateSync(raw)) : raw);
  }
  const entries: Entry[] = [[256, 3, [W]], [257, 3, [H]], [258, 3, [16]], [259, 3, [compression]], [262, 3, [1]], [277, 3, [1]], [278, 3, [rps]]];
  if (counts !== 'none') entries.push([279, 4, strips.slice(0, counts).map((s) => s.length)]);
  // The writer always adds a counts tag: park it on an unused private tag so that 279 is what the case says.
  const { bytes } = buildTiff([{ entries, tiles: strips, offsetsTag: 273, countsTag: 65000 }]);
  const f = path.join(dir, name);
  writeFileSync(f, bytes);
  return f;
}

describe.skipIf(!hasGdal())(`incomplete strip tables, read as GDAL reads them${hasGdal() ? '' : ` — skipped: ${GDAL_SKIP_REASON}`}`, () => {
  const gdalRead = (f: string) => pythonJson(`
import sys, json
from osgeo import gdal
gdal.UseExceptions()
try:
    print(json.dumps(gdal.Open(sys.argv[1]).ReadAsArray().ravel().tolist()))
except Exception as e:
    print(json.dumps(str(e)))`, [f]);

  it.each([
    ['uncompressed, 1 byte count for 4 strips', 1, 1, 4],
    ['DEFLATE, 2 byte counts for 4 strips', 8, 2, 4],
    ['uncompressed, one strip, no StripByteCounts', 1, 'none', 1],
    ['DEFLATE, one strip, no StripByteCounts', 8, 'none', 1],
  ] as const)('%s: the same pixels as GDAL', async (label, compression, counts, strips) => {
    const f = stripped(`${label.replace(/\W+/g, '_')}.tif`, compression, counts, strips === 1 ? H : RPS);
    const gdal = gdalRead(f);
    expect(Array.isArray(gdal), String(gdal)).toBe(true);
    const tiff = await openTiffFile(f);
    try {
      const [ours] = await tiff.images[0]!.readWindow();
      expect(Array.from(ours!)).toEqual(gdal);
      expect(gdal.filter((v: number) => v !== 0).length).toBeGreaterThan(0);
    } finally {
      await tiff.close();
    }
  });

  it('no StripByteCounts with several strips: GDAL refuses it, and so do we (CORRUPT_TIFF naming the tag)', async () => {
    const f = stripped('none_4_strips.tif', 1, 'none', RPS);
    expect(gdalRead(f)).toMatch(/missing required "StripByteCounts"/);
    await expect(openTiffFile(f)).rejects.toMatchObject({ code: 'CORRUPT_TIFF', message: expect.stringMatching(/no StripByteCounts/) });
  });
});
