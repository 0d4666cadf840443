/**
 * The TIFF reader against GDAL: a corpus of every claimed layout, written by GDAL (gdal.Translate, i.e. gdal_translate)
 * into a temp dir, must decode to exactly the bytes GDAL reads, with the grid, nodata and band metadata GDAL reports.
 * Real sample files are checked the same way.
 */
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTiff, openTiffFile, describeTiff, DEFAULT_LIMITS } from '../src/io/tiff/index.js';
import type { SampleArray, TiffImage } from '../src/io/tiff/types.js';
import { memorySource } from '../src/io/memory-source.js';
import { fileSource } from '../src/io/file-source.js';
import { CorruptTiffError, InputNotFoundError } from '../src/errors.js';
import { GDAL_SKIP_REASON, dataDir, hasGdal, pythonJson } from './helpers/gdal.js';
import { validTiff, value } from './helpers/tiff-builder.js';
import { coalesceRanges, forEachConcurrent } from '../src/io/tiff/read-plan.js';
import type { ByteSource } from '../src/io/byte-source.js';
import fc from 'fast-check';

/** Python: builds the corpus with GDAL and dumps what GDAL reads (raw native bytes, band-sequential) + metadata. */
const MAKE_CORPUS = String.raw`
import sys, json, math
import numpy as np
from osgeo import gdal, osr
gdal.UseExceptions()
out = sys.argv[1]
W, H, B = 300, 200, 3
yy, xx = np.mgrid[0:H, 0:W].astype('float64')
rng = np.random.default_rng(42)
TYPES = {
  'uint8': (gdal.GDT_Byte, [], 255, 256, 0),
  'int8': (gdal.GDT_Byte, ['PIXELTYPE=SIGNEDBYTE'], -128, 256, -128),
  'uint16': (gdal.GDT_UInt16, [], 65535, 65536, 0),
  'int16': (gdal.GDT_Int16, [], -32768, 65536, -32768),
  'uint32': (gdal.GDT_UInt32, [], 4294967295, 2**32, 0),
  'int32': (gdal.GDT_Int32, [], -2147483648, 2**32, -2**31),
  'float32': (gdal.GDT_Float32, [], float('nan'), None, None),
  'float64': (gdal.GDT_Float64, [], -9999.5, None, None),
}
def values(name, b):
    dt, co, nd, span, lo = TYPES[name]
    noise = rng.integers(0, 7, size=(H, W))
    if span is not None:
        g = (xx * (3 + b) + yy * 5 + noise) * (span // 256) + b * 977
        v = np.mod(g, span) + lo
    else:
        v = np.sin(xx / 17.0 + b) * 1000 + yy * 0.37 + noise * 0.001 + 1e5 * (name == 'float64')
    v = v.astype('float64')
    v[10:14, 20:30] = nd
    return v
def base(name):
    dt, co, nd, span, lo = TYPES[name]
    p = f'{out}/base-{name}.tif'
    ds = gdal.GetDriverByName('GTiff').Create(p, W, H, B, dt, co)
    ds.SetGeoTransform((500000.0, 10.0, 0.0, 4000000.0, 0.0, -10.0))
    srs = osr.SpatialReference(); srs.ImportFromEPSG(32633); ds.SetProjection(srs.ExportToWkt())
    for b in range(B):
        band = ds.GetRasterBand(b + 1)
        arr = values(name, b)
        if name == 'int8':
            arr = np.mod(arr, 256)  # GDAL 3.6 has no Int8 type: write the bit patterns as Byte + SIGNEDBYTE
        band.WriteArray(arr)
        band.SetNoDataValue(nd if name != 'int8' else -128)
        band.SetDescription(f'B{b + 2}')
        if b < 2:
            band.SetScale(0.0001 * (b + 1)); band.SetOffset(-0.1 * (b + 1))
    ds = None
    return p
entries = []
def emit(name, label, src, fmt, co, expect, meta=None):
    p = f'{out}/{name}-{label}.tif'
    gdal.Translate(p, src, format=fmt, creationOptions=co, metadataOptions=meta or [])
    ds = gdal.Open(p)
    raw = ds.ReadRaster()
    with open(p + '.bin', 'wb') as f: f.write(raw)
    ovs = []
    b1 = ds.GetRasterBand(1)
    for i in range(b1.GetOverviewCount()):
        o = b1.GetOverview(i)
        op = p + f'.ov{i}.bin'
        with open(op, 'wb') as f:
            for b in range(ds.RasterCount):
                f.write(ds.GetRasterBand(b + 1).GetOverview(i).ReadRaster())
        ovs.append({'width': o.XSize, 'height': o.YSize, 'bin': op})
    srs = ds.GetSpatialRef()
    epsg = None
    if srs is not None:
        srs.AutoIdentifyEPSG(); c = srs.GetAuthorityCode(None); epsg = int(c) if c else None
    nd = b1.GetNoDataValue()
    st = ds.GetMetadata('IMAGE_STRUCTURE')
    entries.append({
        'file': p, 'bin': p + '.bin', 'type': name, 'label': label, 'width': ds.RasterXSize, 'height': ds.RasterYSize,
        'bands': ds.RasterCount, 'block': b1.GetBlockSize(), 'geoTransform': list(ds.GetGeoTransform()), 'epsg': epsg,
        'nodata': None if nd is None else ('nan' if math.isnan(nd) else nd),
        'descriptions': [ds.GetRasterBand(b + 1).GetDescription() or None for b in range(ds.RasterCount)],
        'scales': [ds.GetRasterBand(b + 1).GetScale() for b in range(ds.RasterCount)],
        'offsets': [ds.GetRasterBand(b + 1).GetOffset() for b in range(ds.RasterCount)],
        'compression': st.get('COMPRESSION', 'NONE').lower(), 'interleave': st.get('INTERLEAVE', 'BAND'),
        'overviews': ovs, 'expect': expect,
    })
    ds = None
T64 = ['TILED=YES', 'BLOCKXSIZE=64', 'BLOCKYSIZE=64']
for name, (dt, tco, nd, span, lo) in TYPES.items():
    src = base(name)
    isf = name.startswith('float')
    for comp in ['NONE', 'DEFLATE', 'LZW', 'ZSTD', 'PACKBITS']:
        emit(name, f'{comp}-tiled-pixel', src, 'GTiff', tco + T64 + [f'COMPRESS={comp}', 'INTERLEAVE=PIXEL'], {'predictor': 1, 'tiled': True, 'le': True, 'big': False})
    for comp in ['DEFLATE', 'LZW', 'ZSTD']:
        emit(name, f'{comp}-pred2', src, 'GTiff', tco + T64 + [f'COMPRESS={comp}', 'PREDICTOR=2', 'INTERLEAVE=PIXEL'], {'predictor': 2, 'tiled': True, 'le': True, 'big': False})
        if isf:
            emit(name, f'{comp}-pred3', src, 'GTiff', tco + T64 + [f'COMPRESS={comp}', 'PREDICTOR=3', 'INTERLEAVE=PIXEL'], {'predictor': 3, 'tiled': True, 'le': True, 'big': False})
    emit(name, 'DEFLATE-pred2-strips7-band', src, 'GTiff', tco + ['COMPRESS=DEFLATE', 'PREDICTOR=2', 'INTERLEAVE=BAND', 'BLOCKYSIZE=7'], {'predictor': 2, 'tiled': False, 'le': True, 'big': False})
    emit(name, 'NONE-strips-pixel', src, 'GTiff', tco + ['INTERLEAVE=PIXEL'], {'predictor': 1, 'tiled': False, 'le': True, 'big': False})
    p = 3 if isf else 2
    emit(name, f'BIGENDIAN-LZW-pred{p}', src, 'GTiff', tco + T64 + ['ENDIANNESS=BIG', 'COMPRESS=LZW', f'PREDICTOR={p}', 'INTERLEAVE=PIXEL'], {'predictor': p, 'tiled': True, 'le': False, 'big': False})
    emit(name, 'BIGENDIAN-strips-band', src, 'GTiff', tco + ['ENDIANNESS=BIG', 'INTERLEAVE=BAND', 'BLOCKYSIZE=16'], {'predictor': 1, 'tiled': False, 'le': False, 'big': False})
    emit(name, 'BIGTIFF-ZSTD-band', src, 'GTiff', tco + T64 + ['BIGTIFF=YES', 'COMPRESS=ZSTD', f'PREDICTOR={p}', 'INTERLEAVE=BAND'], {'predictor': p, 'tiled': True, 'le': True, 'big': True})
emit('uint16', 'COG', f'{out}/base-uint16.tif', 'COG', ['BLOCKSIZE=64', 'COMPRESS=DEFLATE', 'PREDICTOR=YES', 'OVERVIEW_RESAMPLING=NEAREST'], {'predictor': 2, 'tiled': True, 'le': True, 'big': False})
emit('float32', 'COG', f'{out}/base-float32.tif', 'COG', ['BLOCKSIZE=64', 'COMPRESS=LZW', 'PREDICTOR=YES', 'BIGTIFF=YES'], {'predictor': 3, 'tiled': True, 'le': True, 'big': True})
emit('int16', 'PixelIsPoint', f'{out}/base-int16.tif', 'GTiff', T64 + ['COMPRESS=DEFLATE'], {'predictor': 1, 'tiled': True, 'le': True, 'big': False}, ['AREA_OR_POINT=Point'])
print(json.dumps(entries))
`;

