/**
 * PCA-k-means change detection (Celik 2009, IEEE GRSL 6(4):772–776). Pure.
 *
 * 1. Difference image: the CVA magnitude ‖after − before‖ per pixel (for one band this is Celik's |X₂ − X₁|).
 * 2. PCA on the vectors of the non-overlapping h × h blocks of the difference image (all complete, fully valid
 *    blocks; blocks are aligned to multiples of h from the image origin; gathered tile by tile, see PCA_SCAN_TILE).
 * 3. Feature of a pixel = projection of its h × h neighbourhood (rows/cols −⌊h/2⌋ … h−1−⌊h/2⌋ around it, edge
 *    pixels replicated, invalid neighbours replaced by the block mean) onto the first S eigenvectors, S being the
 *    fewest that keep `varianceKept` of the variance.
 * 4. k-means with k = 2 on the features of a seeded sample of pixels; the cluster whose pixels have the larger
 *    mean difference is "change". All pixels are then labelled by the nearest centroid.
 *
 * `fitPcaKmeans` and `applyPcaKmeans` are separate so a block engine can fit once and apply per block (give
 * `applyPcaKmeans` a block with a halo of h pixels and crop). Output: 1 change, 0 no change, 255 invalid.
 */
import { EigenvalueDecomposition, Matrix } from 'ml-matrix';
import { NothingValidError, UsageError } from '../errors.js';
import { CovarianceAccumulator } from './covariance.js';
import { changeVector } from './cva.js';
import { kmeans } from './kmeans.js';
import { keepSample, sampleRate } from './sampling.js';
import type { Window } from '../raster/grid.js';

/** Defaults: Celik's 4 × 4 blocks, eigenvectors keeping 90 % of the variance, k-means on about 50 000 pixels, seed 1. */
export const PCA_KMEANS_DEFAULTS = Object.freeze({ blockSize: 4, varianceKept: 0.9, maxSamples: 50_000, seed: 1 });

export interface PcaKmeansOptions {
  /** Block / neighbourhood size h (default 4, Celik's choice; 2–9). */
  blockSize?: number;
  /** Fraction of block variance the kept eigenvectors must explain (default 0.9). */
  varianceKept?: number;
  /** k-means is fitted on at most about this many valid pixels (seeded sample; default 50 000). */
  maxSamples?: number;
  /** Seed for the pixel sample and k-means++ (default 1). */
  seed?: number;
  /** 1 = valid; 0 or NaN in the difference image make a pixel invalid. */
  valid?: Uint8Array;
}

export interface Pca {
  /** Block size h. */
  blockSize: number;
  /** Mean block vector (h² values, row-major within the block). */
  mean: Float64Array;
  /** S × h² kept eigenvectors, row-major, by decreasing eigenvalue. */
  components: Float64Array;
  /** All eigenvalues, decreasing. */
  eigenvalues: number[];
  /** Number of kept eigenvectors S. */
  dims: number;
}

export interface PcaKmeansModel {
  pca: Pca;
  /** 2 × S cluster centroids in feature space. */
  centroids: Float64Array;
  /** Which centroid means change. */
  changeCluster: 0 | 1;
  /** Mean difference of the sampled pixels in each cluster. */
  clusterMeanDifference: [number, number];
  /** True when the difference image has no variance (e.g. a scene compared with itself): everything is "no change". */
  degenerate: boolean;
  /** Number of pixels k-means was fitted on. */
  samples: number;
}

/** Difference image of two band stacks: the CVA magnitude (|X₂ − X₁| for one band), NaN where invalid. */
export function differenceImage(before: readonly Float32Array[], after: readonly Float32Array[], n: number, valid?: Uint8Array): Float32Array {
  return changeVector(before, after, n, { valid }).magnitude;
}

function checkBlockSize(h: number): void {
  if (!Number.isInteger(h) || h < 2 || h > 9) {
    throw new UsageError('PCA-k-means block size must be an integer in 2–9', {
      input: 'blockSize',
      expected: '2–9 (Celik 2009 uses 4)',
      found: String(h),
      fix: 'Pass blockSize: 4',
    });
  }
}

/**
 * The blocks' statistics are gathered per tile of this many pixels square (row-major tiles from the image origin,
 * each tile's blocks in row-major order, the tiles' accumulators merged in that order), so a block engine that scans
 * the same tiles computes the same covariance, bit for bit, as the whole image does.
 */
export const PCA_SCAN_TILE = 512;

/**
 * Accumulate the h × h non-overlapping blocks of `diff` (width × height) into `acc` (dimension h²), tile by tile
 * ({@link PCA_SCAN_TILE}). Blocks with any NaN are skipped, as are incomplete blocks at the right and bottom edges.
 */
