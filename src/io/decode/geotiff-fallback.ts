/**
 * The second TIFF decoder: when our reader refuses a file GDAL reads (JPEG or LERC compression, 1/2/4/15-bit or
 * float16 samples, old-style LZW, layouts it does not handle), geotiff.js decodes image 0 whole inside the decode
 * sandbox (time and memory budget; geotiff.js loops forever on an IFD that points to itself) and the result is
 * served as a TiffFile from memory. Georeferencing, nodata and band metadata are interpreted by the same code as our
 * reader's (georef.ts), from the tags geotiff.js read. Our reader stays on the hot path; this one has no overviews
 * and no partial reads.
 */
import { isS2ChangeError, UsageError } from '../../errors.js';
import type { Grid, Window } from '../../raster/grid.js';
import { COMPRESSION_NAMES } from '../tiff/codecs.js';
import { interpretGeoTags, parseGdalDatasetItems, parseGdalMetadata, parseNodata } from '../tiff/georef.js';
import type { SampleArray, SampleType, TiffFile, TiffImage } from '../tiff/types.js';
import { decodeSandboxed, type DecodeBudgetOptions, type DecodedImage } from './decode-sandbox.js';

const ARRAYS = {
  uint8: Uint8Array, int8: Int8Array, uint16: Uint16Array, int16: Int16Array,
  uint32: Uint32Array, int32: Int32Array, float32: Float32Array, float64: Float64Array,
} as const;

/**
 * Error codes of our reader after which the second decoder is tried: never after a time-out, a limit or a corrupt
 * structure (a hostile file would then cost a whole time budget in geotiff.js, which loops on IFD cycles).
 */
const FALLBACK_CODES = ['UNSUPPORTED_TIFF', 'UNSUPPORTED_COMPRESSION'] as const;

/** Whether our reader's error `err` is one the second decoder may get past. */
export function mayFallBack(err: unknown): boolean {
  return isS2ChangeError(err, ...FALLBACK_CODES);
}

/** Decode image 0 of `path` with geotiff.js in the sandbox and present it as a TiffFile (one image, in memory). */
export async function openTiffWithGeotiffJs(path: string, budget: DecodeBudgetOptions = {}): Promise<TiffFile> {
  const memoryMb = budget.memoryMb ?? 1024;
  const img = await decodeSandboxed({ op: 'geotiff', name: path, path, maxBytes: memoryMb * 1024 * 1024 / 2 }, budget);
  const image = memoryImage(img, path);
  return {
    source: { name: path, size: async () => 0, read: async () => new Uint8Array(0) },
    bigTiff: false,
    images: [image],
    async close() {},
  };
}

function memoryImage(d: DecodedImage, name: string): TiffImage {
  const t = d.tags!;
  const georef = interpretGeoTags({ geoKeyDirectory: t.geoKeyDirectory, pixelScale: t.pixelScale, tiepoints: t.tiepoints, transformation: t.transformation });
  const grid: Grid | null = georef.epsg !== null && georef.transform !== null
    ? { crs: { epsg: georef.epsg }, transform: georef.transform, width: d.width, height: d.height } : null;
  const spp = d.planes.length;
  const md = parseGdalMetadata(t.gdalMetadata, spp);
  const nodata = t.nodata !== null ? parseNodata(t.nodata) ?? null : null;
  const Ctor = ARRAYS[d.sampleType];
  const planes = d.planes.map((b) => new Ctor(b) as SampleArray);
  const sampleType: SampleType = d.sampleType;
  return {
    index: 0, width: d.width, height: d.height, samplesPerPixel: spp, sampleType,
    planarConfiguration: t.planarConfiguration === 2 ? 2 : 1, tileWidth: d.width, tileHeight: d.height, tiled: false,
    compression: `${COMPRESSION_NAMES[t.compression] ?? `code ${t.compression}`} (decoded by geotiff.js)`,
    predictor: 1, littleEndian: true, nodata, grid, datasetMetadata: parseGdalDatasetItems(t.gdalMetadata), bandDescriptions: md.descriptions, bandScales: md.scales, bandOffsets: md.offsets,
    isOverview: false, georefWarning: georef.warning,
    async readWindow(window?: Window, samples?: number[]) {
      const w = window ?? { x: 0, y: 0, width: d.width, height: d.height };
      if (![w.x, w.y, w.width, w.height].every(Number.isInteger) || w.x < 0 || w.y < 0 || w.width <= 0 || w.height <= 0
        || w.x + w.width > d.width || w.y + w.height > d.height) {
        throw new UsageError('window is outside the image', { input: name, expected: `a window inside ${d.width} x ${d.height} pixels`, found: JSON.stringify(w) });
      }
      return (samples ?? planes.map((_, i) => i)).map((s) => {
        const src = planes[s];
        if (!src) throw new UsageError('no such band', { input: name, expected: `a band index below ${spp}`, found: String(s) });
        const out = new Ctor(w.width * w.height) as SampleArray;
        for (let y = 0; y < w.height; y++) {
          const o = (w.y + y) * d.width + w.x;
          out.set(src.subarray(o, o + w.width) as never, y * w.width);
        }
        return out;
      });
    },
    async readWholeTile() {
      return null;
    },
  };
}
