/**
 * Worker side of the whole-image decode sandbox (see decode-sandbox.ts). Runs OpenJPEG (WebAssembly) or geotiff.js
 * on one image and posts the decoded planes back (transferred, not copied). The parent terminates this worker when
 * its time budget runs out; its heap is capped by resourceLimits and its pixel output by the request's byte cap.
 */
import { createRequire } from 'node:module';
import { readFile } from 'node:fs/promises';
import { parentPort, workerData } from 'node:worker_threads';
import { CorruptTiffError, isS2ChangeError, LimitExceededError, UnsupportedCompressionError, UnsupportedTiffError } from '../../errors.js';
import { serializeError } from '../tiff/sandbox-protocol.js';
import type { SampleType } from '../tiff/types.js';
import { xzDeclaredSize } from './xz-size.js';
import type { DecodedImage, DecodeReply, DecodeRequest, GeotiffRequest, GeotiffTags, Jp2Request } from './protocol.js';

const require = createRequire(import.meta.url);

interface J2KDecoder {
  getEncodedBuffer(n: number): Uint8Array;
  getDecodedBuffer(): Uint8Array;
  decode(): void;
  decodeSubResolution(level: number, layer: number): void;
  getFrameInfo(): { width: number; height: number; bitsPerSample: number; componentCount: number; isSigned: boolean };
  delete?(): void;
}

async function decodeJp2(req: Jp2Request): Promise<DecodedImage> {
  const factory = require('@cornerstonejs/codec-openjpeg/decodewasmjs') as (o?: object) => Promise<{ J2KDecoder: new () => J2KDecoder }>;
  const m = await factory({ print: () => undefined, printErr: () => undefined });
  const dec = new m.J2KDecoder();
  dec.getEncodedBuffer(req.bytes.length).set(req.bytes);
  try {
    if (req.level > 0) dec.decodeSubResolution(req.level, 0);
    else dec.decode();
  } catch (err) {
    throw new CorruptTiffError('the JPEG 2000 codestream cannot be decoded', {
      input: req.name, expected: 'a valid JPEG 2000 codestream', found: `OpenJPEG failed (${typeof err === 'number' ? `wasm exception ${err}` : String((err as Error)?.message ?? err)})`,
      fix: 'Re-download the product; if it persists the file is damaged',
    });
  }
  const info = dec.getFrameInfo();
  const out = dec.getDecodedBuffer();
  const { width, height, componentCount: nc } = info;
  if (info.bitsPerSample > 16) {
    throw new UnsupportedTiffError('JPEG 2000 samples deeper than 16 bits are not supported', {
      input: req.name, expected: 'at most 16 bits per sample (Sentinel-2 bands have 15)', found: `${info.bitsPerSample} bits`,
      fix: `Convert it with: gdal_translate -co COMPRESS=DEFLATE ${req.name} <output.tif>`,
    });
  }
  const bytes = info.bitsPerSample <= 8 ? 1 : 2;
  const sampleType: SampleType = bytes === 1 ? (info.isSigned ? 'int8' : 'uint8') : (info.isSigned ? 'int16' : 'uint16');
  const n = width * height;
  if (out.length < n * nc * bytes) {
    throw new CorruptTiffError('the JPEG 2000 decoder returned fewer pixels than the image has', {
      input: req.name, expected: `${n * nc * bytes} bytes`, found: `${out.length}`,
    });
  }
  const planes: ArrayBuffer[] = [];
  if (nc === 1) {
    planes.push(out.slice(0, n * bytes).buffer);
  } else {
    // OpenJPEG's output is pixel-interleaved: split it into one plane per component.
    const src = bytes === 1 ? out : new Uint16Array(out.buffer, out.byteOffset, n * nc);
    for (let c = 0; c < nc; c++) {
      const p = bytes === 1 ? new Uint8Array(n) : new Uint16Array(n);
      for (let i = 0; i < n; i++) p[i] = src[i * nc + c]!;
      planes.push(p.buffer as ArrayBuffer);
    }
  }
  dec.delete?.();
  return { width, height, sampleType, planes };
}

const TYPE_BY_ARRAY: Record<string, SampleType> = {
  Uint8Array: 'uint8', Int8Array: 'int8', Uint16Array: 'uint16', Int16Array: 'int16', Uint32Array: 'uint32', Int32Array: 'int32',
  Float32Array: 'float32', Float64Array: 'float64',
};

