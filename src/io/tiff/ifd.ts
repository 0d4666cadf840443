/**
 * Bounded, validating walk of a TIFF/BigTIFF header and IFD chain. Nothing here trusts the file: every count and
 * offset is checked against the file size before it is used, the chain is capped and loops are detected.
 */
import { CorruptTiffError, LimitExceededError, NotATiffError } from '../../errors.js';
import type { ByteSource } from '../byte-source.js';

/** One directory entry, values not yet read. */
export interface IfdEntry {
  readonly tag: number;
  readonly type: number;
  readonly count: number;
  /** Absolute offset of the value bytes (inline values point into the entry itself). */
  readonly valueOffset: number;
  readonly byteLength: number;
}

/** One IFD: its offset and its entries by tag. */
export interface RawIfd {
  readonly offset: number;
  readonly entries: ReadonlyMap<number, IfdEntry>;
}

/** Byte sizes of the TIFF field types; unknown types are skipped. */
const TYPE_SIZE: Record<number, number> = {
  1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4, 16: 8, 17: 8, 18: 8,
};

/** IFDs with more entries than this are refused (real files have < 100). */
const MAX_ENTRIES = 4096;
/** The header cache: COG and GDAL files keep their IFDs near the start. */
const HEAD_BYTES = 65536;
/** Largest tag value we will read (GDAL_METADATA XML, offset arrays of huge files). */
export const MAX_TAG_BYTES = 64 * 1024 * 1024;

/** Reads with a cache of the file's first bytes, and the byte order of the file. */
export class TiffBytes {
  private constructor(
    readonly source: ByteSource,
    readonly size: number,
    readonly littleEndian: boolean,
    readonly bigTiff: boolean,
    private readonly head: Uint8Array,
  ) {}

  /** Read and check the header; returns the reader and the first IFD offset. */
  static async open(source: ByteSource): Promise<{ bytes: TiffBytes; firstIfd: number }> {
    const size = await source.size();
    const head = await source.read(0, Math.min(size, HEAD_BYTES));
    if (size < 8) {
      throw new NotATiffError('not a TIFF file', {
        input: source.name, expected: 'a TIFF header (at least 8 bytes)', found: `${size} bytes ${describeBytes(head)}`,
      });
    }
    const b0 = head[0], b1 = head[1];
    const le = b0 === 0x49 && b1 === 0x49;
    const be = b0 === 0x4d && b1 === 0x4d;
    const dv = new DataView(head.buffer, head.byteOffset, head.byteLength);
    const version = le || be ? dv.getUint16(2, le) : -1;
    if ((!le && !be) || (version !== 42 && version !== 43)) {
      throw new NotATiffError('not a TIFF file', {
        input: source.name,
        expected: 'a TIFF or BigTIFF header (II*\\0 or MM\\0*)',
        found: describeBytes(head),
        fix: 'Convert it to GeoTIFF with: gdal_translate -of GTiff -co COMPRESS=DEFLATE <input> <output.tif>',
      });
    }
    const bigTiff = version === 43;
    const bytes = new TiffBytes(source, size, le, bigTiff, head);
    let firstIfd: number;
    if (bigTiff) {
      if (size < 16) throw bytes.corrupt('BigTIFF header is truncated', 'a 16-byte header', `${size} bytes`);
      if (dv.getUint16(4, le) !== 8 || dv.getUint16(6, le) !== 0) {
        throw bytes.corrupt('bad BigTIFF header', 'offset size 8', `offset size ${dv.getUint16(4, le)}`);
      }
      firstIfd = bytes.toOffset(dv.getBigUint64(8, le), 'first IFD offset');
    } else {
      firstIfd = dv.getUint32(4, le);
    }
    return { bytes, firstIfd };
  }

  /** A CorruptTiffError naming this file. */
  corrupt(summary: string, expected?: string, found?: string): CorruptTiffError {
    return new CorruptTiffError(summary, {
      input: this.source.name, expected, found,
      fix: 'The file is damaged; re-download it or re-create it with gdal_translate',
    });
  }

  /** Convert a 64-bit offset to a number, refusing values past the end of the file. */
  toOffset(v: bigint | number, what: string): number {
    if (BigInt(v) > BigInt(this.size)) throw this.corrupt(`${what} points past the end of the file`, `at most ${this.size}`, String(v));
    return Number(v);
  }

  /** Exactly `length` bytes at `offset`, checked against the file size. */
  async read(offset: number, length: number): Promise<Uint8Array> {
    if (offset < 0 || length < 0 || offset + length > this.size) {
      throw this.corrupt('data runs past the end of the file (truncated?)', `bytes ${offset}..${offset + length} within ${this.size}`, `a file of ${this.size} bytes`);
    }
    if (offset + length <= this.head.length) return this.head.subarray(offset, offset + length);
    return this.source.read(offset, length);
  }

