/**
 * The pure core of s2change: spectral indices, change presets, change methods, scores and raster helpers on typed
 * arrays. No Node built-ins, no files, no network: it runs unchanged in a browser, a Web Worker or a Node worker
 * thread (tests/architecture.test.ts guards that). Import it as `s2change/core` in a browser bundle.
 *
 *   import { indices, presets } from 's2change/core';
 *   const ndvi = indices.get('NDVI')!.compute({ B04: red, B08: nir });
 *   const run = presets.get('vegetation').run({ ... });
 */
import { getIndex, INDICES, type SpectralIndex } from './indices/registry.js';
import { getPreset, PRESETS } from './change/presets/index.js';
import type { Preset } from './change/presets/types.js';

/** The spectral index catalogue: `indices.all`, `indices.get('NBR')`, each with `compute(bands)`. */
export const indices: Readonly<{ all: readonly SpectralIndex[]; get(name: string): SpectralIndex | undefined; names: readonly string[] }> = Object.freeze({
  all: INDICES,
  get: getIndex,
  names: INDICES.map((i) => i.name),
});

/** The change presets: `presets.all`, `presets.get('wildfire')` (a UsageError for unknown names), `presets.names`. */
export const presets: Readonly<{ all: readonly Preset[]; get(name: string): Preset; names: readonly string[] }> = Object.freeze({
  all: PRESETS,
  get: getPreset,
  names: PRESETS.map((p) => p.name),
});

export type { SpectralIndex, BandArrays } from './indices/registry.js';
export type { Preset, PresetInput, PresetOptions, PresetResult, ChangeClass, ChangeMethod, ContinuousProduct, ThresholdUsed } from './change/presets/types.js';
export { NODATA_CLASS } from './change/presets/types.js';
export { BANDS, bandInfo, canonicalBand, SCL, DEFAULT_SCL_MASK, type BandName, type BandInfo } from './indices/bands.js';
export { normalizedDifference, difference } from './indices/normalized-difference.js';
export { otsuThreshold } from './change/otsu.js';
export { Histogram } from './change/histogram.js';
export { changeVector } from './change/cva.js';
export { pcaKmeans, PCA_KMEANS_DEFAULTS } from './change/pca-kmeans.js';
export { irmad, irmadChangeMask, irmadChi2Threshold } from './change/irmad.js';
export { kmeans } from './change/kmeans.js';
export { confusionMatrix, scores, aggregate, meanScores, LABEL_CODINGS, type ConfusionMatrix, type Scores } from './eval/metrics.js';
export { sclMask } from './raster/scl-mask.js';
export { removeSmallComponents } from './raster/components.js';
export { pixelAreaM2, type Grid, type Bounds, type GeoTransform, type Crs } from './raster/grid.js';
export * from './errors.js';