/** Python: what GDAL reads from real files (band-sequential native bytes), plus metadata. */
const DUMP_REAL = String.raw`
import sys, json, math
from osgeo import gdal
gdal.UseExceptions()
out = sys.argv[1]; res = []
for i, p in enumerate(sys.argv[2:]):
    ds = gdal.Open(p)
    b1 = ds.GetRasterBand(1)
    binp = f'{out}/real{i}.bin'
    with open(binp, 'wb') as f: f.write(ds.ReadRaster())
    ovs = []
    for k in range(b1.GetOverviewCount()):
        op = f'{out}/real{i}.ov{k}.bin'
        with open(op, 'wb') as f:
            for b in range(ds.RasterCount): f.write(ds.GetRasterBand(b + 1).GetOverview(k).ReadRaster())
        ovs.append({'width': b1.GetOverview(k).XSize, 'height': b1.GetOverview(k).YSize, 'bin': op})
    srs = ds.GetSpatialRef(); epsg = None
    if srs is not None:
        srs.AutoIdentifyEPSG(); c = srs.GetAuthorityCode(None); epsg = int(c) if c else None
    nd = b1.GetNoDataValue()
    gt = ds.GetGeoTransform(can_return_null=True)
    res.append({'file': p, 'bin': binp, 'width': ds.RasterXSize, 'height': ds.RasterYSize, 'bands': ds.RasterCount,
      'epsg': epsg, 'geoTransform': list(gt) if gt else None, 'overviews': ovs,
      'nodata': None if nd is None else ('nan' if math.isnan(nd) else nd),
      'descriptions': [ds.GetRasterBand(b + 1).GetDescription() or None for b in range(ds.RasterCount)]})
print(json.dumps(res))
`;

