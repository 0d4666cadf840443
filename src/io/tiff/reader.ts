/**
 * The hardened GeoTIFF/COG reader: a bounded, validated IFD walk, then tile decoding we own (node:zlib, our LZW,
 * fzstd, PackBits) with output caps. See docs/RELIABILITY.md ("Reader") for why geotiff.js is not used here.
 */
import {
  CorruptTiffError, LimitExceededError, UnsupportedCompressionError, UnsupportedTiffError, UsageError,
} from '../../errors.js';
import type { Grid, Window } from '../../raster/grid.js';
import type { ByteSource } from '../byte-source.js';
import { fileSource } from '../file-source.js';
import {
  CodecError, COMPRESSION_NAMES, SUPPORTED_COMPRESSIONS, decompress, swapBytes, undoFloatingPoint, undoHorizontal,
} from './codecs.js';
import { interpretGeoTags, parseGdalDatasetItems, parseGdalMetadata, parseNodata, type Georef } from './georef.js';
import { TiffBytes, walkIfds, type RawIfd } from './ifd.js';
import { coalesceRanges, forEachConcurrent } from './read-plan.js';
import type { ReaderLimits, SampleArray, SampleType, TiffFile, TiffImage } from './types.js';
import { release } from '../release.js';

/** Default safety limits (see ReaderLimits). */
export const DEFAULT_LIMITS: Readonly<ReaderLimits> = Object.freeze({
  maxIfds: 64,
  maxPixels: 2 ** 31,
  maxTileBytes: 256 * 1024 * 1024,
  maxWindowBytes: 4 * 1024 * 1024 * 1024,
});

const T = {
  NewSubfileType: 254, ImageWidth: 256, ImageLength: 257, BitsPerSample: 258, Compression: 259, Photometric: 262,
  StripOffsets: 273, SamplesPerPixel: 277, RowsPerStrip: 278, StripByteCounts: 279, PlanarConfiguration: 284,
  Predictor: 317, TileWidth: 322, TileLength: 323, TileOffsets: 324, TileByteCounts: 325, SampleFormat: 339,
  ModelPixelScale: 33550, ModelTiepoint: 33922, ModelTransformation: 34264, GeoKeyDirectory: 34735,
  GdalMetadata: 42112, GdalNodata: 42113,
} as const;

/** Most tiles/strips one image may have (its tile tables then take 2 x 32 MiB). */
const MAX_CHUNKS = 1 << 22;
/** Tile reads in flight per window read. */
const READ_CONCURRENCY = 8;
/** Tiles closer than this are fetched in one read (the gap is read and dropped). */
const COALESCE_GAP = 64 * 1024;
/** Largest merged read (a single larger tile is still read alone). */
const MAX_COALESCED_BYTES = 16 * 1024 * 1024;

const FIX_CONVERT = 'Convert it with: gdal_translate -co COMPRESS=DEFLATE -co TILED=YES <input> <output.tif>';

const ARRAY_TYPES = {
  uint8: Uint8Array, int8: Int8Array, uint16: Uint16Array, int16: Int16Array,
  uint32: Uint32Array, int32: Int32Array, float32: Float32Array, float64: Float64Array,
} as const;

/** Dataset-level metadata (from IFD 0) shared by overviews. */
interface DatasetMeta {
  width: number;
  height: number;
  georef: Georef;
  nodata: number | null;
  gdalMetadata: string | null;
}

/**
 * Open a TIFF/BigTIFF/COG from any ByteSource. Validates the whole IFD chain and every image's tile table
 * before returning; throws NotATiffError, CorruptTiffError, UnsupportedTiffError/UnsupportedCompressionError
 * or LimitExceededError, all naming the source.
 */
