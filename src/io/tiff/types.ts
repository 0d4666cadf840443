/**
 * Public shape of the hardened TIFF/COG reader (implementation in this folder).
 */
import type { Grid, Window } from '../../raster/grid.js';
import type { ByteSource } from '../byte-source.js';

export type SampleType = 'uint8' | 'int8' | 'uint16' | 'int16' | 'uint32' | 'int32' | 'float32' | 'float64';
export type SampleArray =
  | Uint8Array | Int8Array | Uint16Array | Int16Array | Uint32Array | Int32Array | Float32Array | Float64Array;

/** Safety limits; every refusal names the option that raises the limit. */
export interface ReaderLimits {
  /** Max IFDs walked (images + overviews). Default 64. */
  maxIfds: number;
  /** Max width*height*samples of one image. Default 2^31 (≈ a 46k x 46k single band). Option: --max-pixels. */
  maxPixels: number;
  /** Max bytes of one decoded tile/strip. Default 256 MiB. */
  maxTileBytes: number;
  /** Max bytes one window read may allocate. Default 4 GiB. Option: --max-memory. */
  maxWindowBytes: number;
}

export interface TiffImageInfo {
  readonly index: number;
  readonly width: number;
  readonly height: number;
  readonly samplesPerPixel: number;
  readonly sampleType: SampleType;
  readonly planarConfiguration: 1 | 2;
  /** Tile size; for stripped files tileWidth = width and tileHeight = rowsPerStrip. */
  readonly tileWidth: number;
  readonly tileHeight: number;
  readonly tiled: boolean;
  /** 'none' | 'deflate' | 'lzw' | 'zstd' | 'packbits' | ... (names as GDAL prints them, lower case). */
  readonly compression: string;
  readonly predictor: 1 | 2 | 3;
  readonly littleEndian: boolean;
  /** GDAL_NODATA tag value, or null. */
  readonly nodata: number | null;
  /** Georeferencing, or null when the file has none (e.g. OSCD labels). */
  readonly grid: Grid | null;
  /** Band descriptions from GDAL metadata (e.g. "B2"), null where absent; length = samplesPerPixel. */
  readonly bandDescriptions: (string | null)[];
  /** Per-band scale/offset from GDAL metadata, null where absent. */
  readonly bandScales: (number | null)[];
  readonly bandOffsets: (number | null)[];
  /** Dataset-level GDAL metadata items (GDAL_METADATA `<Item name=...>` without a band), e.g. ACQUISITION_DATE. */
  readonly datasetMetadata: Readonly<Record<string, string>>;
  /** true for reduced-resolution images (overviews). */
  readonly isOverview: boolean;
  /**
   * Why `grid` is null although the file carries some georeferencing (e.g. a transform with a user-defined CRS),
   * or null. Files with no georeferencing at all (OSCD labels) have grid null and no warning.
   */
  readonly georefWarning: string | null;
}

export interface TiffImage extends TiffImageInfo {
  /**
   * Decode the pixels of `window` (default: whole image) for the given 0-based samples (default: all).
   * Reads only the tiles/strips that intersect the window. Returns one array per requested sample,
   * row-major, window.width * window.height values, in the file's sample type.
   */
  readWindow(window?: Window, samples?: number[]): Promise<SampleArray[]>;
  /**
   * The window's samples when it is exactly one whole tile of a one-band image, else null (use `readWindow`). With
   * `keepPredictor`, a horizontal differencing predictor (TIFF predictor 2) is left in place for the caller to undo
   * in its own pass — `predicted` says whether the samples are still differenced along each row.
   */
  readWholeTile(window: Window, opts?: { keepPredictor?: boolean }): Promise<{ data: SampleArray; predicted: boolean } | null>;
}

export interface TiffFile {
  readonly source: ByteSource;
  readonly bigTiff: boolean;
  /** images[0] is full resolution; further entries are overviews/other IFDs in file order (masks skipped). */
  readonly images: TiffImage[];
  close(): Promise<void>;
}