interface Entry {
  file: string; bin: string; type: string; label: string; width: number; height: number; bands: number;
  block: [number, number]; geoTransform: number[] | null; epsg: number | null; nodata: number | 'nan' | null;
  descriptions: (string | null)[]; scales: (number | null)[]; offsets: (number | null)[];
  compression: string; interleave: string; overviews: { width: number; height: number; bin: string }[];
  expect: { predictor: number; tiled: boolean; le: boolean; big: boolean };
}

function bytesOf(a: SampleArray): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

/** Compare a whole-image read and a window read (crossing tile/strip edges, bands reordered) with GDAL's bytes. */
async function expectPixelsMatch(img: TiffImage, binPath: string): Promise<void> {
  const oracle = readFileSync(binPath);
  const bandBytes = img.width * img.height * (oracle.length / (img.width * img.height * img.samplesPerPixel));
  const all = await img.readWindow();
  expect(all.length).toBe(img.samplesPerPixel);
  for (let b = 0; b < all.length; b++) {
    const want = oracle.subarray(b * bandBytes, (b + 1) * bandBytes);
    expect(bytesOf(all[b]).equals(want), `band ${b} of ${img.width}x${img.height}`).toBe(true);
  }
  const bps = bandBytes / (img.width * img.height);
  const win = { x: Math.floor(img.width * 0.13), y: Math.floor(img.height * 0.27), width: Math.ceil(img.width / 3), height: Math.ceil(img.height / 3) };
  const sel = img.samplesPerPixel > 1 ? [img.samplesPerPixel - 1, 0] : [0];
  const part = await img.readWindow(win, sel);
  sel.forEach((b, k) => {
    const rows: Buffer[] = [];
    for (let r = win.y; r < win.y + win.height; r++) {
      const start = b * bandBytes + (r * img.width + win.x) * bps;
      rows.push(oracle.subarray(start, start + win.width * bps));
    }
    expect(bytesOf(part[k]).equals(Buffer.concat(rows)), `window band ${b}`).toBe(true);
  });
}