export async function openTiff(source: ByteSource, limits: Partial<ReaderLimits> = {}): Promise<TiffFile> {
  const lim: ReaderLimits = { ...DEFAULT_LIMITS, ...limits };
  const { bytes, firstIfd } = await TiffBytes.open(source);
  const ifds = await walkIfds(bytes, firstIfd, lim.maxIfds);
  const images: TiffImage[] = [];
  let meta: DatasetMeta | null = null;
  for (const ifd of ifds) {
    const subfile = await one(bytes, ifd, T.NewSubfileType, 0);
    if (subfile & 4) continue; // transparency mask
    const img: Image = await Image.parse(bytes, ifd, images.length, lim, meta, (subfile & 1) === 1 && meta !== null);
    meta ??= img.meta;
    images.push(img);
  }
  if (images.length === 0) throw bytes.corrupt('the TIFF holds only mask images', 'at least one image', `${ifds.length} mask IFDs`);
  return {
    source,
    bigTiff: bytes.bigTiff,
    images,
    async close() {
      await source.close?.();
    },
  };
}

/** `openTiff(fileSource(path), limits)`, closing the file if opening fails. */
export async function openTiffFile(path: string, limits: Partial<ReaderLimits> = {}): Promise<TiffFile> {
  const src = fileSource(path);
  try {
    return await openTiff(src, limits);
  } catch (err) {
    await src.close?.().catch(() => undefined);
    throw err;
  }
}

async function one(bytes: TiffBytes, ifd: RawIfd, tag: number, dflt: number): Promise<number> {
  const e = ifd.entries.get(tag);
  if (!e || e.count === 0) return dflt;
  return (await bytes.numbers(e, 1 << 16))[0];
}

async function many(bytes: TiffBytes, ifd: RawIfd, tag: number, maxCount: number): Promise<number[] | null> {
  const e = ifd.entries.get(tag);
  return e ? bytes.numbers(e, maxCount) : null;
}

async function text(bytes: TiffBytes, ifd: RawIfd, tag: number): Promise<string | null> {
  const e = ifd.entries.get(tag);
  return e ? bytes.ascii(e) : null;
}

function sampleTypeOf(bits: number, format: number): SampleType | null {
  if (format === 1 || format === 4) return ({ 8: 'uint8', 16: 'uint16', 32: 'uint32' } as const)[bits as 8] ?? null;
  if (format === 2) return ({ 8: 'int8', 16: 'int16', 32: 'int32' } as const)[bits as 8] ?? null;
  if (format === 3) return ({ 32: 'float32', 64: 'float64' } as const)[bits as 32] ?? null;
  return null;
}

/** An unsigned-integer view of the same bytes (8-byte samples as pairs of 32-bit words). */
function bitView(a: SampleArray): Uint8Array | Uint16Array | Uint32Array {
  const n = a.byteLength;
  if (a.BYTES_PER_ELEMENT === 1) return new Uint8Array(a.buffer, a.byteOffset, n);
  if (a.BYTES_PER_ELEMENT === 2) return new Uint16Array(a.buffer, a.byteOffset, n / 2);
  return new Uint32Array(a.buffer, a.byteOffset, n / 4);
}

/** One tile/strip of a window read: its index in the tile table, tile column/row, plane (-1: chunky) and output band. */
interface Chunk {
  index: number;
  tx: number;
  ty: number;
  plane: number;
  outIdx: number;
}

class Image implements TiffImage {
  readonly tilesAcross: number;
  readonly tilesDown: number;
  readonly bytesPerSample: number;

  private constructor(
    private readonly bytes: TiffBytes,
    private readonly limits: ReaderLimits,
    readonly index: number,
    readonly width: number,
    readonly height: number,
    readonly samplesPerPixel: number,
    readonly sampleType: SampleType,
    readonly planarConfiguration: 1 | 2,
    readonly tileWidth: number,
    readonly tileHeight: number,
    readonly tiled: boolean,
    readonly compressionCode: number,
    readonly predictor: 1 | 2 | 3,
    readonly nodata: number | null,
    readonly grid: Grid | null,
    readonly georefWarning: string | null,
    readonly bandDescriptions: (string | null)[],
    readonly bandScales: (number | null)[],
    readonly bandOffsets: (number | null)[],
    readonly isOverview: boolean,
    readonly meta: DatasetMeta,
    private readonly offsets: Float64Array,
    private readonly byteCounts: Float64Array,
  ) {
    this.tilesAcross = Math.ceil(width / tileWidth);
    this.tilesDown = Math.ceil(height / tileHeight);
    this.bytesPerSample = ARRAY_TYPES[sampleType].BYTES_PER_ELEMENT;
  }

