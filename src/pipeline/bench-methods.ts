/**
 * The methods `bench accuracy` scores on each dataset: a plain table, apart from the scoring code so that the
 * CLI can list the method names in its help without loading the bench (start-up time, see src/cli/main.ts).
 */
import type { BandName } from '../indices/bands.js';
import type { PresetOptions } from '../change/presets/types.js';
import type { DatasetName } from './datasets.js';

/** A named way of making a change map, run through a preset. */
export interface BenchMethod {
  name: string;
  description: string;
  preset: string;
  options: PresetOptions;
  /** Bands hidden from the preset (e.g. B11 so that the water preset uses NDWI instead of MNDWI). */
  withoutBands?: BandName[];
}

export const SUPERVISED = 'supervised';

const multiband = (preset: string): BenchMethod[] => [
  { name: 'cva-otsu', description: 'CVA magnitude over the 10/20 m bands, Otsu threshold (Malila 1980; Otsu 1979)', preset, options: { method: 'cva' } },
  { name: 'pca-kmeans', description: 'PCA-k-means on the CVA magnitude, h = 4 (Celik 2009)', preset, options: { method: 'pca-kmeans' } },
  { name: 'mad', description: 'MAD, one unweighted CCA fit, change where χ² P(change) > 0.99 (Nielsen et al. 1998)', preset, options: { method: 'mad' } },
  { name: 'irmad', description: 'IR-MAD, reweighted while ≥ a quarter of the pixels stay probable no change, χ² P(change) > 0.99 (Nielsen 2007)', preset, options: { method: 'irmad' } },
  { name: SUPERVISED, description: 'random forest on both dates\' bands, indices, differences and 3×3/5×5 context, 3×3 majority filter, leave-one-group-out', preset, options: { method: 'supervised' } },
];

/** The methods each dataset is scored with, in table order. */
export const BENCH_METHODS: Record<DatasetName, readonly BenchMethod[]> = {
  oscd: [
    { name: 'dbsi-fixed', description: 'ΔBSI ≥ 0.1 and ΔNDVI ≤ 0 (urban preset, threshold)', preset: 'urban', options: { method: 'threshold' } },
    { name: 'dbsi-otsu', description: 'ΔBSI ≥ Otsu and ΔNDVI ≤ 0 (urban preset, otsu)', preset: 'urban', options: { method: 'otsu' } },
    ...multiband('urban'),
  ],
  calfire: [
    { name: 'dnbr-0.1', description: 'dNBR ≥ 0.1 (USGS low-severity break, Key & Benson 2006)', preset: 'wildfire', options: { method: 'threshold' } },
    { name: 'dnbr-0.27', description: 'dNBR ≥ 0.27 (USGS moderate-low break)', preset: 'wildfire', options: { method: 'threshold', threshold: 0.27 } },
    { name: 'dnbr-otsu', description: 'dNBR ≥ Otsu threshold', preset: 'wildfire', options: { method: 'otsu' } },
    ...multiband('generic'),
  ],
  ombria: [
    { name: 'mndwi-0', description: 'new water: MNDWI ≥ 0 after and < 0 before (flood preset, threshold)', preset: 'flood', options: { method: 'threshold' } },
    { name: 'mndwi-otsu', description: 'new water: MNDWI ≥ joint Otsu threshold after, not before (flood preset, otsu)', preset: 'flood', options: { method: 'otsu' } },
    { name: 'ndwi-0', description: 'new water with NDWI (B3, B8) ≥ 0', preset: 'flood', options: { method: 'threshold' }, withoutBands: ['B11'] },
    { name: 'ndwi-otsu', description: 'new water with NDWI (B3, B8) ≥ joint Otsu threshold', preset: 'flood', options: { method: 'otsu' }, withoutBands: ['B11'] },
    ...multiband('generic'),
  ],
  sen1floods11: [
    { name: 'mndwi-0', description: 'water: MNDWI ≥ 0 (Xu 2006)', preset: 'water', options: { method: 'threshold' } },
    { name: 'mndwi-otsu', description: 'water: MNDWI ≥ Otsu threshold', preset: 'water', options: { method: 'otsu' } },
    { name: 'ndwi-0', description: 'water: NDWI ≥ 0 (McFeeters 1996)', preset: 'water', options: { method: 'threshold' }, withoutBands: ['B11'] },
    { name: 'ndwi-otsu', description: 'water: NDWI ≥ Otsu threshold', preset: 'water', options: { method: 'otsu' }, withoutBands: ['B11'] },
  ],
};
