/**
 * Warnings a student needs when a result is probably wrong, from facts the run already has (no pixel is read
 * again): identical dates, an implausibly large share of change, much "regrowth" in a fire map (often water),
 * dates in different seasons for a vegetation or fire run. Each says what to check. (Negative reflectances are warned where they are counted, in detect.ts and
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
  /** Wildfire: pixels classed as enhanced regrowth (dNBR < −0.1, classes 5 and 6). */
  regrowthPixels?: number;
  validPixels: number;
  histogram: IndexHistogram | null;
}

/** Share of the valid area above which a change map is more likely illumination, phenology or misregistration. */
export const IMPLAUSIBLE_CHANGE_SHARE = 0.5;
/** Share of the valid area in wildfire's regrowth classes above which they are more likely water, haze or phenology. */
export const REGROWTH_SHARE = 0.02;
/** Days apart in the year (ignoring the year) beyond which two dates are in different seasons. */
export const SEASON_DAYS = 60;

/**
 * Days between two ISO dates ignoring the years: `b` moved to the year before, of or after `a`'s (29 February
 * becoming the 28th outside leap years), the nearest. 0..183.
 */
export function seasonalDistanceDays(a: string, b: string): number {
  const ta = Date.parse(`${a.slice(0, 10)}T00:00:00Z`);
  const ya = new Date(ta).getUTCFullYear();
  const [mb, db] = [Number(b.slice(5, 7)), Number(b.slice(8, 10))];
  let best = Infinity;
  for (const y of [ya - 1, ya, ya + 1]) {
    const leap = (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
    const t = Date.UTC(y, mb - 1, mb === 2 && db === 29 && !leap ? 28 : db);
    best = Math.min(best, Math.abs(t - ta) / 86_400_000);
  }
  return Math.round(best);
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
  if (f.preset === 'wildfire' && f.regrowthPixels && f.validPixels > 0 && f.regrowthPixels / f.validPixels > REGROWTH_SHARE) {
    out.push(`${(100 * f.regrowthPixels / f.validPixels).toFixed(1)} % of the valid area is classed as enhanced regrowth (dNBR < −0.1): right after a fire this is more often water (a lake or reservoir whose level or turbidity changed), cloud or haze residue, or seasonal green-up than regrowth. Check those areas in the after picture; water is dark in true colour.`);
  }
  if ((f.preset === 'vegetation' || f.preset === 'wildfire') && f.beforeDate && f.afterDate) {
    const days = seasonalDistanceDays(f.beforeDate, f.afterDate);
    if (days > SEASON_DAYS) {
      out.push(`The dates are ${days} days apart in the year (${f.beforeDate} and ${f.afterDate}): vegetation differs between seasons, so part of the ${f.preset === 'wildfire' ? 'dNBR' : 'ΔNDVI'} is phenology, not ${f.preset === 'wildfire' ? 'fire' : 'loss or gain'}. Prefer dates in the same season (a year apart is fine).`);
    }
  }
  return out;
}
