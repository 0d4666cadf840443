/**
 * Applying the learned urban model so that the whole-array path and the block engine give identical classes. Pure.
 *
 * - **Scene statistics** ({@link urbanSceneStatistics}): the features standardise with statistics of the whole
 *   scene. Both paths compute them from the same seeded sample of valid pixels (by global pixel index, rate fixed
 *   by the grid size, so no counting pass is needed), summed in global pixel order — the block engine gathers the
 *   sampled rows block by block and puts them back in that order — so the floating-point sums are identical. Up to
 *   {@link URBAN_STATS_SAMPLING}.maxSamples pixels every valid pixel is used (every OSCD city), as in training.
 * - **Halo** ({@link urbanBlockHalo}): the context windows need `model.halo` pixels around a pixel, the 3 × 3
 *   majority filter one more: a block read with that halo (clipped at the image edges, as the whole array's windows
 *   are) gives the whole array's classes on the block.
 * - The minimum object size of the post-filter is a whole-map operation; the block engine runs it with its
 *   `--min-area` merge ({@link urbanBlockPostFilter} leaves it out of the per-block step).
 */
import type { BandName } from '../indices/bands.js';
import type { BandArrays } from '../indices/registry.js';
import { keepSample, sampleRate } from './sampling.js';
import { sceneStatistics, type UrbanSceneStats } from './urban-features.js';
import type { PostFilter, UrbanModel } from './urban-model.js';

/** Sample of the scene statistics: at most this many pixels (all of them below), chosen by this seed. */
export const URBAN_STATS_SAMPLING = Object.freeze({ maxSamples: 1_000_000, seed: 1403 });

/** Sampling rate of the scene statistics on a width × height grid (1: every valid pixel). */
export function urbanStatsRate(width: number, height: number): number {
  return sampleRate(width * height, URBAN_STATS_SAMPLING.maxSamples);
}

/** Whether global pixel `index` is in the statistics sample (given it is valid). */
export function inUrbanStatsSample(index: number, rate: number): boolean {
  return keepSample(index, rate, URBAN_STATS_SAMPLING.seed);
}

/**
 * Statistics from sampled rows in global pixel order: row k holds the `bands` of the before date, then of the
 * after date (2 × bands.length values).
 */
export function urbanStatsFromRows(model: UrbanModel, bands: readonly BandName[], rows: Float64Array): UrbanSceneStats {
  const k = bands.length;
  const m = rows.length / (2 * k);
  const before: BandArrays = {};
  const after: BandArrays = {};
  bands.forEach((b, j) => {
    const x = new Float32Array(m);
    const y = new Float32Array(m);
    for (let r = 0; r < m; r++) { x[r] = rows[r * 2 * k + j]!; y[r] = rows[r * 2 * k + k + j]!; }
    before[b] = x;
    after[b] = y;
  });
  return sceneStatistics(model.features, before, after, m, 1);
}

/** The sampled rows of a whole scene (valid pixels in the sample, in pixel order), as {@link urbanStatsFromRows} reads them. */
export function urbanStatsRows(bands: readonly BandName[], before: BandArrays, after: BandArrays, valid: Uint8Array,
  width: number, height: number): Float64Array {
  const rate = urbanStatsRate(width, height);
  const k = bands.length;
  const kept: number[] = [];
  for (let i = 0; i < width * height; i++) if (valid[i] && inUrbanStatsSample(i, rate)) kept.push(i);
  const rows = new Float64Array(kept.length * 2 * k);
  kept.forEach((i, r) => {
    for (let j = 0; j < k; j++) {
      rows[r * 2 * k + j] = before[bands[j]!]![i]!;
      rows[r * 2 * k + k + j] = after[bands[j]!]![i]!;
    }
  });
  return rows;
}

/** The scene statistics of a whole scene as the block engine computes them (same sample, same order). */
export function urbanSceneStatistics(model: UrbanModel, bands: readonly BandName[], before: BandArrays, after: BandArrays,
  valid: Uint8Array, width: number, height: number): UrbanSceneStats {
  return urbanStatsFromRows(model, bands, urbanStatsRows(bands, before, after, valid, width, height));
}

/** Pixels a block is read with around it: the largest context radius, plus one for the 3 × 3 majority filter. */
export function urbanBlockHalo(model: UrbanModel): number {
  return model.halo + (model.postFilter.majority ? 1 : 0);
}

/** The per-block part of the post-filter: the majority filter only (the minimum object size is merged across blocks). */
export function urbanBlockPostFilter(model: UrbanModel): UrbanModel {
  const postFilter: PostFilter = { majority: model.postFilter.majority, minPixels: 0 };
  return { ...model, postFilter };
}