/** The decoded size of one tile or strip, from geotiff.js's decoder parameters (a cap against decompression bombs). */
function blockBytes(p: { tileWidth: number; tileHeight: number; bitsPerSample: number | ArrayLike<number>; planarConfiguration: number }): number {
  const bits = typeof p.bitsPerSample === 'number' ? [p.bitsPerSample] : Array.from(p.bitsPerSample);
  const pixelBits = p.planarConfiguration === 2 ? bits[0]! : bits.reduce((a, b) => a + b, 0);
  return Math.ceil((p.tileWidth * pixelBits) / 8) * p.tileHeight;
}

/**
 * Decoders geotiff.js lacks in Node, registered once: LZMA (xz streams, with node-liblzma, stopped past the
 * block's size) and WebP (with sharp, which this project already uses for PNGs).
 */
async function registerExtraDecoders(): Promise<void> {
  const { addDecoder, BaseDecoder } = await import('geotiff');
  class LzmaDecoder extends BaseDecoder {
    override decodeBlock(buffer: ArrayBufferLike): ArrayBufferLike {
      const { unxzSync } = require('node-liblzma') as typeof import('node-liblzma');
      const data = Buffer.from(buffer as ArrayBuffer);
      const max = blockBytes(this.parameters as never);
      const declared = xzDeclaredSize(data);
      if (declared > max) throw new Error(`LZMA data declares ${declared} bytes, more than the ${max} a block can hold (a decompression bomb?)`);
      // Synchronous on purpose: no native work may still be pending when the sandbox terminates this worker.
      let out: Buffer;
      try {
        out = unxzSync(data, { memlimit: 256 * 1024 * 1024 });
      } catch (err) {
        throw new Error(`LZMA data is corrupt (${(err as Error).message})`);
      }
      return out.buffer.slice(out.byteOffset, out.byteOffset + out.byteLength);
    }
  }
  class WebpDecoder extends BaseDecoder {
    override async decodeBlock(buffer: ArrayBufferLike): Promise<ArrayBufferLike> {
      const { default: sharp } = await import('sharp');
      const p = this.parameters as { tileWidth: number; tileHeight: number; samplesPerPixel?: number };
      const { data, info } = await sharp(Buffer.from(buffer as ArrayBuffer), { limitInputPixels: p.tileWidth * p.tileHeight })
        .raw().toBuffer({ resolveWithObject: true });
      const want = p.samplesPerPixel ?? info.channels;
      if (info.channels === want) return data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength);
      const out = new Uint8Array(info.width * info.height * want);
      for (let i = 0; i < info.width * info.height; i++) {
        for (let c = 0; c < want; c++) out[i * want + c] = c < info.channels ? data[i * info.channels + c]! : 255;
      }
      return out.buffer;
    }
  }
  addDecoder(34925, async () => LzmaDecoder as never);
  addDecoder(50001, async () => WebpDecoder as never, async (dir) => {
    const fd = dir as unknown as { loadValue(t: string): Promise<unknown>; hasTag(t: string): boolean };
    const tiled = !fd.hasTag('StripOffsets');
    return {
      tileWidth: Number(await fd.loadValue(tiled ? 'TileWidth' : 'ImageWidth')),
      tileHeight: Number(tiled ? await fd.loadValue('TileLength') : (await fd.loadValue('RowsPerStrip')) ?? (await fd.loadValue('ImageLength'))),
      planarConfiguration: Number(await fd.loadValue('PlanarConfiguration') ?? 1),
      bitsPerSample: await fd.loadValue('BitsPerSample'),
      predictor: Number(await fd.loadValue('Predictor') ?? 1),
      samplesPerPixel: Number(await fd.loadValue('SamplesPerPixel') ?? 1),
    } as never;
  }, false);
}

