/**
 * What a JPEG 2000 file (JP2 boxes + J2K codestream) says about itself before any pixel is decoded: size, tiles,
 * components, bit depth, resolution levels, and its georeferencing (GMLJP2 `gml.root-instance` XML, else a GeoJP2
 * UUID box holding a degenerate GeoTIFF). Every length is checked against the bytes present; a file that lies
 * about its structure is refused as corrupt, never read past its end.
 */
import { CorruptTiffError, UnsupportedTiffError } from '../../errors.js';
import type { GeoTransform } from '../../raster/grid.js';
import { openTiff } from '../tiff/reader.js';
import { memorySource } from '../memory-source.js';

/** The 16-byte UUID of a GeoJP2 box (a GeoTIFF in a box). */
const GEOJP2_UUID = 'b14bf8bd083d4b43a5ae8cd7d5a6ce03';
/** Deepest nesting of super-boxes walked (asoc inside asoc …). */
const MAX_BOX_DEPTH = 8;
/** Most boxes walked in one file. */
const MAX_BOXES = 4096;

export interface Jp2Header {
  width: number;
  height: number;
  components: number;
  /** Bits per sample of component 0 (1..38) and whether it is signed. */
  bits: number;
  signed: boolean;
  tileWidth: number;
  tileHeight: number;
  /** Decomposition levels of the first COD marker: decodable reduced resolutions are 1/2 … 1/2^levels. */
  levels: number;
  /** Where the J2K codestream starts and how long it is. */
  codestreamOffset: number;
  codestreamLength: number;
  /** EPSG code and GDAL-style (pixel corner) geotransform from the file's boxes, or null. */
  epsg: number | null;
  transform: GeoTransform | null;
  /** 'GMLJP2' | 'GeoJP2' | null: which box gave the georeferencing. */
  georefSource: string | null;
  georefWarning: string | null;
}

interface Box {
  type: string;
  start: number; // of the payload
  end: number;
}

function corrupt(name: string, summary: string, expected: string, found: string): CorruptTiffError {
  return new CorruptTiffError(summary, { input: name, expected, found, fix: 'Re-download the product; if it persists the file is damaged' });
}

function u32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) >>> 0) + (b[o + 1]! << 16) + (b[o + 2]! << 8) + b[o + 3]!;
}

function u16(b: Uint8Array, o: number): number {
  return (b[o]! << 8) + b[o + 1]!;
}

/** Thrown when only the head of a file was given and a box needed lies beyond it: read the whole file. */
export class NeedMoreBytesError extends Error {}

/**
 * The boxes between `start` and `end` (one level); `end` may lie past the bytes held (`b` is the file's head):
 * boxes are validated against `end`, and the walk stops at the first box that runs past the bytes held.
 */
function readBoxes(b: Uint8Array, start: number, end: number, name: string, count: { n: number }): Box[] {
  const out: Box[] = [];
  let off = start;
  while (off + 8 <= Math.min(end, b.length)) {
    if (++count.n > MAX_BOXES) throw corrupt(name, 'the JPEG 2000 file has too many boxes', `at most ${MAX_BOXES}`, 'more');
    let len = u32(b, off);
    const type = String.fromCharCode(b[off + 4]!, b[off + 5]!, b[off + 6]!, b[off + 7]!);
    let header = 8;
    if (len === 1) {
      if (off + 16 > end) throw corrupt(name, 'a JPEG 2000 box header is truncated', '16 bytes', `${end - off}`);
      len = u32(b, off + 8) * 2 ** 32 + u32(b, off + 12);
      header = 16;
    } else if (len === 0) {
      len = end - off;
    }
    if (len < header || off + len > end) {
      throw corrupt(name, `the JPEG 2000 box '${type}' at byte ${off} runs past its container`, `a length of ${header}..${end - off}`, String(len));
    }
    out.push({ type, start: off + header, end: off + len });
    off += len;
  }
  if (off < end && off + 8 > b.length) throw new NeedMoreBytesError(`${name}: the boxes run past the ${b.length} bytes read`);
  return out;
}

/**
 * Parse the JP2 boxes (or a bare J2K codestream) of `bytes`, the first bytes of a file of `fileSize` bytes (default:
 * all of it). Needs the boxes before the codestream and the codestream's main header, not the tile data; throws
 * NeedMoreBytesError when those lie past the bytes given.
 */
