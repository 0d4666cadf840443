/**
 * The histogram of a run's index (its first float product: ΔNDVI, dNBR, MNDWI, CVA magnitude…) over the valid
 * pixels, on a fixed lattice of bins so that blocks' histograms add up to the whole scene's, and so that the area
 * beyond any threshold can be read from it afterwards (the report's histogram, the viewer's threshold slider).
 * Pure: no I/O.
 *
 * Bin k covers [INDEX_HISTOGRAM_MIN + k·w, INDEX_HISTOGRAM_MIN + (k+1)·w) with w = INDEX_HISTOGRAM_BIN_WIDTH;
 * values below INDEX_HISTOGRAM_MIN or at/above INDEX_HISTOGRAM_MAX are counted apart (`below`, `above`), NaN is
 * not counted (invalid or masked pixels carry NaN in every product).
 */
import type { ClassRule, ClassRules } from './class-rules.js';
import { vegetationRules } from './presets/vegetation.js';
import { severityRules } from './presets/wildfire.js';

/** Width of one bin (index units). 0.001: a threshold anywhere is at most half a bin from an edge. */
export const INDEX_HISTOGRAM_BIN_WIDTH = 0.001;
/** Lower end of the lattice (normalized differences and their differences lie in [−2, 2]). */
export const INDEX_HISTOGRAM_MIN = -2;
/** Upper end of the lattice. */
export const INDEX_HISTOGRAM_MAX = 2;
/** Bins on the lattice. */
export const INDEX_HISTOGRAM_BINS = Math.round((INDEX_HISTOGRAM_MAX - INDEX_HISTOGRAM_MIN) / INDEX_HISTOGRAM_BIN_WIDTH);

/**
 * Mergeable counts: `INDEX_HISTOGRAM_BINS` bins, then the count below the lattice and the count at or above its
 * end (one Float64Array, so that a worker hands it back as one transferable buffer).
 */
export type IndexHistogramCounts = Float64Array;

/** Empty counts. */
export function emptyIndexHistogram(): IndexHistogramCounts {
  return new Float64Array(INDEX_HISTOGRAM_BINS + 2);
}

/**
 * Add the finite values of `values` (only where `valid[i]` is 1, when given) to `into` (default: new counts).
 *
 * @example
 * const h = addToIndexHistogram(new Float32Array([0.25, NaN, -3]));
 * h[Math.floor((0.25 + 2) / 0.001)] // 1; h[INDEX_HISTOGRAM_BINS] (below) 1
 */
export function addToIndexHistogram(values: ArrayLike<number>, valid?: ArrayLike<number> | null,
  into: IndexHistogramCounts = emptyIndexHistogram()): IndexHistogramCounts {
  if (into.length !== INDEX_HISTOGRAM_BINS + 2) throw new RangeError(`index histogram counts must have ${INDEX_HISTOGRAM_BINS + 2} entries, got ${into.length}`);
  const bins = INDEX_HISTOGRAM_BINS;
  const scale = 1 / INDEX_HISTOGRAM_BIN_WIDTH;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (v !== v || (valid && !valid[i])) continue;
    const k = Math.floor((v - INDEX_HISTOGRAM_MIN) * scale);
    if (k < 0) into[bins]!++;
    else if (k >= bins) into[bins + 1]!++;
    else into[k]!++;
  }
  return into;
}

/**
 * Add the ground area (m²) of the finite values of `values`, a `width`-wide window whose row r has pixels of
 * `rowAreaM2(r)` m², to per-bin areas `into` (same layout as the counts). For grids whose pixel area varies with the
 * row (EPSG:4326), so that the area beyond a threshold is exact there too.
 */
export function addAreasToIndexHistogram(values: ArrayLike<number>, width: number, rowAreaM2: (row: number) => number,
  into: IndexHistogramCounts = emptyIndexHistogram()): IndexHistogramCounts {
  if (into.length !== INDEX_HISTOGRAM_BINS + 2) throw new RangeError(`index histogram areas must have ${INDEX_HISTOGRAM_BINS + 2} entries, got ${into.length}`);
  const bins = INDEX_HISTOGRAM_BINS;
  const scale = 1 / INDEX_HISTOGRAM_BIN_WIDTH;
  for (let row = 0, i = 0; i < values.length; row++) {
    const a = rowAreaM2(row);
    for (let end = Math.min(values.length, i + width); i < end; i++) {
      const v = values[i]!;
      if (v !== v) continue;
      const k = Math.floor((v - INDEX_HISTOGRAM_MIN) * scale);
      into[k < 0 ? bins : k >= bins ? bins + 1 : k]! += a;
    }
  }
  return into;
}