async function decodeGeotiff(req: GeotiffRequest): Promise<DecodedImage> {
  const { fromArrayBuffer } = await import('geotiff');
  await registerExtraDecoders();
  const buf = await readFile(req.path);
  const tiff = await fromArrayBuffer(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer);
  const img = await tiff.getImage(0);
  const width = img.getWidth();
  const height = img.getHeight();
  const spp = img.getSamplesPerPixel();
  const bits = img.getBitsPerSample(0);
  const fmt = img.getSampleFormat(0);
  const fd = img.fileDirectory;
  const val = async (tag: string): Promise<unknown> => (fd.hasTag(tag as never) ? fd.loadValue(tag as never) : null);
  const compression = Number(await val('Compression') ?? 1);
  const photometric = (await val('PhotometricInterpretation')) as number | null;
  if (fmt === 5 || fmt === 6) {
    throw new UnsupportedTiffError('complex samples are not supported', {
      input: req.name, expected: 'real-valued samples (Sentinel-2 products have no complex bands)', found: `${bits}-bit complex samples`,
      fix: 'Convert it with: gdal_translate -ot Float32 -co COMPRESS=DEFLATE <input> <output.tif> (takes the real part)',
    });
  }
  if (bits === 64 && fmt !== 3) {
    throw new UnsupportedTiffError('64-bit integer samples are not supported', {
      input: req.name, expected: '8/16/32-bit integers or 32/64-bit floats', found: `64-bit ${fmt === 2 ? 'signed' : 'unsigned'} integers`,
      fix: 'Convert it with: gdal_translate -ot Float64 -co COMPRESS=DEFLATE <input> <output.tif>',
    });
  }
  const unsupported: Record<number, string> = { 34712: 'JPEG2000', 50002: 'JXL', 52546: 'JXL', 2: 'CCITTRLE', 3: 'CCITTFAX3', 4: 'CCITTFAX4' };
  if (unsupported[compression]) {
    throw new UnsupportedCompressionError('compression is not supported', {
      input: req.name, expected: 'NONE, DEFLATE, LZW, ZSTD, PACKBITS, JPEG, LERC, LZMA or WEBP', found: unsupported[compression],
      fix: `Convert it with: gdal_translate -co COMPRESS=DEFLATE ${req.path} <output.tif>`,
    });
  }
  const outBytes = width * height * spp * Math.max(1, Math.ceil(bits / 8)) * (bits === 16 && fmt === 3 ? 2 : 1);
  if (outBytes > req.maxBytes) {
    throw new LimitExceededError('the image is larger than the decode memory budget', {
      input: req.name, expected: `at most ${req.maxBytes} bytes of decoded pixels (--decode-memory)`, found: `${width} x ${height} x ${spp} samples = ${outBytes} bytes`,
      fix: `Convert it with: gdal_translate -co COMPRESS=DEFLATE -co TILED=YES ${req.path} <output.tif> (then only the windows needed are decoded)`,
    });
  }
  // JPEG-in-TIFF with YCbCr photometric: geotiff.js converts to RGB only through readRGB.
  const rasters = photometric === 6 && compression === 7
    ? await img.readRGB({ interleave: false, enableAlpha: false })
    : await img.readRasters({ interleave: false });
  const arrays = (Array.isArray(rasters) ? rasters : [rasters]) as unknown as ArrayLike<number>[];
  const first = arrays[0] as unknown as { constructor: { name: string } };
  const sampleType = TYPE_BY_ARRAY[first.constructor.name]; // float16 comes widened to Float32Array
  if (!sampleType) throw new UnsupportedTiffError('sample type is not supported', { input: req.name, expected: 'integer or float samples', found: first.constructor.name });
  const planes = arrays.map((a) => {
    const t = a as unknown as Uint8Array;
    return t.buffer.byteLength === t.byteLength ? (t.buffer as ArrayBuffer) : (t.slice().buffer as ArrayBuffer);
  });
  const num = async (tag: string): Promise<number[] | null> => {
    const v = await val(tag);
    return v == null ? null : Array.from(v as ArrayLike<number>, Number);
  };
  const tags: GeotiffTags = {
    geoKeyDirectory: await num('GeoKeyDirectory'),
    pixelScale: await num('ModelPixelScale'),
    tiepoints: await num('ModelTiepoint'),
    transformation: await num('ModelTransformation'),
    nodata: (await val('GDAL_NODATA')) as string | null,
    gdalMetadata: (await val('GDAL_METADATA')) as string | null,
    compression, photometric, planarConfiguration: Number(await val('PlanarConfiguration') ?? 1), bitsPerSample: bits, sampleFormat: fmt,
  };
  return { width, height, sampleType, planes, tags };
}

async function run(req: DecodeRequest): Promise<DecodeReply> {
  try {
    const image = req.op === 'jp2' ? await decodeJp2(req) : await decodeGeotiff(req);
    return { ok: true, image };
  } catch (err) {
    const typed = isS2ChangeError(err) ? err : new CorruptTiffError(`${req.op === 'jp2' ? 'OpenJPEG' : 'geotiff.js'} cannot decode the file`, {
      input: req.name, expected: 'a file the decoder can read', found: String((err as Error)?.message ?? err),
      fix: 'Check it with gdalinfo; if GDAL reads it, convert it: gdal_translate -co COMPRESS=DEFLATE <input> <output.tif>',
    });
    return { ok: false, error: serializeError(typed) };
  }
}

const reply = await run(workerData as DecodeRequest);
parentPort!.postMessage(reply, reply.ok ? reply.image.planes : []);