  /** Read the IFD at `offset`: its entries and the offset of the next IFD (0 = none). */
  async readIfd(offset: number): Promise<{ ifd: RawIfd; next: number }> {
    const le = this.littleEndian;
    const countSize = this.bigTiff ? 8 : 2;
    const entrySize = this.bigTiff ? 20 : 12;
    const inlineSize = this.bigTiff ? 8 : 4;
    if (offset < 8 || offset + countSize > this.size) {
      throw this.corrupt('IFD offset is outside the file', `an offset in 8..${this.size - countSize}`, String(offset));
    }
    const cb = await this.read(offset, countSize);
    const cdv = new DataView(cb.buffer, cb.byteOffset, cb.byteLength);
    const n = this.bigTiff ? this.toOffset(cdv.getBigUint64(0, le), 'IFD entry count') : cdv.getUint16(0, le);
    if (n === 0 || n > MAX_ENTRIES) throw this.corrupt(`IFD at offset ${offset} has an implausible entry count`, `1..${MAX_ENTRIES}`, String(n));
    const bodyLen = n * entrySize + inlineSize;
    if (offset + countSize + bodyLen > this.size) {
      throw this.corrupt(`IFD at offset ${offset} runs past the end of the file`, `${bodyLen} bytes of entries`, `${this.size - offset - countSize} bytes left`);
    }
    const body = await this.read(offset + countSize, bodyLen);
    const dv = new DataView(body.buffer, body.byteOffset, body.byteLength);
    const entries = new Map<number, IfdEntry>();
    for (let i = 0; i < n; i++) {
      const p = i * entrySize;
      const tag = dv.getUint16(p, le);
      const type = dv.getUint16(p + 2, le);
      const tsize = TYPE_SIZE[type];
      if (tsize === undefined) continue; // unknown field type: skip, as libtiff does
      const count = this.bigTiff ? this.toOffset(dv.getBigUint64(p + 4, le), `count of tag ${tag}`) : dv.getUint32(p + 4, le);
      const byteLength = count * tsize;
      let valueOffset: number;
      if (byteLength <= inlineSize) {
        valueOffset = offset + countSize + p + (this.bigTiff ? 12 : 8);
      } else {
        valueOffset = this.bigTiff ? this.toOffset(dv.getBigUint64(p + 12, le), `value offset of tag ${tag}`) : dv.getUint32(p + 8, le);
        if (valueOffset + byteLength > this.size) {
          throw this.corrupt(`tag ${tag} values run past the end of the file`, `${byteLength} bytes at ${valueOffset} within ${this.size}`, `${valueOffset + byteLength}`);
        }
      }
      entries.set(tag, { tag, type, count, valueOffset, byteLength });
    }
    const next = this.bigTiff ? this.toOffset(dv.getBigUint64(n * entrySize, le), 'next IFD offset') : dv.getUint32(n * entrySize, le);
    return { ifd: { offset, entries }, next };
  }

  /** Numeric values of an entry (rationals as floats); refuses more than `maxCount` values. */
  async numbers(e: IfdEntry, maxCount = MAX_TAG_BYTES / 8): Promise<number[]> {
    return this.readValues(e, maxCount, (n) => new Array<number>(n));
  }

  /**
   * Like `numbers`, into a Float64Array: for tile tables, which can hold millions of values and should not sit
   * on the JS heap (8 bytes per value outside it, and exact for offsets up to 2^53).
   */
  async numberArray(e: IfdEntry, maxCount = MAX_TAG_BYTES / 8): Promise<Float64Array> {
    return this.readValues(e, maxCount, (n) => new Float64Array(n));
  }

  private async readValues<A extends { [i: number]: number }>(e: IfdEntry, maxCount: number, make: (n: number) => A): Promise<A> {
    if (e.count > maxCount || e.byteLength > MAX_TAG_BYTES) {
      throw this.corrupt(`tag ${e.tag} has too many values`, `at most ${maxCount}`, String(e.count));
    }
    const raw = await this.read(e.valueOffset, e.byteLength);
    const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    const le = this.littleEndian;
    const out = make(e.count);
    for (let i = 0; i < e.count; i++) {
      switch (e.type) {
        case 1: case 2: case 7: out[i] = dv.getUint8(i); break;
        case 6: out[i] = dv.getInt8(i); break;
        case 3: out[i] = dv.getUint16(i * 2, le); break;
        case 8: out[i] = dv.getInt16(i * 2, le); break;
        case 4: case 13: out[i] = dv.getUint32(i * 4, le); break;
        case 9: out[i] = dv.getInt32(i * 4, le); break;
        case 5: out[i] = dv.getUint32(i * 8, le) / dv.getUint32(i * 8 + 4, le); break;
        case 10: out[i] = dv.getInt32(i * 8, le) / dv.getInt32(i * 8 + 4, le); break;
        case 11: out[i] = dv.getFloat32(i * 4, le); break;
        case 12: out[i] = dv.getFloat64(i * 8, le); break;
        case 16: case 18: out[i] = Number(dv.getBigUint64(i * 8, le)); break;
        case 17: out[i] = Number(dv.getBigInt64(i * 8, le)); break;
      }
    }
    return out;
  }

