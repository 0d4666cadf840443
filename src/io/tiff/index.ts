/**
 * Public entry of the hardened GeoTIFF/COG reader.
 */
export { openTiff, openTiffFile, DEFAULT_LIMITS } from './reader.js';
export { describeTiff } from './describe.js';
export type * from './types.js';