/** Add counts `b` (e.g. a block's) into `a`. */
export function mergeIndexHistograms(a: IndexHistogramCounts, b: ArrayLike<number>): IndexHistogramCounts {
  if (a.length !== b.length) throw new RangeError(`cannot merge index histograms of ${a.length} and ${b.length} entries`);
  for (let k = 0; k < a.length; k++) a[k]! += b[k]!;
  return a;
}

/** A threshold of the run as the histogram shows it. */
export interface IndexHistogramThreshold {
  name: string;
  value: number;
  /** 'otsu': found by Otsu on the data; 'fixed': the preset's default or the user's --threshold. */
  kind: 'otsu' | 'fixed';
  source: string;
}

/** What summary.json holds as `indexHistogram`. */
export interface IndexHistogram {
  /** The product histogrammed (file stem, e.g. "dndvi") and what it is. */
  product: string;
  description: string;
  /** Bin width; bin k spans [min + k·binWidth, min + (k+1)·binWidth). */
  binWidth: number;
  /** Lower edge of the first bin listed (bins before it and after the last one are empty). */
  min: number;
  /** Upper edge of the last bin listed: min + counts.length · binWidth. */
  max: number;
  /** Pixels per bin. */
  counts: number[];
  /** Valid pixels below the lattice (< −2) and at or above its end (≥ 2): not in `counts`. */
  below: number;
  above: number;
  /** All counted pixels (the sum of counts, below and above): the run's valid pixels with a finite index. */
  pixels: number;
  /** Area of one pixel, m² (projected grids: exact; geographic grids: the grid's mean, see `pixelAreaVaries`). */
  pixelAreaM2: number;
  /** True on geographic grids: then `areasM2` holds each bin's ground area and areas are read from it. */
  pixelAreaVaries: boolean;
  /** When the pixel area varies: the ground area per bin (m², same bins as `counts`), and below/above the lattice. */
  areasM2?: number[];
  belowM2?: number;
  aboveM2?: number;
  /** The run's thresholds. */
  thresholds: IndexHistogramThreshold[];
  /**
   * How the classes follow from this index with the run's thresholds, first match wins (as `class-rules.ts`), or
   * null when the classes need more than this one index (flood: the index of each date; urban: ΔBSI and ΔNDVI;
   * clustering methods): then the area beyond a threshold here is the index's, not a class's.
   */
  classRules: { op: ClassRule['op']; bound: number; class: number }[] | null;
}

/** 'otsu' when a threshold's source says Otsu found it, else 'fixed'. */
export function thresholdKind(source: string): 'otsu' | 'fixed' {
  return /otsu/i.test(source) && !/user --threshold/.test(source) ? 'otsu' : 'fixed';
}

/**
 * The summary form of `counts`: trimmed to the populated bins (edges rounded to the lattice), with the product,
 * thresholds and pixel area. `classRules` as the preset applies them (null: not from this index alone).
 */