export async function readJp2Header(bytes: Uint8Array, name: string, fileSize = bytes.length): Promise<Jp2Header> {
  let csStart = -1;
  let csEnd = -1;
  let gml: string | null = null;
  let geoJp2: Uint8Array | null = null;
  const isJ2k = bytes.length >= 4 && bytes[0] === 0xff && bytes[1] === 0x4f && bytes[2] === 0xff && bytes[3] === 0x51;
  if (isJ2k) {
    csStart = 0;
    csEnd = fileSize;
  } else {
    if (bytes.length < 12 || u32(bytes, 4) !== 0x6a502020 || u32(bytes, 8) !== 0x0d0a870a) {
      const head = Array.from(bytes.subarray(0, 8), (x) => x.toString(16).padStart(2, '0')).join(' ');
      throw new CorruptTiffError('not a JPEG 2000 file', {
        input: name, expected: 'the JP2 signature box (0000000c 6a502020 0d0a870a) or a J2K codestream (ff4f ff51)',
        found: `bytes ${head}`, fix: 'Check that the file is a Sentinel-2 band (.jp2) and was downloaded completely',
      });
    }
    const count = { n: 0 };
    const walk = (start: number, end: number, depth: number, label: string | null): void => {
      if (depth > MAX_BOX_DEPTH) throw corrupt(name, 'JPEG 2000 boxes are nested too deeply', `at most ${MAX_BOX_DEPTH} levels`, 'more');
      let lbl = label;
      for (const box of readBoxes(bytes, start, end, name, count)) {
        if (box.type === 'jp2c' && csStart < 0) {
          csStart = box.start;
          csEnd = box.end;
          return; // what follows the codestream is not needed
        }
        if (box.end > bytes.length && box.type !== 'jp2c') throw new NeedMoreBytesError(`${name}: box '${box.type}' runs past the bytes read`);
        if (box.type === 'asoc') {
          walk(box.start, box.end, depth + 1, null);
        } else if (box.type === 'lbl ') {
          lbl = new TextDecoder().decode(bytes.subarray(box.start, box.end)).replace(/\0+$/, ''); // GDAL writes a trailing NUL
        } else if (box.type === 'xml ' && gml === null && lbl === 'gml.root-instance') {
          gml = new TextDecoder().decode(bytes.subarray(box.start, box.end));
        } else if (box.type === 'uuid' && box.end - box.start > 16 && geoJp2 === null) {
          const id = Array.from(bytes.subarray(box.start, box.start + 16), (x) => x.toString(16).padStart(2, '0')).join('');
          if (id === GEOJP2_UUID) geoJp2 = bytes.subarray(box.start + 16, box.end);
        }
      }
    };
    walk(0, fileSize, 0, null);
    if (csStart < 0) throw corrupt(name, 'the JPEG 2000 file has no codestream', "a 'jp2c' box", 'none');
  }
  if (csEnd > fileSize) throw corrupt(name, 'the JPEG 2000 codestream runs past the end of the file', `at most ${fileSize} bytes`, String(csEnd));
  const avail = Math.min(csEnd, bytes.length);
  const cs = parseSiz(bytes, csStart, avail, name, avail < csEnd);
  let georef: { epsg: number | null; transform: GeoTransform | null; source: string | null; warning: string | null } = {
    epsg: null, transform: null, source: null, warning: null,
  };
  if (gml !== null) georef = { ...gmlGeoref(gml), source: 'GMLJP2' };
  if (georef.transform === null && geoJp2 !== null) {
    const g = await geoJp2Georef(geoJp2, name);
    if (g.transform) georef = { ...g, source: 'GeoJP2' };
    else georef.warning ??= g.warning;
  }
  return {
    ...cs, codestreamOffset: csStart, codestreamLength: csEnd - csStart,
    epsg: georef.epsg, transform: georef.transform, georefSource: georef.source, georefWarning: georef.warning,
  };
}

/** The SIZ and first COD markers of the codestream's main header. */
function parseSiz(b: Uint8Array, start: number, end: number, name: string, truncated = false): Omit<Jp2Header, 'codestreamOffset' | 'codestreamLength' | 'epsg' | 'transform' | 'georefSource' | 'georefWarning'> {
  if (start + 4 > end || u16(b, start) !== 0xff4f || u16(b, start + 2) !== 0xff51) {
    throw corrupt(name, 'the JPEG 2000 codestream does not start with SOC and SIZ markers', 'ff4f ff51', 'other bytes');
  }
  const p = start + 4;
  const need = (n: number) => {
    if (truncated && n > end) throw new NeedMoreBytesError(`${name}: the codestream's main header lies past the bytes read`);
  };
  need(p + 38);
  if (p + 38 > end) throw corrupt(name, 'the JPEG 2000 SIZ marker is truncated', '38 bytes or more', `${end - p}`);
  const lsiz = u16(b, p);
  const xsiz = u32(b, p + 4);
  const ysiz = u32(b, p + 8);
  const x0 = u32(b, p + 12);
  const y0 = u32(b, p + 16);
  const xt = u32(b, p + 20);
  const yt = u32(b, p + 24);
  const csiz = u16(b, p + 36);
  need(p + 38 + 3 * csiz);
  if (csiz < 1 || p + 38 + 3 * csiz > end || lsiz !== 38 + 3 * csiz) {
    throw corrupt(name, 'the JPEG 2000 SIZ marker is inconsistent', `Lsiz = 38 + 3 x Csiz`, `Lsiz ${lsiz}, Csiz ${csiz}`);
  }
  const ssiz = b[p + 38]!;
  const width = xsiz - x0;
  const height = ysiz - y0;
  if (!(width > 0 && height > 0 && xt > 0 && yt > 0)) throw corrupt(name, 'the JPEG 2000 image has no valid size', 'width, height and tile size > 0', `${width} x ${height}, tiles ${xt} x ${yt}`);
  for (let c = 1; c < csiz; c++) {
    if (b[p + 38 + 3 * c]! !== ssiz || b[p + 39 + 3 * c] !== 1 || b[p + 40 + 3 * c] !== 1) {
      throw new UnsupportedTiffError('JPEG 2000 components of different depths or subsampling are not supported', {
        input: name, expected: 'every component with the same bit depth and no subsampling', found: `${csiz} components that differ`,
        fix: 'Convert it with: gdal_translate -co COMPRESS=DEFLATE <input.jp2> <output.tif>',
      });
    }
  }
  // The first COD marker in the main header gives the decomposition levels.
  let levels = 0;
  let q = p + lsiz;
  for (;;) {
    need(q + 12);
    if (q + 4 > end) break;
    const marker = u16(b, q);
    if (marker === 0xff90 || marker === 0xff93) break; // SOT / SOD: main header over
    const len = u16(b, q + 2);
    if (marker === 0xff52 && q + 9 <= end) {
      levels = b[q + 4 + 5]!;
      break;
    }
    if (len < 2) break;
    q += 2 + len;
  }
  return {
    width, height, components: csiz, bits: (ssiz & 0x7f) + 1, signed: (ssiz & 0x80) !== 0,
    tileWidth: Math.min(xt, width), tileHeight: Math.min(yt, height), levels,
  };
}