  /** See TiffImage.datasetMetadata (parsed on first use). */
  get datasetMetadata(): Readonly<Record<string, string>> {
    return parseGdalDatasetItems(this.meta.gdalMetadata);
  }

  get compression(): string {
    return COMPRESSION_NAMES[this.compressionCode] ?? `unknown(${this.compressionCode})`;
  }

  get littleEndian(): boolean {
    return this.bytes.littleEndian;
  }

  /** Read and validate one IFD's image structure and tile table. */
  static async parse(
    bytes: TiffBytes, ifd: RawIfd, index: number, lim: ReaderLimits, base: DatasetMeta | null, isOverview: boolean,
  ): Promise<Image> {
    const name = bytes.source.name;
    const where = `image ${index} (IFD at offset ${ifd.offset})`;
    const width = await one(bytes, ifd, T.ImageWidth, 0);
    const height = await one(bytes, ifd, T.ImageLength, 0);
    if (!(width > 0 && height > 0 && Number.isSafeInteger(width) && Number.isSafeInteger(height))) {
      throw bytes.corrupt(`${where} has no valid size`, 'width and height > 0', `${width} x ${height}`);
    }
    const spp = await one(bytes, ifd, T.SamplesPerPixel, 1);
    if (!(spp >= 1 && spp <= 65535)) throw bytes.corrupt(`${where} has an invalid SamplesPerPixel`, '1..65535', String(spp));
    if (width * height * spp > lim.maxPixels) {
      throw new LimitExceededError('image is larger than the pixel limit', {
        input: name,
        expected: `width*height*samples <= ${lim.maxPixels} (limits.maxPixels)`,
        found: `${width} x ${height} x ${spp} = ${width * height * spp}`,
        fix: 'If the file is genuine, raise the limit with --max-pixels (or read a window of a smaller overview)',
      });
    }
    const bitsArr = (await many(bytes, ifd, T.BitsPerSample, 65535)) ?? [1];
    const fmtArr = (await many(bytes, ifd, T.SampleFormat, 65535)) ?? [1];
    const bits = bitsArr[0];
    const fmt = fmtArr[0];
    if (bitsArr.some((b) => b !== bits) || fmtArr.some((f) => f !== fmt)) {
      throw new UnsupportedTiffError('bands with different sample types are not supported', {
        input: name, expected: 'the same BitsPerSample/SampleFormat for every band',
        found: `BitsPerSample ${bitsArr.join(',')}, SampleFormat ${fmtArr.join(',')}`, fix: FIX_CONVERT,
      });
    }
    const sampleType = sampleTypeOf(bits, fmt);
    if (!sampleType && (fmt === 5 || fmt === 6 || (bits === 64 && (fmt === 1 || fmt === 2)))) {
      const complex = fmt === 5 || fmt === 6;
      throw new UnsupportedTiffError(`${complex ? 'complex' : '64-bit integer'} samples are not supported`, {
        input: name, expected: 'real 8/16/32-bit integer or 32/64-bit float samples (no Sentinel-2 product has other kinds)',
        found: complex ? `${bits}-bit complex ${fmt === 5 ? 'integer' : 'float'} samples` : `64-bit ${fmt === 2 ? 'signed' : 'unsigned'} integers`,
        fix: `Convert it with: gdal_translate -ot ${complex ? 'Float32' : 'Float64'} -co COMPRESS=DEFLATE <input> <output.tif>${complex ? ' (keeps the real part)' : ''}`,
      });
    }
    if (!sampleType) {
      throw new UnsupportedTiffError('sample type is not supported', {
        input: name, expected: '8/16/32-bit integers or 32/64-bit floats',
        found: `${bits}-bit ${({ 1: 'unsigned', 2: 'signed', 3: 'float' } as Record<number, string>)[fmt] ?? `format-${fmt}`} samples`,
        fix: 'Convert it with: gdal_translate -ot Byte (or UInt16/Float32) -co COMPRESS=DEFLATE <input> <output.tif>',
      });
    }
    const compressionCode = await one(bytes, ifd, T.Compression, 1);
    if (!SUPPORTED_COMPRESSIONS.has(compressionCode)) {
      throw new UnsupportedCompressionError('compression is not supported', {
        input: name, expected: 'NONE, DEFLATE, LZW, ZSTD or PACKBITS',
        found: (COMPRESSION_NAMES[compressionCode] ?? `code ${compressionCode}`).toUpperCase(),
        fix: 'Convert it with: gdal_translate -co COMPRESS=DEFLATE <input> <output.tif>',
      });
    }
    const predictor = await one(bytes, ifd, T.Predictor, 1);
    if (predictor !== 1 && predictor !== 2 && predictor !== 3) {
      throw new UnsupportedTiffError('predictor is not supported', { input: name, expected: '1, 2 or 3', found: String(predictor), fix: FIX_CONVERT });
    }
    if (predictor === 3 && fmt !== 3) {
      throw bytes.corrupt(`${where} uses the floating-point predictor on integer samples`, 'Predictor 3 only with float samples', `${sampleType}`);
    }
    const planar = spp === 1 ? 1 : await one(bytes, ifd, T.PlanarConfiguration, 1);
    if (planar !== 1 && planar !== 2) throw bytes.corrupt(`${where} has an invalid PlanarConfiguration`, '1 or 2', String(planar));

    const tiled = ifd.entries.has(T.TileWidth) || ifd.entries.has(T.TileOffsets);
    let tileWidth: number;
    let tileHeight: number;
    if (tiled) {
      tileWidth = await one(bytes, ifd, T.TileWidth, 0);
      tileHeight = await one(bytes, ifd, T.TileLength, 0);
      if (!(tileWidth > 0 && tileHeight > 0)) throw bytes.corrupt(`${where} has a zero tile size`, 'TileWidth and TileLength > 0', `${tileWidth} x ${tileHeight}`);
    } else {
      tileWidth = width;
      const rps = await one(bytes, ifd, T.RowsPerStrip, height);
      if (!(rps > 0)) throw bytes.corrupt(`${where} has RowsPerStrip 0`, 'RowsPerStrip > 0', String(rps));
      tileHeight = Math.min(rps, height);
    }
    const chunkSamples = planar === 1 ? spp : 1;
    const bps = bits / 8;
    const tileBytes = tileWidth * tileHeight * chunkSamples * bps;
    if (tileBytes > lim.maxTileBytes) {
      throw new LimitExceededError(`a ${tiled ? 'tile' : 'strip'} is larger than the tile limit`, {
        input: name, expected: `at most ${lim.maxTileBytes} bytes per decoded tile/strip (limits.maxTileBytes)`,
        found: `${tileWidth} x ${tileHeight} x ${chunkSamples} samples x ${bps} bytes = ${tileBytes}`,
        fix: `Retile it with: gdal_translate -co TILED=YES -co COMPRESS=DEFLATE <input> <output.tif>, or raise ReaderLimits.maxTileBytes`,
      });
    }
    const expected = Math.ceil(width / tileWidth) * Math.ceil(height / tileHeight) * (planar === 2 ? spp : 1);
    if (expected > MAX_CHUNKS) {
      throw new LimitExceededError(`image has too many ${tiled ? 'tiles' : 'strips'}`, {
        input: name, expected: `at most ${MAX_CHUNKS} tiles/strips per image`,
        found: `${width} x ${height} pixels in ${tileWidth} x ${tileHeight} blocks${planar === 2 ? ` x ${spp} bands` : ''} = ${expected}`,
        fix: `Retile it with: gdal_translate -co TILED=YES -co COMPRESS=DEFLATE <input> <output.tif>`,
      });
    }
    const offTag = tiled ? T.TileOffsets : T.StripOffsets;
    const cntTag = tiled ? T.TileByteCounts : T.StripByteCounts;
    const offE = ifd.entries.get(offTag);
    const cntE = ifd.entries.get(cntTag);
    const label = tiled ? 'TileOffsets/TileByteCounts' : 'StripOffsets/StripByteCounts';
    if (!offE || offE.count !== expected || (cntE && cntE.count > expected)) {
      throw bytes.corrupt(`${where} has a wrong ${label} table`, `${expected} entries`, `${offE?.count ?? 'none'} offsets and ${cntE?.count ?? 'none'} byte counts`);
    }
    const offsets = await bytes.numberArray(offE, expected);
    let byteCounts: Float64Array;
    if (cntE && cntE.count === expected) {
      byteCounts = await bytes.numberArray(cntE, expected);
    } else if (cntE) {
      // Fewer byte counts than strips: libtiff ignores the tag's tail ("Incorrect count … tag ignored") and GDAL reads
      // the strips without a count as empty (sparse: nodata or 0). Read the same way.
      byteCounts = new Float64Array(expected);
      byteCounts.set(await bytes.numberArray(cntE, expected));
    } else if (expected === (planar === 2 ? spp : 1)) {
      // No byte counts and one strip per plane: libtiff estimates them (EstimateStripByteCounts) — an uncompressed
      // strip holds its decoded size, a compressed one runs to the next strip or the end of the file.
      byteCounts = new Float64Array(expected);
      const starts = Float64Array.from(offsets).sort();
      for (let i = 0; i < expected; i++) {
        const o = offsets[i];
        const next = starts.find((st) => st > o) ?? bytes.size;
        byteCounts[i] = Math.max(0, Math.min(compressionCode === 1 ? tileWidth * tileHeight * chunkSamples * bps : Infinity, next - o, bytes.size - o));
      }
    } else {
      throw bytes.corrupt(`${where} has no ${tiled ? 'TileByteCounts' : 'StripByteCounts'}`, `byte counts for its ${expected} ${tiled ? 'tiles' : 'strips'} (GDAL refuses this file too)`, 'none');
    }
    // Hard upper bounds of the decoded/encoded size ratio; a chunk too small to hold its pixels is refused now,
    // before any window memory is allocated for it (ZSTD has no such bound: its frame header is checked instead).
    const maxRatio = ({ 1: 1, 5: 2731, 8: 1033, 32946: 1033, 32773: 64 } as Record<number, number>)[compressionCode];
    const perPlane = Math.ceil(width / tileWidth) * Math.ceil(height / tileHeight);
    for (let i = 0; i < expected; i++) {
      const o = offsets[i];
      const c = byteCounts[i];
      if (!(o >= 0 && c >= 0 && o + c <= bytes.size)) {
        throw bytes.corrupt(`${where}: ${tiled ? 'tile' : 'strip'} ${i} lies past the end of the file (truncated?)`,
          `offset + byte count <= ${bytes.size}`, `offset ${o} + ${c} = ${o + c}`);
      }
      if (c > 0 && maxRatio !== undefined) {
        const row = Math.floor((i % perPlane) / Math.ceil(width / tileWidth));
        const rows = tiled ? tileHeight : Math.min(tileHeight, height - row * tileHeight);
        const needed = tileWidth * rows * chunkSamples * bps;
        if (c * maxRatio < needed) {
          throw bytes.corrupt(`${where}: ${tiled ? 'tile' : 'strip'} ${i} is too short to hold its pixels`,
            `at least ${Math.ceil(needed / maxRatio)} bytes of ${(COMPRESSION_NAMES[compressionCode] ?? '').toUpperCase()} data`, `${c} bytes`);
        }
      }
    }

    let meta: DatasetMeta;
    if (base === null) {
      const georef = interpretGeoTags({
        geoKeyDirectory: await many(bytes, ifd, T.GeoKeyDirectory, 65535),
        pixelScale: await many(bytes, ifd, T.ModelPixelScale, 3),
        tiepoints: await many(bytes, ifd, T.ModelTiepoint, 6 * 65535),
        transformation: await many(bytes, ifd, T.ModelTransformation, 16),
      });
      const nodataText = await text(bytes, ifd, T.GdalNodata);
      let nodata: number | null = null;
      if (nodataText !== null) {
        const v = parseNodata(nodataText);
        if (v === undefined) throw bytes.corrupt('GDAL_NODATA tag is not a number', 'a number or "nan"', JSON.stringify(nodataText));
        nodata = v;
      }
      meta = { width, height, georef, nodata, gdalMetadata: await text(bytes, ifd, T.GdalMetadata) };
    } else {
      meta = base;
    }
    let grid: Grid | null = null;
    const { epsg, transform } = meta.georef;
    if (epsg !== null && transform !== null) {
      const fx = meta.width / width;
      const fy = meta.height / height;
      const t = transform;
      grid = { crs: { epsg }, transform: [t[0], t[1] * fx, t[2] * fy, t[3], t[4] * fx, t[5] * fy], width, height };
    }
    const md = parseGdalMetadata(meta.gdalMetadata, spp);
    return new Image(bytes, lim, index, width, height, spp, sampleType, planar, tileWidth, tileHeight, tiled,
      compressionCode, predictor, meta.nodata, grid, meta.georef.warning, md.descriptions, md.scales, md.offsets,
      isOverview, meta, offsets, byteCounts);
  }