  /** ASCII value of an entry, up to the first NUL. */
  async ascii(e: IfdEntry): Promise<string> {
    if (e.byteLength > MAX_TAG_BYTES) throw this.corrupt(`tag ${e.tag} text is too long`, `at most ${MAX_TAG_BYTES} bytes`, String(e.byteLength));
    const raw = await this.read(e.valueOffset, e.byteLength);
    const end = raw.indexOf(0);
    return new TextDecoder('latin1').decode(end >= 0 ? raw.subarray(0, end) : raw);
  }
}

/**
 * Walk the IFD chain from `first`, at most `maxIfds` IFDs, refusing loops (an IFD seen twice) and out-of-file offsets.
 */
export async function walkIfds(bytes: TiffBytes, first: number, maxIfds: number): Promise<RawIfd[]> {
  const seen = new Set<number>();
  const ifds: RawIfd[] = [];
  let offset = first;
  if (offset === 0) throw bytes.corrupt('the TIFF has no images', 'a first IFD offset > 0', '0');
  while (offset !== 0) {
    if (seen.has(offset)) {
      throw bytes.corrupt('IFD chain loops back on itself', 'each IFD offset to appear once', `offset ${offset} twice (after ${ifds.length} IFDs)`);
    }
    if (ifds.length >= maxIfds) {
      throw new LimitExceededError('too many images (IFDs) in the TIFF', {
        input: bytes.source.name, expected: `at most ${maxIfds} IFDs (limits.maxIfds)`, found: 'more',
        fix: 'Raise ReaderLimits.maxIfds if the file is genuine',
      });
    }
    seen.add(offset);
    const { ifd, next } = await bytes.readIfd(offset);
    ifds.push(ifd);
    offset = next;
  }
  return ifds;
}

/**
 * A human description of what the first bytes look like, for NotATiffError. The bytes themselves are shown (as hex)
 * only when they are an image format's signature (PNG, JPEG, JPEG 2000, TIFF-like): the file may be anything a
 * STAC item or a typo pointed at (a password file, a key), and an error message must never echo its content.
 */
export function describeBytes(b: Uint8Array): string {
  const hex = Array.from(b.subarray(0, 8), (x) => x.toString(16).padStart(2, '0')).join(' ');
  const text = new TextDecoder('latin1').decode(b.subarray(0, 64)).trimStart().toLowerCase();
  let image: string | null = null;
  let kind = 'unknown data';
  if (b.length === 0) kind = 'an empty file';
  else if (b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47) image = 'a PNG image';
  else if (b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) image = 'a JPEG image';
  else if (b[0] === 0x00 && b[1] === 0x00 && b[2] === 0x00 && b[3] === 0x0c && b[4] === 0x6a && b[5] === 0x50) image = 'a JPEG 2000 file (.jp2)';
  else if ((b[0] === 0x49 && b[1] === 0x49) || (b[0] === 0x4d && b[1] === 0x4d)) image = 'a TIFF-like byte order mark';
  else if (b[0] === 0x50 && b[1] === 0x4b && b[2] === 0x03 && b[3] === 0x04) kind = 'a ZIP archive (a .SAFE zip? unzip it first)';
  else if (b[0] === 0x1f && b[1] === 0x8b) kind = 'a gzip file';
  else if (text.startsWith('<!doctype html') || text.startsWith('<html')) kind = 'an HTML page (an error page from a server?)';
  else if (text.startsWith('<?xml') || text.startsWith('<')) kind = 'XML';
  else if (text.startsWith('{') || text.startsWith('[')) kind = 'JSON';
  else if (text.startsWith('cdf') || text.startsWith('\x89hdf')) kind = 'a NetCDF/HDF file';
  else if (/^[\t\n\r\x20-\x7e]*$/.test(new TextDecoder('latin1').decode(b.subarray(0, 64)))) kind = 'plain text';
  if (image) return `bytes ${hex} (${image})`;
  return b.length === 0 ? kind : `${kind} (content not shown)`;
}