function expectGridMatches(img: TiffImage, e: { epsg: number | null; geoTransform: number[] | null }): void {
  if (e.epsg === null) {
    expect(img.grid).toBeNull();
    return;
  }
  expect(img.grid).not.toBeNull();
  expect(img.grid!.crs.epsg).toBe(e.epsg);
  expect(img.grid!.width).toBe(img.width);
  img.grid!.transform.forEach((v, i) => expect(v).toBeCloseTo(e.geoTransform![i], 9));
}

function expectNodata(img: TiffImage, nd: number | 'nan' | null): void {
  if (nd === 'nan') expect(Number.isNaN(img.nodata)).toBe(true);
  else expect(img.nodata).toBe(nd);
}

const SAMPLE_TYPES: Record<string, string> = {
  uint8: 'uint8', int8: 'int8', uint16: 'uint16', int16: 'int16', uint32: 'uint32', int32: 'int32', float32: 'float32', float64: 'float64',
};

describe.skipIf(!hasGdal())(`GeoTIFF corpus written by GDAL${hasGdal() ? '' : ` (skipped: ${GDAL_SKIP_REASON})`}`, () => {
  let dir = '';
  let corpus: Entry[] = [];
  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 's2change-tiff-'));
    corpus = pythonJson(MAKE_CORPUS, [dir]);
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('covers every claimed combination', () => {
    expect(corpus.length).toBeGreaterThan(90);
    const labels = new Set(corpus.map((e) => e.compression));
    for (const c of ['none', 'deflate', 'lzw', 'zstd', 'packbits']) expect(labels.has(c)).toBe(true);
  });

  it('decodes every file to exactly what GDAL reads, with GDAL\'s grid, nodata and band metadata', async () => {
    const failures: string[] = [];
    for (const e of corpus) {
      const f = await openTiffFile(e.file);
      try {
        const img = f.images[0];
        expect(f.bigTiff, e.label).toBe(e.expect.big);
        expect(img.width).toBe(e.width);
        expect(img.height).toBe(e.height);
        expect(img.samplesPerPixel).toBe(e.bands);
        expect(img.sampleType).toBe(SAMPLE_TYPES[e.type]);
        expect(img.compression).toBe(e.compression);
        expect(img.predictor).toBe(e.expect.predictor);
        expect(img.tiled).toBe(e.expect.tiled);
        expect(img.littleEndian).toBe(e.expect.le);
        expect([img.tileWidth, img.tileHeight]).toEqual(e.block);
        expect(img.planarConfiguration).toBe(e.interleave === 'PIXEL' ? 1 : 2);
        expect(img.isOverview).toBe(false);
        expectGridMatches(img, e);
        expectNodata(img, e.nodata);
        expect(img.bandDescriptions).toEqual(e.descriptions);
        img.bandScales.forEach((s, b) => expect(s ?? 1).toBeCloseTo(e.scales[b] ?? 1, 12));
        img.bandOffsets.forEach((o, b) => expect(o ?? 0).toBeCloseTo(e.offsets[b] ?? 0, 12));
        await expectPixelsMatch(img, e.bin);
        expect(f.images.length).toBe(1 + e.overviews.length);
        for (let k = 0; k < e.overviews.length; k++) {
          const ov = f.images[k + 1];
          expect(ov.isOverview).toBe(true);
          expect([ov.width, ov.height]).toEqual([e.overviews[k].width, e.overviews[k].height]);
          await expectPixelsMatch(ov, e.overviews[k].bin);
        }
      } catch (err) {
        failures.push(`${e.type}-${e.label}: ${(err as Error).message.split('\n')[0]}`);
      } finally {
        await f.close();
      }
    }
    expect(failures).toEqual([]);
  });

  it('PixelIsPoint files get GDAL\'s half-pixel shift', async () => {
    const e = corpus.find((c) => c.label === 'PixelIsPoint')!;
    const f = await openTiffFile(e.file);
    expectGridMatches(f.images[0], e);
    await f.close();
  });

  it('COG overviews have grids scaled from the full-resolution grid, as GDAL reports', async () => {
    const e = corpus.find((c) => c.label === 'COG' && c.type === 'uint16')!;
    const f = await openTiffFile(e.file);
    const ov = f.images[1];
    const g = ov.grid!;
    expect(g.transform[1]).toBeCloseTo(e.geoTransform![1] * (e.width / ov.width), 9);
    expect(g.transform[0]).toBe(e.geoTransform![0]);
    await f.close();
  });

  it('memorySource gives the same pixels as fileSource', async () => {
    const e = corpus.find((c) => c.type === 'int16' && c.label === 'LZW-pred2')!;
    const f = await openTiff(memorySource(readFileSync(e.file), e.file));
    await expectPixelsMatch(f.images[0], e.bin);
  });

  it('describeTiff summarises a file as plain JSON', async () => {
    const e = corpus.find((c) => c.label === 'COG' && c.type === 'uint16')!;
    const f = await openTiffFile(e.file);
    const d = JSON.parse(JSON.stringify(describeTiff(f)));
    expect(d).toMatchObject({
      width: 300, height: 200, bands: 3, sampleType: 'uint16', compression: 'deflate', predictor: 2, crs: 'EPSG:32633',
      nodata: 65535, bandDescriptions: ['B2', 'B3', 'B4'],
      overviews: e.overviews.map((o) => [o.width, o.height]),
    });
    await f.close();
  });
});