  /** See TiffImage.readWindow. */
  async readWindow(window?: Window, samples?: number[]): Promise<SampleArray[]> {
    const win = window ?? { x: 0, y: 0, width: this.width, height: this.height };
    const name = this.bytes.source.name;
    const { x, y, width: w, height: h } = win;
    if (![x, y, w, h].every(Number.isInteger) || x < 0 || y < 0 || w <= 0 || h <= 0 || x + w > this.width || y + h > this.height) {
      throw new UsageError('window is outside the image', {
        input: name, expected: `a window inside ${this.width} x ${this.height} pixels`, found: JSON.stringify(win),
      });
    }
    const sel = samples ?? Array.from({ length: this.samplesPerPixel }, (_, i) => i);
    if (sel.length === 0 || sel.some((s) => !Number.isInteger(s) || s < 0 || s >= this.samplesPerPixel)) {
      throw new UsageError('invalid band selection', {
        input: name, expected: `0-based band indexes below ${this.samplesPerPixel}`, found: JSON.stringify(sel),
      });
    }
    const need = w * h * sel.length * this.bytesPerSample;
    if (need > this.limits.maxWindowBytes) {
      throw new LimitExceededError('the window would need more memory than allowed', {
        input: name, expected: `at most ${this.limits.maxWindowBytes} bytes (limits.maxWindowBytes)`, found: `${need} bytes`,
        fix: 'Raise the limit with --max-memory, or read a smaller area (--bbox) or an overview',
      });
    }
    const tw = this.tileWidth;
    const th = this.tileHeight;
    // Exactly one whole tile of a one-band image (the block engine's reads): the decoded tile is the window.
    const whole = await this.readWholeTile(win);
    if (whole) return [whole.data];
    const Ctor = ARRAY_TYPES[this.sampleType];
    const out: SampleArray[] = sel.map(() => new Ctor(w * h));
    const tx0 = Math.floor(x / tw), tx1 = Math.floor((x + w - 1) / tw);
    const ty0 = Math.floor(y / th), ty1 = Math.floor((y + h - 1) / th);
    const planes = this.planarConfiguration === 2 ? sel.map((s, i) => [s, i]) : [[-1, -1]];
    const wanted: { offset: number; length: number; item: Chunk }[] = [];
    for (const [plane, outIdx] of planes) {
      for (let ty = ty0; ty <= ty1; ty++) {
        for (let tx = tx0; tx <= tx1; tx++) {
          const index = (plane < 0 ? 0 : plane * this.tilesAcross * this.tilesDown) + ty * this.tilesAcross + tx;
          const chunk = { index, tx, ty, plane, outIdx };
          if (this.byteCounts[index] === 0) this.place(null, chunk, win, sel, out); // sparse: GDAL fills with nodata (or 0)
          else wanted.push({ offset: this.offsets[index], length: this.byteCounts[index], item: chunk });
        }
      }
    }
    const reads = coalesceRanges(wanted, COALESCE_GAP, MAX_COALESCED_BYTES);
    await forEachConcurrent(reads, READ_CONCURRENCY, async (g) => {
      const buf = await this.bytes.read(g.offset, g.length);
      for (const m of g.members) {
        const raw = buf.subarray(m.offset - g.offset, m.offset - g.offset + m.length);
        const tile = this.decodeChunk(m.item.index, m.item.ty, raw);
        this.place(tile, m.item, win, sel, out);
        release(tile); // copied into the window (decodeChunk's arrays are its own)
      }
      if (this.bytes.source.freshReads) release(buf);
    });
    return out;
  }

