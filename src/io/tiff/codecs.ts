/**
 * Tile/strip decompression with a hard cap on output size (a "bomb" fails fast), plus TIFF predictors.
 */
import * as zlib from 'node:zlib';
import { decompress as zstdDecompress } from 'fzstd';
import { lzwDecode } from './lzw.js';
import { libdeflate, type Libdeflate } from '../libdeflate.js';

/** TIFF Compression tag values and the names GDAL prints for them (lower case). */
export const COMPRESSION_NAMES: Record<number, string> = {
  1: 'none', 2: 'ccittrle', 3: 'ccittfax3', 4: 'ccittfax4', 5: 'lzw', 6: 'ojpeg', 7: 'jpeg', 8: 'deflate',
  32773: 'packbits', 32946: 'deflate', 34712: 'jpeg2000', 34887: 'lerc', 34925: 'lzma', 50000: 'zstd', 50001: 'webp',
  50002: 'jxl', 52546: 'jxl',
};

/** Compression codes this reader decodes. */
export const SUPPORTED_COMPRESSIONS = new Set([1, 5, 8, 32946, 32773, 50000]);

/** Raised by `decompress` with a short reason; the reader turns it into a typed error naming the file and tile. */
export class CodecError extends Error {
  constructor(message: string, readonly overflow = false) {
    super(message);
  }
}

/**
 * Decompress one tile/strip. Never produces more than `maxOut` bytes; more data than that throws
 * CodecError(overflow). The result may be shorter than `maxOut` (the caller checks it has enough).
 */
export function decompress(code: number, data: Uint8Array, maxOut: number): Uint8Array {
  switch (code) {
    case 1:
      return data.length > maxOut ? data.subarray(0, maxOut) : data;
    case 8:
    case 32946:
      if (libdeflate) return inflateNative(libdeflate, data, maxOut);
      try {
        // One output chunk as large as the tile: ~1.5x faster than zlib's 16 KB chunks joined by a copy.
        const b = zlib.inflateSync(data, { maxOutputLength: Math.max(1, maxOut), chunkSize: Math.max(64, maxOut) });
        return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        if (e.code === 'ERR_BUFFER_TOO_LARGE' || e instanceof RangeError) {
          throw new CodecError(`DEFLATE data inflates past the ${maxOut} bytes a tile can hold (a decompression bomb?)`, true);
        }
        throw new CodecError(`DEFLATE data is corrupt (${e.message})`);
      }
    case 5:
      try {
        return lzwDecode(data, maxOut);
      } catch (err) {
        const msg = (err as Error).message;
        throw new CodecError(msg, msg.includes('decodes past'));
      }
    case 50000:
      return zstd(data, maxOut);
    case 32773:
      return packBits(data, maxOut);
    default:
      throw new CodecError(`compression ${code} is not supported`);
  }
}

/** DEFLATE (zlib stream) with the libdeflate binding, into a buffer the tile's size: the same errors as node:zlib's. */
function inflateNative(ld: Libdeflate, data: Uint8Array, maxOut: number): Uint8Array {
  const out = new Uint8Array(Math.max(1, maxOut));
  let n: number;
  try {
    n = ld.inflate(data, out);
  } catch (err) {
    throw new CodecError(`DEFLATE data is corrupt (${(err as Error).message})`);
  }
  if (n < 0) throw new CodecError(`DEFLATE data inflates past the ${maxOut} bytes a tile can hold (a decompression bomb?)`, true);
  return out.subarray(0, n);
}

/** node:zlib's native ZSTD (Node >= 22.15), much faster than fzstd (pure JS, ~12 MB/s); undefined on Node 20. */
const nativeZstd = (zlib as unknown as {
  zstdDecompressSync?: (b: Uint8Array, o: { maxOutputLength: number }) => Buffer;
}).zstdDecompressSync;

function zstd(data: Uint8Array, maxOut: number): Uint8Array {
  // Check the frame header's declared content size before decoding, so a bomb is refused without allocating.
  const declared = zstdContentSize(data);
  if (declared !== null && declared > maxOut) {
    throw new CodecError(`ZSTD frame declares ${declared} bytes, more than the ${maxOut} a tile can hold (a decompression bomb?)`, true);
  }
  if (nativeZstd) {
    try {
      const b = nativeZstd(data, { maxOutputLength: Math.max(1, maxOut) });
      return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
    } catch (err) {
      if (err instanceof RangeError) throw new CodecError(`ZSTD data decodes past the ${maxOut} bytes a tile can hold`, true);
      throw new CodecError(`ZSTD data is corrupt (${(err as Error).message})`);
    }
  }
  const out = new Uint8Array(maxOut);
  try {
    zstdDecompress(data, out);
  } catch (err) {
    throw new CodecError(`ZSTD data is corrupt (${(err as Error).message})`);
  }
  return declared === null ? out : out.subarray(0, declared);
}

/** Frame content size from a ZSTD frame header, or null if not declared. */
function zstdContentSize(d: Uint8Array): number | null {
  if (d.length < 6 || d[0] !== 0x28 || d[1] !== 0xb5 || d[2] !== 0x2f || d[3] !== 0xfd) throw new CodecError('ZSTD data has no frame magic');
  const flg = d[4];
  const fcf = flg >> 6;
  const single = (flg >> 5) & 1;
  const dictBytes = [0, 1, 2, 4][flg & 3];
  let p = 5 + (single ? 0 : 1) + dictBytes;
  const n = fcf === 0 ? (single ? 1 : 0) : 1 << fcf;
  if (n === 0) return null;
  if (p + n > d.length) throw new CodecError('ZSTD frame header is truncated');
  let v = 0;
  for (let i = n - 1; i >= 0; i--) v = v * 256 + d[p + i];
  if (n === 2) v += 256;
  p += n;
  return v;
}