const DATA = dataDir();
const REAL = [
  's2-l2a-cog-29RKH/tests/fixtures/sentinel-cogs/sentinel-s2-l2a-cogs/29/R/KH/2020/2/S2A_29RKH_20200219_0_L2A/B04.tif',
  'sen1floods11-sample/sample/S2/Spain_7370579_S2Hand.tif',
  'wildfire-calfire-s2/KENNETH_20250109_pre_fire.tif',
  'oscd/Onera Satellite Change Detection dataset - Images/paris/imgs_1/S2A_OPER_MSI_L1C_TL_MPS__20161130T130757_A007527_T31UDQ_B04.tif',
  'oscd/Onera Satellite Change Detection dataset - Train Labels/paris/cm/paris-cm.tif',
].map((p) => path.join(DATA, p));
const haveReal = REAL.every((p) => existsSync(p));

describe.skipIf(!hasGdal() || !haveReal)(`real sample files${haveReal ? '' : ` (skipped: sample data not found under ${DATA})`}`, () => {
  let dir = '';
  let dumps: any[] = [];
  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 's2change-real-'));
    dumps = pythonJson(DUMP_REAL, [dir, ...REAL]);
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('decode to what GDAL reads, with GDAL\'s grid, nodata, descriptions and overviews', async () => {
    for (const d of dumps) {
      const f = await openTiffFile(d.file);
      const img = f.images[0];
      expect([img.width, img.height, img.samplesPerPixel]).toEqual([d.width, d.height, d.bands]);
      expectGridMatches(img, d);
      expectNodata(img, d.nodata);
      expect(img.bandDescriptions).toEqual(d.descriptions);
      await expectPixelsMatch(img, d.bin);
      expect(f.images.length).toBe(1 + d.overviews.length);
      for (let k = 0; k < d.overviews.length; k++) await expectPixelsMatch(f.images[k + 1], d.overviews[k].bin);
      await f.close();
    }
    // the specific facts the rest of the pipeline relies on
    expect(dumps[0].overviews.length).toBe(2); // B04 COG has 2 overviews
    expect(dumps[1].bands).toBe(13); // Sen1Floods11 S2Hand
    expect(dumps[3].epsg).toBe(4326); // OSCD band
    expect(dumps[4].epsg).toBeNull(); // OSCD label: no georeferencing
  });

  it('the wildfire file is a Float64 LZW BigTIFF', async () => {
    const f = await openTiffFile(REAL[2]);
    expect(f.images[0].sampleType).toBe('float64');
    expect(f.images[0].compression).toBe('lzw');
    await f.close();
  });
});