  /** See TiffImage.readWholeTile. */
  async readWholeTile(win: Window, opts: { keepPredictor?: boolean } = {}): Promise<{ data: SampleArray; predicted: boolean } | null> {
    const tw = this.tileWidth;
    const th = this.tileHeight;
    const { x, y, width: w, height: h } = win;
    // Only a tile wholly inside the image (edge tiles are padded past it): anything else is readWindow's business.
    if (!this.tiled || this.samplesPerPixel !== 1 || w !== tw || h !== th || x % tw !== 0 || y % th !== 0
      || x < 0 || y < 0 || x + w > this.width || y + h > this.height) return null;
    const index = (y / th) * this.tilesAcross + x / tw;
    if (this.byteCounts[index] === 0) return null; // sparse: readWindow fills it
    const raw = await this.bytes.read(this.offsets[index], this.byteCounts[index]);
    // Only the little-endian integer predictor is handed over (the case of every GDAL-written COG band).
    const keep = Boolean(opts.keepPredictor) && this.predictor === 2 && this.bytes.littleEndian;
    const data = this.decodeChunk(index, y / th, raw, !keep);
    if (this.bytes.source.freshReads) release(raw); // decoded into an array of its own (decodeChunk copies uncompressed data)
    return { data, predicted: keep };
  }

