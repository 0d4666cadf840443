/**
 * Messages between the whole-image decode sandbox (decode-sandbox.ts) and its worker (decode-worker.ts): the second
 * decoders — OpenJPEG (JPEG 2000) and geotiff.js (TIFF layouts and codecs our reader does not decode) — run only
 * there, under a time and memory budget.
 */
import type { SerializedError } from '../tiff/sandbox-protocol.js';
import type { SampleType } from '../tiff/types.js';

/** Decode a JPEG 2000 codestream (the JP2 bytes) at reduction `level` (0 = full resolution). */
export interface Jp2Request {
  op: 'jp2';
  name: string;
  bytes: Uint8Array;
  level: number;
}

/** Decode image 0 of a TIFF with geotiff.js (all samples) and report what geotiff.js reads of its tags. */
export interface GeotiffRequest {
  op: 'geotiff';
  name: string;
  path: string;
  /** Refuse before decoding when width × height × samples × bytes exceeds this. */
  maxBytes: number;
}

export type DecodeRequest = Jp2Request | GeotiffRequest;

/** Raw GeoTIFF tags geotiff.js read, for georef.ts to interpret the same way as our reader does. */
export interface GeotiffTags {
  geoKeyDirectory: number[] | null;
  pixelScale: number[] | null;
  tiepoints: number[] | null;
  transformation: number[] | null;
  nodata: string | null;
  gdalMetadata: string | null;
  compression: number;
  photometric: number | null;
  planarConfiguration: number;
  bitsPerSample: number;
  sampleFormat: number;
}

export interface DecodedImage {
  width: number;
  height: number;
  sampleType: SampleType;
  /** One plane per component/sample, row-major, in `sampleType`. */
  planes: ArrayBuffer[];
  /** geotiff op only. */
  tags?: GeotiffTags;
}

export type DecodeReply = { ok: true; image: DecodedImage } | { ok: false; error: SerializedError };