export function accumulateBlocks(diff: Float32Array, width: number, height: number, h: number, acc = new CovarianceAccumulator(h * h)): CovarianceAccumulator {
  checkBlockSize(h);
  const all = { x: 0, y: 0, width, height };
  for (let y = 0; y < height; y += PCA_SCAN_TILE) {
    for (let x = 0; x < width; x += PCA_SCAN_TILE) {
      const tile = { x, y, width: Math.min(PCA_SCAN_TILE, width - x), height: Math.min(PCA_SCAN_TILE, height - y) };
      acc.merge(accumulateBlocksIn(diff, all, width, height, tile, h));
    }
  }
  return acc;
}

/**
 * The part of {@link accumulateBlocks} a block engine does for one piece of an image of `imageWidth` × `imageHeight`:
 * the image's blocks (aligned to multiples of h from its origin, complete ones only) whose top-left corner lies in
 * `region`, in row-major order, read from `diff`, the pixels of window `win` of the image (it must contain them).
 */
export function accumulateBlocksIn(diff: Float32Array, win: Window, imageWidth: number, imageHeight: number, region: Window, h: number,
  acc = new CovarianceAccumulator(h * h)): CovarianceAccumulator {
  checkBlockSize(h);
  const v = new Float64Array(h * h);
  for (let by = Math.ceil(region.y / h) * h; by < region.y + region.height && by + h <= imageHeight; by += h) {
    for (let bx = Math.ceil(region.x / h) * h; bx < region.x + region.width && bx + h <= imageWidth; bx += h) {
      const y = by - win.y;
      const x = bx - win.x;
      if (x < 0 || y < 0 || x + h > win.width || y + h > win.height) throw new RangeError(`block at (${bx}, ${by}) is not inside the window`);
      for (let a = 0; a < h; a++) for (let b = 0; b < h; b++) v[a * h + b] = diff[(y + a) * win.width + x + b]!;
      acc.add(v);
    }
  }
  return acc;
}

/** NothingValidError unless the difference image has a complete valid block and two valid pixels to fit on. */
export function requireFittableBlocks(acc: CovarianceAccumulator, nValid: number, h: number, width: number, height: number): void {
  if (acc.count === 0 || nValid < 2) {
    throw new NothingValidError('no complete block of valid pixels for PCA-k-means', {
      input: 'difference image',
      expected: `at least one ${h}×${h} block without invalid pixels`,
      found: `${nValid} valid pixels, ${acc.count} complete blocks in ${width}×${height}`,
      fix: 'Check the cloud/nodata masks, use a larger area, or a smaller blockSize',
    });
  }
}

/** Principal components of accumulated block vectors, keeping the fewest that explain `varianceKept`. */
export function pcaFromBlocks(acc: CovarianceAccumulator, h: number, varianceKept = 0.9): Pca {
  if (!(varianceKept > 0 && varianceKept <= 1)) throw new RangeError(`varianceKept must be in (0, 1], got ${varianceKept}`);
  const dim = h * h;
  const evd = new EigenvalueDecomposition(new Matrix(acc.covariance()), { assumeSymmetric: true });
  const vals = evd.realEigenvalues.map((v) => Math.max(0, v));
  const order = vals.map((_, i) => i).sort((a, b) => vals[b]! - vals[a]!);
  const total = vals.reduce((s, v) => s + v, 0);
  let dims = 1;
  let cum = 0;
  for (let s = 0; s < dim; s++) {
    cum += vals[order[s]!]!;
    dims = s + 1;
    if (total === 0 || cum >= varianceKept * total * (1 - 1e-12)) break;
  }
  const vectors = evd.eigenvectorMatrix;
  const components = new Float64Array(dims * dim);
  for (let s = 0; s < dims; s++) for (let j = 0; j < dim; j++) components[s * dim + j] = vectors.get(j, order[s]!);
  return { blockSize: h, mean: acc.mean(), components, eigenvalues: order.map((i) => vals[i]!), dims };
}

/** Write the PCA feature of pixel (x, y) into `out` at `offset` (S values). */
export function pixelFeature(pca: Pca, diff: Float32Array, width: number, height: number, x: number, y: number, out: Float64Array, offset: number): void {
  const { blockSize: h, mean, components, dims } = pca;
  const dim = h * h;
  const r0 = -Math.floor(h / 2);
  for (let s = 0; s < dims; s++) out[offset + s] = 0;
  for (let a = 0; a < h; a++) {
    const yy = Math.min(height - 1, Math.max(0, y + r0 + a));
    for (let b = 0; b < h; b++) {
      const xx = Math.min(width - 1, Math.max(0, x + r0 + b));
      const j = a * h + b;
      const v = diff[yy * width + xx]!;
      const c = v === v ? v - mean[j]! : 0;
      if (c === 0) continue;
      for (let s = 0; s < dims; s++) out[offset + s]! += components[s * dim + j]! * c;
    }
  }
}

/** The difference image with NaN wherever `valid` is 0 (the input itself when there is no mask). */
function masked(diff: Float32Array, valid: Uint8Array | undefined): Float32Array {
  if (!valid) return diff;
  return diff.map((v, i) => (valid[i] === 1 ? v : NaN));
}