describe('byte sources', () => {
  it('fileSource names a missing file with InputNotFoundError', async () => {
    const src = fileSource(path.join(os.tmpdir(), 'no-such-file-s2change.tif'));
    await expect(src.size()).rejects.toBeInstanceOf(InputNotFoundError);
  });
  it('memorySource refuses reads past the end with CorruptTiffError naming the input', async () => {
    const src = memorySource(new Uint8Array(10), 'ten.bin');
    expect(await src.read(2, 8)).toEqual(new Uint8Array(8));
    await expect(src.read(5, 6)).rejects.toThrow(CorruptTiffError);
    await expect(src.read(5, 6)).rejects.toThrow(/ten\.bin/);
  });
  it('DEFAULT_LIMITS are the documented defaults', () => {
    expect(DEFAULT_LIMITS).toEqual({ maxIfds: 64, maxPixels: 2 ** 31, maxTileBytes: 256 * 1024 * 1024, maxWindowBytes: 4 * 1024 ** 3 });
  });
});

/** A memory source that records reads and how many were in flight at once (each read waits `delayMs`). */
function recordingSource(bytes: Uint8Array, delayMs: number) {
  const inner = memorySource(bytes, 'recorded.tif');
  const log = { reads: [] as [number, number][], inFlight: 0, maxInFlight: 0 };
  const src: ByteSource = {
    name: inner.name,
    size: () => inner.size(),
    async read(offset, length) {
      log.reads.push([offset, length]);
      log.inFlight++;
      log.maxInFlight = Math.max(log.maxInFlight, log.inFlight);
      await new Promise((r) => setTimeout(r, delayMs));
      log.inFlight--;
      return inner.read(offset, length);
    },
  };
  return { src, log };
}

function expectHandValues(W: number, H: number, bands: SampleArray[]): void {
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
    if (bands[0][y * W + x] !== value(x, y, 0) || bands[1][y * W + x] !== value(x, y, 1)) throw new Error(`pixel ${x},${y} differs`);
  }
}

describe('window reads fetch tiles in few, concurrent reads', () => {
  it('contiguous tiles (as in a COG) past the header cache come in one read', async () => {
    const { bytes, W, H } = validTiff({ compression: 1, predictor: 1, width: 200, height: 160 }); // 130 tiles of 1 KiB
    const { src, log } = recordingSource(bytes, 1);
    const f = await openTiff(src);
    log.reads = [];
    const bands = await f.images[0].readWindow();
    expect(log.reads.length).toBe(1);
    expectHandValues(W, H, bands);
  });

  it('tiles 70 KB apart are read separately, at most 8 at a time', async () => {
    const { bytes, W, H } = validTiff({ width: 64, height: 48, gap: 70_000 }); // 12 tiles; tile 0 sits in the header cache
    const { src, log } = recordingSource(bytes, 5);
    const f = await openTiff(src);
    log.reads = [];
    log.maxInFlight = 0;
    const bands = await f.images[0].readWindow();
    expect(log.reads.length).toBe(11);
    expect(log.maxInFlight).toBe(8);
    expectHandValues(W, H, bands);
  });

  it('a failing read rejects the window read with that error and starts no further reads', async () => {
    const { bytes } = validTiff({ width: 64, height: 48, gap: 70_000 });
    const { src, log } = recordingSource(bytes, 1);
    const f = await openTiff(src);
    log.reads = [];
    src.read = async (offset) => {
      log.reads.push([offset, 0]);
      throw new CorruptTiffError('boom', { input: 'recorded.tif' });
    };
    await expect(f.images[0].readWindow()).rejects.toThrow(/boom/);
    expect(log.reads.length).toBe(8);
  });

  it('property: coalesceRanges puts every range in exactly one read that contains it, merging only small gaps', () => {
    const range = fc.record({ offset: fc.nat(5000), length: fc.integer({ min: 1, max: 400 }) });
    fc.assert(fc.property(fc.array(range, { maxLength: 40 }), fc.nat(300), fc.integer({ min: 1, max: 2000 }), (rs, gap, maxBytes) => {
      const wanted = rs.map((r, i) => ({ ...r, item: i }));
      const groups = coalesceRanges(wanted, gap, maxBytes);
      const seen = groups.flatMap((g) => g.members.map((m) => m.item)).sort((a, b) => a - b);
      expect(seen).toEqual(wanted.map((w) => w.item));
      for (const g of groups) {
        for (const m of g.members) {
          expect(m.offset).toBeGreaterThanOrEqual(g.offset);
          expect(m.offset + m.length).toBeLessThanOrEqual(g.offset + g.length);
        }
        if (g.members.length > 1) expect(g.length).toBeLessThanOrEqual(maxBytes);
        // no byte of a read is more than `gap` away from a wanted byte: the members, in order, leave gaps <= gap
        let end = g.offset;
        for (const m of g.members) {
          expect(m.offset - end).toBeLessThanOrEqual(gap);
          end = Math.max(end, m.offset + m.length);
        }
        expect(end).toBe(g.offset + g.length);
      }
    }), { numRuns: 300 });
  });

  it('forEachConcurrent runs every item with at most `limit` in flight', async () => {
    let inFlight = 0, max = 0;
    const done: number[] = [];
    await forEachConcurrent(Array.from({ length: 30 }, (_, i) => i), 4, async (i) => {
      inFlight++;
      max = Math.max(max, inFlight);
      await new Promise((r) => setTimeout(r, (i * 7) % 5));
      inFlight--;
      done.push(i);
    });
    expect(max).toBe(4);
    expect(done.sort((a, b) => a - b)).toEqual(Array.from({ length: 30 }, (_, i) => i));
  });
});

