/**
 * Pieces shared by the presets: band checks, threshold choice, masking. Pure.
 */
import { MissingBandError } from '../../errors.js';
import type { BandName } from '../../indices/bands.js';
import { otsuThreshold } from '../otsu.js';
import { NODATA_CLASS, type ChangeMethod, type Preset, type PresetOptions, type ThresholdUsed } from './types.js';

/** The first alternative whose bands are all available, or a MissingBandError listing every alternative. */
export function firstAvailable(preset: string, available: ReadonlySet<BandName>,
  alternatives: readonly (readonly BandName[])[]): BandName[] {
  for (const alt of alternatives) if (alt.every((b) => available.has(b))) return [...alt];
  throw new MissingBandError(`preset "${preset}" cannot run on these scenes`, {
    input: `--preset ${preset}`,
    expected: alternatives.map((a) => a.join('+')).join(' or '),
    found: available.size ? [...available].sort().join(',') : 'no recognised Sentinel-2 bands',
    fix: 'Provide the missing bands, or name a multi-band file\'s bands with --bands (e.g. --bands B2,B3,B4,B8,B12)',
  });
}

/**
 * Decide a threshold: the user's --threshold, Otsu on the valid values, or the preset's fixed default.
 * Otsu falls back to the default (with a note) when the values have no spread.
 */
export function chooseThreshold(args: {
  name: string; method: ChangeMethod; options: PresetOptions; values: Float32Array; valid: Uint8Array;
  fixed: number; fixedSource: string; otsuRange?: [number, number]; notes: string[];
}): ThresholdUsed {
  const { name, method, options, values, valid, fixed, fixedSource, notes } = args;
  if (options.threshold !== undefined) return { name, value: options.threshold, source: 'user --threshold' };
  if (usesOtsu(method, options)) return otsuOrFixed(name, otsuThreshold(values, { valid, range: args.otsuRange }), fixed, fixedSource, notes);
  return { name, value: fixed, source: fixedSource };
}

/** True when `chooseThreshold` takes the threshold from Otsu on the data: methods otsu and cva without --threshold. */
export function usesOtsu(method: ChangeMethod, options: PresetOptions): boolean {
  return options.threshold === undefined && (method === 'otsu' || method === 'cva');
}

/**
 * The threshold from Otsu's value `t`, or — when Otsu found none (NaN: the values have no spread) — the fixed
 * default, with a note saying so.
 */
export function otsuOrFixed(name: string, t: number, fixed: number, fixedSource: string, notes: string[]): ThresholdUsed {
  if (Number.isFinite(t)) return { name, value: t, source: 'Otsu (1979) on the valid pixels' };
  notes.push(`Otsu found no threshold for ${name} (values have no spread); used the fixed default ${fixed}.`);
  return { name, value: fixed, source: fixedSource };
}

/** Mark invalid pixels with the nodata class. */
export function applyNodata(classes: Uint8Array, valid: Uint8Array): Uint8Array {
  for (let i = 0; i < classes.length; i++) if (!valid[i]) classes[i] = NODATA_CLASS;
  return classes;
}

/**
 * A pixel whose index (the decision value `values`) is not finite has no defined change: NIR + SWIR = 0 when both
 * bands are 0 (an all-zero scene, `--scale 0`, a tile of zeros), or an overflow. Such a pixel is invalid like nodata:
 * class 255 and NaN in the product, on every path (whole-array, blocks, the fused kernel, multivariate). Returns how
 * many pixels that were not already 255 it made invalid.
 */
export function maskUndefinedIndex(classes: Uint8Array, values: Float32Array): number {
  let n = 0;
  for (let i = 0; i < classes.length; i++) {
    const v = values[i]!;
    if (v - v !== 0) { // NaN or ±Infinity
      if (classes[i] !== NODATA_CLASS) { classes[i] = NODATA_CLASS; n++; }
      values[i] = NaN;
    }
  }
  return n;
}

/** Set NaN in a product where the pixel is invalid. */
export function maskProduct(values: Float32Array, valid: Uint8Array): Float32Array {
  for (let i = 0; i < values.length; i++) if (!valid[i]) values[i] = NaN;
  return values;
}

export function requireBefore<T>(preset: string, before: T | undefined): T {
  if (!before) {
    throw new MissingBandError(`preset "${preset}" compares two dates`, {
      input: '--before', expected: 'a before scene', found: 'none', fix: 'Pass --before SRC (only --preset water maps a single date)',
    });
  }
  return before;
}

/**
 * The class values `--min-area` measures as one patch: the preset's `patchGroups`, or by default its
 * `changeClasses` together and every other class on its own.
 */
export function minAreaGroups(preset: Pick<Preset, 'changeClasses' | 'patchGroups'>): (readonly number[])[] {
  return preset.patchGroups ? [...preset.patchGroups] : [preset.changeClasses];
}