const num = (s: string): number[] => s.trim().split(/[\s,]+/).map(Number);

/**
 * Georeferencing from GMLJP2 XML, as GDAL reads it: the RectifiedGrid origin is the centre of pixel (0, 0) and the
 * offset vectors are the column and row steps, so the corner transform is origin − ½ (col + row). For a CRS whose
 * EPSG axis order is latitude first (EPSG:4326 in a urn), the two coordinates are swapped.
 */
export function gmlGeoref(xml: string): { epsg: number | null; transform: GeoTransform | null; warning: string | null } {
  const origin = /<gml:origin>[\s\S]*?<gml:(?:pos|coordinates)[^>]*>([^<]+)</.exec(xml);
  const srs = /srsName="([^"]+)"/.exec(xml);
  const vectors = [...xml.matchAll(/<gml:offsetVector[^>]*>([^<]+)</g)].map((m) => num(m[1]!));
  if (!origin || vectors.length < 2) return { epsg: null, transform: null, warning: 'the GMLJP2 box has no RectifiedGrid origin and offset vectors' };
  const epsgMatch = srs ? /EPSG(?::[\d.]*)?:+(\d+)$|EPSG\/\d+\/(\d+)$|epsg\.xml#(\d+)$/i.exec(srs[1]!) : null;
  const epsg = epsgMatch ? Number(epsgMatch[1] ?? epsgMatch[2] ?? epsgMatch[3]) : null;
  let o = num(origin[1]!);
  let c = vectors[0]!;
  let r = vectors[1]!;
  if (o.length < 2 || c.length < 2 || r.length < 2 || [...o, ...c, ...r].some((v) => !Number.isFinite(v))) {
    return { epsg: null, transform: null, warning: 'the GMLJP2 box has unreadable numbers' };
  }
  const latFirst = epsg !== null && (epsg === 4326 || epsg === 4258 || epsg === 4269) && /urn:|opengis\.net\/def/i.test(srs?.[1] ?? '');
  if (latFirst) {
    o = [o[1]!, o[0]!];
    c = [c[1]!, c[0]!];
    r = [r[1]!, r[0]!];
  }
  const transform: GeoTransform = [o[0]! - 0.5 * (c[0]! + r[0]!), c[0]!, r[0]!, o[1]! - 0.5 * (c[1]! + r[1]!), c[1]!, r[1]!];
  return { epsg, transform, warning: epsg === null ? `the GMLJP2 CRS "${srs?.[1] ?? 'none'}" is not an EPSG code` : null };
}

/** Georeferencing from a GeoJP2 box: a 1 x 1 GeoTIFF whose GeoKeys and transform apply to the JP2's pixels. */
async function geoJp2Georef(tiff: Uint8Array, name: string): Promise<{ epsg: number | null; transform: GeoTransform | null; warning: string | null }> {
  try {
    const file = await openTiff(memorySource(tiff, `${name} (GeoJP2 box)`), { maxIfds: 4 });
    const img = file.images[0]!;
    if (img.grid) return { epsg: img.grid.crs.epsg, transform: img.grid.transform, warning: null };
    return { epsg: null, transform: null, warning: img.georefWarning ?? 'the GeoJP2 box has no georeferencing' };
  } catch (err) {
    return { epsg: null, transform: null, warning: `the GeoJP2 box cannot be read (${(err as Error).message})` };
  }
}
