/**
 * A small learned urban model for tests, trained on synthetic scene pairs whose "construction" is planted by hand
 * (no OSCD labels: nothing here derives from CC BY-NC-SA data), and the scene pairs as band folders of COGs.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { seededRandom } from '../../src/change/sampling.js';
import { sceneStatistics, urbanFeatures, type UrbanFeatureSpec } from '../../src/change/urban-features.js';
import type { UrbanModel } from '../../src/change/urban-model.js';
import { buildUrbanModel, cityScore, sampleCity, trainUrbanLearner } from '../../src/change/urban-training.js';
import type { BandName } from '../../src/indices/bands.js';
import type { BandArrays } from '../../src/indices/registry.js';
import { writeCog } from '../../src/io/cog-writer.js';
import type { Grid } from '../../src/raster/grid.js';

/** A small feature spec: 6 bands, the four indices, context at 3 and 9 px windows (halo 4). */
export const TEST_SPEC: UrbanFeatureSpec = {
  version: 1, bands: ['B02', 'B03', 'B04', 'B08', 'B11', 'B12'], indices: ['NDVI', 'NDBI', 'BSI', 'MNDWI'],
  context: ['diff_B04', 'BSI_diff', 'chi2'], radii: [1, 4],
};

const VEGETATION: Record<string, number> = { B02: 0.04, B03: 0.07, B04: 0.05, B08: 0.35, B11: 0.18, B12: 0.09 };
const CONCRETE: Record<string, number> = { B02: 0.14, B03: 0.16, B04: 0.18, B08: 0.22, B11: 0.28, B12: 0.25 };
const HARVEST: Record<string, number> = { B02: 0.06, B03: 0.09, B04: 0.11, B08: 0.2, B11: 0.26, B12: 0.17 };

/**
 * Reflectance of both dates on a width x height grid: vegetated fields with noise; "construction" (truth 1):
 * rectangles of 2-7 px that turn to concrete; distractors (truth 0): larger harvested fields and an illumination
 * change of the whole after date.
 */
export function syntheticUrbanPair(width: number, height: number, seed: number): { before: BandArrays; after: BandArrays; truth: Uint8Array } {
  const r = seededRandom(seed);
  const n = width * height;
  const truth = new Uint8Array(n);
  const harvest = new Uint8Array(n);
  const rect = (into: Uint8Array, wMin: number, wMax: number) => {
    const w = wMin + Math.floor(r() * (wMax - wMin + 1));
    const h = wMin + Math.floor(r() * (wMax - wMin + 1));
    const x0 = Math.floor(r() * (width - w));
    const y0 = Math.floor(r() * (height - h));
    for (let y = y0; y < y0 + h; y++) for (let x = x0; x < x0 + w; x++) into[y * width + x] = 1;
  };
  for (let k = 0; k < Math.round(n / 900); k++) rect(harvest, 8, 20);
  for (let k = 0; k < Math.round(n / 250); k++) rect(truth, 2, 7);
  const before: BandArrays = {};
  const after: BandArrays = {};
  const gain = 1 + 0.1 * (r() - 0.5);
  for (const b of TEST_SPEC.bands) {
    const x = new Float32Array(n);
    const y = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const field = 0.8 + 0.4 * ((Math.floor((i % width) / 16) + Math.floor(i / width / 16)) % 3) / 2;
      x[i] = VEGETATION[b]! * field * (1 + 0.08 * (r() - 0.5));
      const target = truth[i] ? CONCRETE[b]! : harvest[i] ? HARVEST[b]! * field : VEGETATION[b]! * field;
      y[i] = gain * target * (1 + 0.08 * (r() - 0.5));
    }
    before[b as BandName] = x;
    after[b as BandName] = y;
  }
  return { before, after, truth };
}

/** Train the test model on two synthetic "cities" (about a second); deterministic. */
export function trainTestModel(): UrbanModel {
  const cities = [['north', 11], ['south', 12]] as const;
  const samples = cities.map(([name, seed]) => {
    const { before, after, truth } = syntheticUrbanPair(96, 96, seed);
    const stats = sceneStatistics(TEST_SPEC, before, after, 96, 96);
    return sampleCity(name, urbanFeatures(TEST_SPEC, before, after, 96, 96, undefined, stats), truth, 800, seed);
  });
  const trained = trainUrbanLearner(samples, { gbdt: { trees: 25, maxDepth: 4, minSamplesLeaf: 10, subsample: 1 }, innerFolds: 2 });
  const pooled = cityScore('pooled', 90, 10, 10);
  return buildUrbanModel(TEST_SPEC, trained, {
    dataset: 'synthetic (tests/helpers/urban-model.ts)', cities: cities.map(([c]) => c), samplesPerCity: 1600, seconds: 1,
    postFilter: { majority: true, minPixels: 3 }, createdAt: '2026-01-01T00:00:00.000Z',
    scores: { protocol: 'synthetic leave-one-city-out (made-up numbers for the tests)', pooled, perCity: [] },
  });
}

/** Write a model file (JSON; Infinity thresholds become null, as the training command writes them). */
export function writeModel(file: string, model: UrbanModel): string {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, JSON.stringify(model));
  return file;
}

/** Write both dates of a synthetic pair as band folders of uint16 COGs (DN = reflectance × 10000, nodata 0). */
export async function writeUrbanPair(dir: string, grid: Grid, seed: number): Promise<{ before: string; after: string; truth: Uint8Array }> {
  const { before, after, truth } = syntheticUrbanPair(grid.width, grid.height, seed);
  const out = { before: path.join(dir, 'before'), after: path.join(dir, 'after') };
  for (const [role, arrays] of [['before', before], ['after', after]] as const) {
    const d = out[role];
    mkdirSync(d, { recursive: true });
    for (const b of TEST_SPEC.bands) {
      const dn = Uint16Array.from(arrays[b as BandName]!, (v) => Math.max(1, Math.round(v * 10000)));
      await writeCog(path.join(d, `${b}.tif`), { grid, bands: [dn] }, { nodata: 0, blockSize: 64 });
    }
  }
  return { ...out, truth };
}