  /** Copy the part of one decoded chunk (null: sparse) that lies inside `win` into the output arrays. */
  private place(tile: SampleArray | null, chunk: Chunk, win: Window, sel: number[], out: SampleArray[]): void {
    const { tx, ty, plane, outIdx } = chunk;
    const { x, y, width: w, height: h } = win;
    const tw = this.tileWidth;
    const th = this.tileHeight;
    const cx0 = Math.max(x, tx * tw), cx1 = Math.min(x + w, (tx + 1) * tw);
    const cy0 = Math.max(y, ty * th), cy1 = Math.min(y + h, (ty + 1) * th);
    if (tile === null) {
      const fill = this.nodata ?? 0;
      const targets = plane < 0 ? out : [out[outIdx]];
      for (const o of targets) for (let r = cy0; r < cy1; r++) o.fill(fill, (r - y) * w + cx0 - x, (r - y) * w + cx1 - x);
    } else if (plane >= 0 || this.samplesPerPixel === 1) {
      const o = out[plane >= 0 ? outIdx : 0];
      for (let r = cy0; r < cy1; r++) {
        const src = (r - ty * th) * tw - tx * tw;
        o.set(tile.subarray(src + cx0, src + cx1) as never, (r - y) * w + cx0 - x);
      }
    } else {
      // Copy through same-width integer views: fast, and bit-exact (no NaN canonicalisation).
      const spp = this.samplesPerPixel;
      const words = this.bytesPerSample === 8 ? 2 : 1;
      const tv = bitView(tile);
      for (let si = 0; si < sel.length; si++) {
        const ov = bitView(out[si]);
        const s = sel[si];
        for (let r = cy0; r < cy1; r++) {
          const src = ((r - ty * th) * tw - tx * tw) * spp + s;
          const d = (r - y) * w - x;
          if (words === 1) {
            for (let c = cx0; c < cx1; c++) ov[d + c] = tv[src + c * spp];
          } else {
            for (let c = cx0; c < cx1; c++) {
              const a = (src + c * spp) * 2;
              ov[(d + c) * 2] = tv[a];
              ov[(d + c) * 2 + 1] = tv[a + 1];
            }
          }
        }
      }
    }
  }