export function summarizeIndexHistogram(counts: IndexHistogramCounts, facts: {
  product: string; description: string; pixelAreaM2: number; pixelAreaVaries: boolean;
  thresholds: { name: string; value: number; source: string }[]; classRules: IndexHistogram['classRules'];
  /** Per-bin ground areas (`addAreasToIndexHistogram`), for grids whose pixel area varies. */
  areasM2?: IndexHistogramCounts | null;
}): IndexHistogram {
  const bins = INDEX_HISTOGRAM_BINS;
  let first = 0;
  while (first < bins && counts[first] === 0) first++;
  let last = bins - 1;
  while (last >= first && counts[last] === 0) last--;
  const w = INDEX_HISTOGRAM_BIN_WIDTH;
  const edge = (k: number) => Number((INDEX_HISTOGRAM_MIN + k * w).toFixed(6));
  const list = last >= first ? Array.from(counts.subarray(first, last + 1)) : [];
  let pixels = counts[bins]! + counts[bins + 1]!;
  for (const c of list) pixels += c;
  return {
    product: facts.product, description: facts.description, binWidth: w,
    min: list.length ? edge(first) : 0, max: list.length ? edge(last + 1) : 0, counts: list,
    below: counts[bins]!, above: counts[bins + 1]!, pixels,
    pixelAreaM2: facts.pixelAreaM2, pixelAreaVaries: facts.pixelAreaVaries,
    ...(facts.areasM2 ? {
      areasM2: last >= first ? Array.from(facts.areasM2.subarray(first, last + 1), (a) => Math.round(a * 1000) / 1000) : [],
      belowM2: facts.areasM2[bins]!, aboveM2: facts.areasM2[bins + 1]!,
    } : {}),
    thresholds: facts.thresholds.map((t) => ({ name: t.name, value: t.value, kind: thresholdKind(t.source), source: t.source })),
    classRules: facts.classRules,
  };
}

/**
 * Pixels of the histogram with index ≥ x (`side` 'above') or ≤ x ('below'): whole bins beyond x, plus the share of
 * the bin holding x in proportion to where x falls in it (values assumed spread evenly within a bin). Pixels
 * outside the lattice count on their side.
 *
 * @example
 * pixelsBeyond(h, 0.2, 'above') * h.pixelAreaM2 / 10_000 // hectares with index ≥ 0.2
 */
export function pixelsBeyond(h: IndexHistogram, x: number, side: 'above' | 'below'): number {
  return beyond(h, h.counts, side === 'above' ? h.above : h.below, x, side);
}

/**
 * Hectares with index ≥ x ('above') or ≤ x ('below'): from the per-bin ground areas when the histogram has them
 * (geographic grids), else from the counts and the pixel area.
 */
export function hectaresBeyond(h: IndexHistogram, x: number, side: 'above' | 'below'): number {
  if (h.areasM2) return beyond(h, h.areasM2, (side === 'above' ? h.aboveM2 : h.belowM2) ?? 0, x, side) / 10_000;
  return (pixelsBeyond(h, x, side) * h.pixelAreaM2) / 10_000;
}

/** The sum of `values` (per bin of `h`) beyond x, plus `outside` (the lattice's tail on that side). */
function beyond(h: IndexHistogram, values: readonly number[], outside: number, x: number, side: 'above' | 'below'): number {
  const n = values.length;
  if (n === 0) return outside;
  const pos = (x - h.min) / h.binWidth; // position of x in bins from h.min
  if (side === 'above') {
    if (pos <= 0) return outside + sum(values, 0, n);
    if (pos >= n) return outside;
    const k = Math.floor(pos);
    return outside + sum(values, k + 1, n) + values[k]! * (k + 1 - pos);
  }
  if (pos >= n) return outside + sum(values, 0, n);
  if (pos <= 0) return outside;
  const k = Math.floor(pos);
  return outside + sum(values, 0, k) + values[k]! * (pos - k);
}

function sum(a: readonly number[], from: number, to: number): number {
  let s = 0;
  for (let k = from; k < to; k++) s += a[k]!;
  return s;
}

/**
 * The rules by which a run's classes follow from its product alone with threshold `t`, by product name: ΔNDVI
 * (vegetation: loss ≤ −t, gain ≥ t), dNBR (wildfire severity), MNDWI/NDWI (water ≥ t), CVA magnitude (change ≥ t).
 * Null for products whose classes need more (flood's ΔMNDWI: each date's index; urban's ΔBSI: also ΔNDVI; IR-MAD,
 * PCA-k-means, supervised probabilities).
 */
export function classRulesOfProduct(product: string, t: number): IndexHistogram['classRules'] {
  let r: ClassRules | null = null;
  if (product === 'dndvi') r = vegetationRules(t);
  else if (product === 'dnbr') r = severityRules(t);
  else if (product === 'mndwi' || product === 'ndwi' || product === 'cva_magnitude') r = { rules: [{ op: '>=', bound: t, value: 1 }], otherwise: 0 };
  return r ? r.rules.map((x) => ({ op: x.op, bound: x.bound, class: x.value })) : null;
}
