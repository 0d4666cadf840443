/**
 * A plain JSON summary of a TIFF for `s2change info`.
 */
import type { TiffFile } from './types.js';

/** Size, bands, type, tiling, compression, georeferencing, nodata and band metadata of `file`, JSON-able. */
export function describeTiff(file: TiffFile): Record<string, unknown> {
  const im = file.images[0];
  return {
    file: file.source.name,
    bigTiff: file.bigTiff,
    width: im.width,
    height: im.height,
    bands: im.samplesPerPixel,
    sampleType: im.sampleType,
    byteOrder: im.littleEndian ? 'little-endian' : 'big-endian',
    interleave: im.samplesPerPixel === 1 ? 'band' : im.planarConfiguration === 1 ? 'pixel' : 'band',
    layout: im.tiled ? 'tiled' : 'stripped',
    blockSize: [im.tileWidth, im.tileHeight],
    compression: im.compression,
    predictor: im.predictor,
    overviews: file.images.slice(1).filter((o) => o.isOverview).map((o) => [o.width, o.height]),
    crs: im.grid ? `EPSG:${im.grid.crs.epsg}` : null,
    transform: im.grid ? [...im.grid.transform] : null,
    georefWarning: im.georefWarning,
    nodata: im.nodata === null ? null : Number.isNaN(im.nodata) ? 'nan' : im.nodata,
    bandDescriptions: im.bandDescriptions,
    bandScales: im.bandScales,
    bandOffsets: im.bandOffsets,
  };
}