  /** Decode one tile/strip (its compressed bytes `raw`) into native-order samples. */
  private decodeChunk(i: number, tileRow: number, raw: Uint8Array, undoPredictor = true): SampleArray {
    const chunkSamples = this.planarConfiguration === 1 ? this.samplesPerPixel : 1;
    const bps = this.bytesPerSample;
    const rows = this.tiled ? this.tileHeight : Math.min(this.tileHeight, this.height - tileRow * this.tileHeight);
    const rowSamples = this.tileWidth * chunkSamples;
    const fullBytes = this.tileHeight * rowSamples * bps;
    const neededBytes = rows * rowSamples * bps;
    const what = `${this.tiled ? 'tile' : 'strip'} ${i} of image ${this.index}`;
    let data: Uint8Array;
    try {
      data = decompress(this.compressionCode, raw, fullBytes);
    } catch (err) {
      if (!(err instanceof CodecError)) throw err;
      throw new CorruptTiffError(`${what} cannot be decoded: ${err.message}`, {
        input: this.bytes.source.name,
        expected: `${this.compression.toUpperCase()} data for ${fullBytes} bytes`,
        found: err.overflow ? 'more data than the tile can hold' : 'invalid compressed data',
        fix: 'The file is damaged or hostile; re-download it or re-create it with gdal_translate',
      });
    }
    if (data.length < neededBytes) {
      throw new CorruptTiffError(`${what} decodes to too few bytes`, {
        input: this.bytes.source.name, expected: `${neededBytes} bytes`, found: `${data.length} bytes`,
        fix: 'The file is truncated or damaged; re-download it',
      });
    }
    // Decoders other than 'none' return a buffer of their own: use it in place when aligned for the sample type
    // (uncompressed data is a view of the read buffer, which may be cached, so it is copied).
    let buf: Uint8Array;
    if (this.compressionCode !== 1 && data.byteOffset % bps === 0) {
      buf = data.subarray(0, neededBytes);
    } else {
      buf = new Uint8Array(neededBytes);
      buf.set(data.subarray(0, neededBytes));
    }
    if (this.predictor === 3) {
      buf = undoFloatingPoint(buf, bps, rows, rowSamples, chunkSamples);
    } else {
      if (!this.bytes.littleEndian) swapBytes(buf, bps);
      if (this.predictor === 2 && undoPredictor) undoHorizontal(buf, bps, rows, rowSamples, chunkSamples);
    }
    return new ARRAY_TYPES[this.sampleType](buf.buffer as ArrayBuffer, buf.byteOffset, rows * rowSamples);
  }
}
