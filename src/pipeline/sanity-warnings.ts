/**
 * Warnings a student needs when a result is probably wrong, from facts the run already has (no pixel is read
 * again): identical dates, an implausibly large share of change, dates in different seasons for a vegetation or
 * fire run. Each says what to check. (Negative reflectances are warned where they are counted, in detect.ts and
 * the block engine.) Pure.
 */
import type { IndexHistogram } from '../change/index-histogram.js';

export interface SanityFacts {
  preset: string;
  /** Is the run's index a difference of two dates (ΔNDVI, dNBR, CVA magnitude...) rather than one date's index? */
  twoDates: boolean;
  beforeInput?: string;
  afterInput: string;
  /** Acquisition dates (YYYY-MM-DD) when known. */
  beforeDate?: string | null;
  afterDate?: string | null;
  /** Pixels of the preset's change classes and valid pixels. */
  changePixels: number;
  validPixels: number;
  histogram: IndexHistogram | null;
}

/** Share of the valid area above which a change map is more likely illumination, phenology or misregistration. */
export const IMPLAUSIBLE_CHANGE_SHARE = 0.5;
/** Days apart in the year (ignoring the year) beyond which two dates are in different seasons. */
export const SEASON_DAYS = 60;

/** Days between the days-of-year of two ISO dates, circular (0..182). */
export function seasonalDistanceDays(a: string, b: string): number {
  const doy = (d: string) => {
    const t = Date.parse(`${d.slice(0, 10)}T00:00:00Z`);
    return (t - Date.UTC(new Date(t).getUTCFullYear(), 0, 1)) / 86_400_000;
  };
  const d = Math.abs(doy(a) - doy(b));
  return Math.round(Math.min(d, 365.25 - d));
}

/** The warnings for a run, each naming what to check. */
export function sanityWarnings(f: SanityFacts): string[] {
  const out: string[] = [];
  if (f.twoDates && f.beforeInput !== undefined && f.beforeInput === f.afterInput) {
    out.push(`Before and after are the same input (${f.afterInput}): nothing can have changed. Check --before and --after.`);
  } else if (f.twoDates && f.histogram && f.histogram.pixels > 0) {
    // Identical dates give a difference of exactly 0 everywhere: every pixel in the bin holding 0.
    const h = f.histogram;
    const zeroBin = Math.floor((0 - h.min) / h.binWidth + 1e-9);
    const atZero = zeroBin >= 0 && zeroBin < h.counts.length ? h.counts[zeroBin]! : 0;
    if (atZero === h.pixels && h.counts.filter((c) => c > 0).length === 1) {
      out.push('Before and after are identical on every valid pixel (the index difference is 0 everywhere): the same scene was probably given twice. Check the inputs\' dates and files.');
    }
  }
  if (f.validPixels > 0 && f.changePixels / f.validPixels > IMPLAUSIBLE_CHANGE_SHARE) {
    out.push(`${(100 * f.changePixels / f.validPixels).toFixed(0)} % of the valid area is mapped as change: more likely illumination, season (phenology), haze or a misregistration than change on the ground. Check that both pictures look alike where nothing happened, and try --method otsu or a higher --threshold.`);
  }
  if ((f.preset === 'vegetation' || f.preset === 'wildfire') && f.beforeDate && f.afterDate) {
    const days = seasonalDistanceDays(f.beforeDate, f.afterDate);
    if (days > SEASON_DAYS) {
      out.push(`The dates are ${days} days apart in the year (${f.beforeDate} and ${f.afterDate}): vegetation differs between seasons, so part of the ${f.preset === 'wildfire' ? 'dNBR' : 'ΔNDVI'} is phenology, not ${f.preset === 'wildfire' ? 'fire' : 'loss or gain'}. Prefer dates in the same season (a year apart is fine).`);
    }
  }
  return out;
}
