/**
 * What a change preset is: a named recipe from reflectance bands of two dates to a class map. Pure.
 */
import type { BandName } from '../../indices/bands.js';
import type { BandArrays } from '../../indices/registry.js';
import type { SupervisedModel } from '../supervised.js';
import type { UrbanModel } from '../urban-model.js';

/** Class value for pixels without valid data on either date. */
export const NODATA_CLASS = 255;
/** Class value for "no change" (or "not water" for the single-date water map). */
export const NO_CHANGE = 0;

/** 'learned': the urban preset's learned model (gradient-boosted trees on context features, `urban-model.ts`). */
export type ChangeMethod = 'threshold' | 'otsu' | 'cva' | 'pca-kmeans' | 'mad' | 'irmad' | 'supervised' | 'learned';

export interface PresetOptions {
  method?: ChangeMethod;
  /** Overrides the preset's main threshold. */
  threshold?: number;
  /** Bands for CVA / generic change (default: the preset's choice). */
  cvaBands?: BandName[];
  /** Trained model for method 'supervised' (detect --model FILE). */
  supervisedModel?: SupervisedModel;
  /** The learned urban model for method 'learned' (detect --model FILE, or the one in the cache directory). */
  urbanModel?: UrbanModel;
  /** Where `urbanModel` was read from (named in its errors). */
  urbanModelSource?: string;
}

export interface ThresholdUsed {
  /** What it separates, e.g. "burned (dNBR)". */
  name: string;
  value: number;
  /** Where the number comes from: "Otsu (1979) on dNBR of valid pixels", "USGS (Key & Benson 2006)", "user --threshold". */
  source: string;
}

export interface ContinuousProduct {
  /** File stem, e.g. "dnbr". */
  name: string;
  description: string;
  values: Float32Array;
}

export interface ChangeClass {
  value: number;
  name: string;
  description: string;
}

export interface PresetInput {
  width: number;
  height: number;
  /** Reflectance before the event (absent for single-date presets). */
  before?: BandArrays;
  after: BandArrays;
  /** 1 = valid on both dates after masking. */
  valid: Uint8Array;
  options: PresetOptions;
}

export interface PresetResult {
  /** uint8 class map: 0 no change, 1..n classes, 255 nodata. */
  classes: Uint8Array;
  products: ContinuousProduct[];
  thresholds: ThresholdUsed[];
  method: ChangeMethod;
  /** Human-readable account of the computation, for summary.json and the report. */
  formula: string;
  notes: string[];
}

export interface Preset {
  readonly name: string;
  readonly title: string;
  readonly description: string;
  /** True when only the after scene is needed (water map). */
  readonly singleDate: boolean;
  readonly methods: readonly ChangeMethod[];
  readonly defaultMethod: ChangeMethod;
  /** Class values with names, including 0 (no change); 255 is nodata. */
  readonly classes: readonly ChangeClass[];
  /** The classes that mean "the change this preset looks for", when scored against reference labels. */
  readonly changeClasses: readonly number[];
  /**
   * Classes that `--min-area` measures as one patch (their union), so that a removed patch takes no class away
   * from a larger one: e.g. wildfire's four severities form one burn scar. Default: `changeClasses` together, every
   * other class on its own (`minAreaGroups`).
   */
  readonly patchGroups?: readonly (readonly number[])[];
  /** Pick the bands to use from what the scenes offer; throws MissingBandError naming the alternatives. */
  chooseBands(available: ReadonlySet<BandName>, opts: PresetOptions): BandName[];
  run(input: PresetInput): PresetResult;
}