function packBits(data: Uint8Array, maxOut: number): Uint8Array {
  const out = new Uint8Array(maxOut);
  let ip = 0;
  let op = 0;
  while (ip < data.length && op < maxOut) {
    const n = (data[ip++] << 24) >> 24;
    if (n >= 0) {
      const len = n + 1;
      if (op + len > maxOut) throw new CodecError(`PackBits data decodes past ${maxOut} bytes`, true);
      if (ip + len > data.length) throw new CodecError('PackBits literal run is truncated');
      out.set(data.subarray(ip, ip + len), op);
      ip += len;
      op += len;
    } else if (n !== -128) {
      const len = 1 - n;
      if (op + len > maxOut) throw new CodecError(`PackBits data decodes past ${maxOut} bytes`, true);
      if (ip >= data.length) throw new CodecError('PackBits repeat run is truncated');
      out.fill(data[ip++], op, op + len);
      op += len;
    }
  }
  return out.subarray(0, op);
}

/**
 * Reverse byte order of each `bytesPerSample`-byte sample in place (big-endian file on a little-endian host).
 */
export function swapBytes(b: Uint8Array, bytesPerSample: number): void {
  if (bytesPerSample === 1) return;
  const n = b.length - (b.length % bytesPerSample);
  if (bytesPerSample === 2) {
    for (let i = 0; i < n; i += 2) {
      const t = b[i]; b[i] = b[i + 1]; b[i + 1] = t;
    }
  } else if (bytesPerSample === 4) {
    for (let i = 0; i < n; i += 4) {
      let t = b[i]; b[i] = b[i + 3]; b[i + 3] = t;
      t = b[i + 1]; b[i + 1] = b[i + 2]; b[i + 2] = t;
    }
  } else {
    for (let i = 0; i < n; i += 8) {
      for (let k = 0; k < 4; k++) {
        const t = b[i + k]; b[i + k] = b[i + 7 - k]; b[i + 7 - k] = t;
      }
    }
  }
}

/**
 * Undo predictor 2 (horizontal differencing) in place on native-order samples: for each row of `rowSamples`
 * values, value[i] += value[i - stride]. Integer wrap-around matches libtiff.
 */
export function undoHorizontal(b: Uint8Array, bytesPerSample: number, rows: number, rowSamples: number, stride: number): void {
  const buf = b.buffer;
  const off = b.byteOffset;
  if (bytesPerSample === 1) accumulate(b, rows, rowSamples, stride);
  else if (bytesPerSample === 2) accumulate(new Uint16Array(buf, off, rows * rowSamples), rows, rowSamples, stride);
  else if (bytesPerSample === 4) accumulate(new Uint32Array(buf, off, rows * rowSamples), rows, rowSamples, stride);
  else {
    const a = new BigUint64Array(buf, off, rows * rowSamples);
    for (let r = 0; r < rows; r++) {
      const base = r * rowSamples;
      for (let i = base + stride; i < base + rowSamples; i++) a[i] = BigInt.asUintN(64, a[i] + a[i - stride]);
    }
  }
}

function accumulate(a: Uint8Array | Uint16Array | Uint32Array, rows: number, rowSamples: number, stride: number): void {
  if (stride === 1 && a instanceof Uint16Array) {
    accumulate16(a, rows, rowSamples); // the common case (uint16 bands), kept monomorphic
    return;
  }
  for (let r = 0; r < rows; r++) {
    const base = r * rowSamples;
    const end = base + rowSamples;
    for (let i = base + stride; i < end; i++) a[i] += a[i - stride];
  }
}

function accumulate16(a: Uint16Array, rows: number, rowSamples: number): void {
  for (let r = 0; r < rows; r++) {
    const base = r * rowSamples;
    let acc = a[base]!;
    for (let i = base + 1; i < base + rowSamples; i++) {
      acc = (acc + a[i]!) & 0xffff;
      a[i] = acc;
    }
  }
}

/**
 * Undo predictor 3 (floating-point: byte planes, most significant first, then horizontal byte differencing
 * with `stride` = samples per pixel). Returns a new buffer in little-endian (host) order.
 */
export function undoFloatingPoint(b: Uint8Array, bytesPerSample: number, rows: number, rowSamples: number, stride: number): Uint8Array {
  const rowBytes = rowSamples * bytesPerSample;
  const out = new Uint8Array(rows * rowBytes);
  for (let r = 0; r < rows; r++) {
    const base = r * rowBytes;
    for (let i = base + stride; i < base + rowBytes; i++) b[i] = (b[i] + b[i - stride]) & 0xff;
    for (let k = 0; k < bytesPerSample; k++) {
      const src = base + k * rowSamples; // plane k holds byte (bytesPerSample - 1 - k) of each sample (MSB first)
      const dstByte = bytesPerSample - 1 - k;
      for (let i = 0; i < rowSamples; i++) out[base + i * bytesPerSample + dstByte] = b[src + i];
    }
  }
  return out;
}