describe.skipIf(!hasGdal())(`readWholeTile (the block engine's reads)${hasGdal() ? '' : ` (skipped: ${GDAL_SKIP_REASON})`}`, () => {
  it('an inner tile with the predictor kept sums back to what GDAL reads; edge and unaligned windows give null', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 's2change-wholetile-'));
    try {
      const file = path.join(dir, 'p2.tif');
      // 600 x 300 uint16, 256² DEFLATE tiles with predictor 2 (GDAL); the tile at x = 512 is cut by the image edge.
      const truth = pythonJson(String.raw`
import sys, json, numpy as np
from osgeo import gdal
gdal.UseExceptions()
a = (np.add.outer(np.arange(300) * 7, np.arange(600) * 3) % 5000 + 100).astype('uint16')
ds = gdal.GetDriverByName('GTiff').Create(sys.argv[1], 600, 300, 1, gdal.GDT_UInt16,
  ['TILED=YES', 'BLOCKXSIZE=256', 'BLOCKYSIZE=256', 'COMPRESS=DEFLATE', 'PREDICTOR=2'])
ds.GetRasterBand(1).WriteArray(a); ds = None
print(json.dumps(gdal.Open(sys.argv[1]).ReadAsArray(256, 0, 256, 256).ravel().tolist()))`, [file]) as number[];
      const f = await openTiffFile(file);
      try {
        const img = f.images[0]!;
        const kept = await img.readWholeTile({ x: 256, y: 0, width: 256, height: 256 }, { keepPredictor: true });
        expect(kept?.predicted).toBe(true);
        const d = kept!.data as Uint16Array;
        for (let r = 0; r < 256; r++) for (let i = 1; i < 256; i++) d[r * 256 + i] = (d[r * 256 + i]! + d[r * 256 + i - 1]!) & 0xffff;
        expect(Array.from(d)).toEqual(truth);
        const undone = await img.readWholeTile({ x: 256, y: 0, width: 256, height: 256 });
        expect(undone?.predicted).toBe(false);
        expect(Array.from(undone!.data)).toEqual(truth);
        expect(await img.readWholeTile({ x: 512, y: 0, width: 256, height: 256 })).toBeNull(); // past the right edge
        expect(await img.readWholeTile({ x: 0, y: 256, width: 256, height: 256 })).toBeNull(); // past the bottom
        expect(await img.readWholeTile({ x: 128, y: 0, width: 256, height: 256 })).toBeNull(); // not on the tile grid
      } finally {
        await f.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