/**
 * Fit PCA-k-means on a difference image (width × height): PCA of its blocks, then k-means on the features of the
 * valid pixels with `keepSample(i, sampleRate(nValid, maxSamples), seed)`, in pixel order ({@link pcaKmeansFromSample}).
 */
export function fitPcaKmeans(diff: Float32Array, width: number, height: number, opts: PcaKmeansOptions = {}): PcaKmeansModel {
  const h = opts.blockSize ?? PCA_KMEANS_DEFAULTS.blockSize;
  const seed = opts.seed ?? PCA_KMEANS_DEFAULTS.seed;
  const n = width * height;
  if (diff.length !== n) throw new RangeError(`difference image has ${diff.length} pixels, expected ${width}×${height}`);
  diff = masked(diff, opts.valid);
  const acc = accumulateBlocks(diff, width, height, h);
  let nValid = 0;
  for (let i = 0; i < n; i++) if (diff[i] === diff[i]) nValid++;
  requireFittableBlocks(acc, nValid, h, width, height);
  const pca = pcaFromBlocks(acc, h, opts.varianceKept ?? PCA_KMEANS_DEFAULTS.varianceKept);
  const rate = sampleRate(nValid, opts.maxSamples ?? PCA_KMEANS_DEFAULTS.maxSamples);
  const idx: number[] = [];
  for (let i = 0; i < n; i++) if (diff[i] === diff[i] && keepSample(i, rate, seed)) idx.push(i);
  const d = pca.dims;
  const feats = new Float64Array(idx.length * d);
  const diffs = new Float64Array(idx.length);
  idx.forEach((i, k) => {
    pixelFeature(pca, diff, width, height, i % width, Math.floor(i / width), feats, k * d);
    diffs[k] = diff[i]!;
  });
  return pcaKmeansFromSample(pca, feats, diffs, seed);
}

/**
 * The k-means step of PCA-k-means on sampled pixels, in pixel order: their features (m × S, row-major) and their
 * difference values. The cluster whose pixels have the larger mean difference is "change". A block engine that
 * gathers the same features in the same order gets the same model as {@link fitPcaKmeans}.
 */
export function pcaKmeansFromSample(pca: Pca, feats: Float64Array, diffs: ArrayLike<number>, seed: number = PCA_KMEANS_DEFAULTS.seed): PcaKmeansModel {
  const d = pca.dims;
  const m = diffs.length;
  const total = pca.eigenvalues.reduce((s, v) => s + v, 0);
  if (total === 0 || m < 2) {
    return { pca, centroids: new Float64Array(2 * d), changeCluster: 1, clusterMeanDifference: [NaN, NaN], degenerate: true, samples: m };
  }
  const km = kmeans(feats, m, d, 2, { seed });
  const sum = [0, 0];
  const cnt = [0, 0];
  for (let k = 0; k < m; k++) {
    sum[km.labels[k]!]! += diffs[k]!;
    cnt[km.labels[k]!]!++;
  }
  const mean: [number, number] = [sum[0]! / cnt[0]!, sum[1]! / cnt[1]!];
  const changeCluster: 0 | 1 = mean[1] > mean[0] || Number.isNaN(mean[0]) ? 1 : 0;
  return { pca, centroids: km.centroids, changeCluster, clusterMeanDifference: mean, degenerate: false, samples: m };
}

/** Label every pixel of a difference image with a fitted model: 1 change, 0 no change, 255 invalid. */
export function applyPcaKmeans(model: PcaKmeansModel, diff: Float32Array, width: number, height: number, valid?: Uint8Array): Uint8Array {
  diff = masked(diff, valid);
  const out = new Uint8Array(width * height);
  const d = model.pca.dims;
  const f = new Float64Array(d);
  const { centroids, changeCluster } = model;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      if (diff[i] !== diff[i]) {
        out[i] = 255;
        continue;
      }
      if (model.degenerate) continue;
      pixelFeature(model.pca, diff, width, height, x, y, f, 0);
      let d0 = 0;
      let d1 = 0;
      for (let s = 0; s < d; s++) {
        d0 += (f[s]! - centroids[s]!) ** 2;
        d1 += (f[s]! - centroids[d + s]!) ** 2;
      }
      const c = d1 < d0 ? 1 : 0;
      out[i] = c === changeCluster ? 1 : 0;
    }
  }
  return out;
}

export interface PcaKmeansResult {
  /** 1 change, 0 no change, 255 invalid. */
  change: Uint8Array;
  /** The difference image the method worked on. */
  difference: Float32Array;
  model: PcaKmeansModel;
}

/** PCA-k-means change detection on two band stacks of one width × height grid (Celik 2009). */
export function pcaKmeans(before: readonly Float32Array[], after: readonly Float32Array[], width: number, height: number, opts: PcaKmeansOptions = {}): PcaKmeansResult {
  const difference = differenceImage(before, after, width * height, opts.valid);
  const model = fitPcaKmeans(difference, width, height, opts);
  return { change: applyPcaKmeans(model, difference, width, height, opts.valid), difference, model };
}
