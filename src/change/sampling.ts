/**
 * Deterministic, seeded randomness for fitting on a sample of pixels. Pure.
 *
 * Selection depends only on (global pixel index, seed, rate), never on the order in which blocks are visited,
 * so a streaming block engine and a whole-image call pick exactly the same pixels.
 */

/** A seeded 32-bit PRNG (mulberry32) returning floats in [0, 1). Same seed, same sequence. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A well-mixed 32-bit hash of (index, seed) (lowbias32 finalizer), as a float in [0, 1). */
export function hashUnit(index: number, seed: number): number {
  let x = (index ^ Math.imul(seed >>> 0, 0x9e3779b9)) >>> 0;
  x ^= Math.floor(index / 4294967296); // indices beyond 2^32 still differ
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  x ^= x >>> 16;
  return (x >>> 0) / 4294967296;
}

/**
 * Sampling rate that keeps about `maxSamples` of `nValid` pixels (1 when all fit).
 * Pass the same rate to {@link keepSample} in every block.
 */
export function sampleRate(nValid: number, maxSamples: number): number {
  if (!(maxSamples > 0)) throw new RangeError(`maxSamples must be > 0, got ${maxSamples}`);
  return nValid <= maxSamples ? 1 : maxSamples / nValid;
}

/** True when global pixel `index` belongs to the seeded sample of the given rate. */
export function keepSample(index: number, rate: number, seed: number): boolean {
  return rate >= 1 || hashUnit(index, seed) < rate;
}
