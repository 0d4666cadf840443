/**
 * The WebAssembly kernel of the fused two-band, two-date pass (`wasm/fused.ts`, built into dist/wasm/fused.wasm):
 * reflectance from uint16 DNs, validity, index per date and index change, SIMD, bit-identical to the whole-array
 * path. One instance per thread, loaded on first use; its memory holds one strip of a block at a time.
 */
import type { ClassRules, RuleComparison } from '../change/class-rules.js';
import { ensureWasmMemory, loadWasm, type WasmMemoryExports } from '../io/wasm.js';
import type { BlockSamples } from './block-task.js';

interface FusedExports extends WasmMemoryExports {
  dnToReflectance(src: number, dst: number, n: number, scale: number, offset: number, nodata: number, counts: number, predictedRow: number): void;
  normalizedDifferenceChange(x1: number, y1: number, x0: number, y0: number, cloud1: number, cloud0: number, change: number,
    classes: number, n: number, afterMinusBefore: number, rules: number, counts: number): void;
  cellSums(values: number, width: number, height: number, f: number, offX: number, offY: number, cw: number, sums: number, counts: number): void;
  classCounts(classes: number, n: number, counts: number, scratch: number): void;
}

/** What one block's fused pass counted; its per-pixel results are written into the caller's arrays. */
export interface FusedResult {
  /** Pixels per class value (256 entries, 255 included). */
  classCounts: Uint32Array;
  /** Pixels with nodata in any band, and (of the others) under cloud, shadow or snow in either date. */
  nodata: number;
  cloud: number;
  /** Pixels with valid bands whose change is not finite (an index's x + y = 0): class 255, NaN change. */
  indexUndefined: number;
  /**
   * [negative, valid] reflectance counts of x1, y1, x0, y0 for the bands converted here from DNs; null for bands
   * given as physical values (the caller counts those as it does for every other physical array).
   */
  radiometry: ([number, number] | null)[];
}

/** Where the fused pass writes a block's per-pixel results (`width` x `height`, row-major). */
export interface FusedOutput {
  /** Index change (NaN where not valid or where an index is undefined). */
  change: Float32Array;
  /** The rules' class of the change; 255 where a band is nodata, either date is cloud/shadow/snow or the change is not finite. */
  classes: Uint8Array;
}

function load(): FusedExports {
  return loadWasm<FusedExports>('fused');
}

const COUNTS = 0; // 8 i32 of per-band counts, then nodata, cloud and undefined index
const RULES = 64; // i32 count, i32 otherwise, then per rule i32 comparison, i32 class, f64 bound (wasm/fused.ts)
const MAX_RULES = 16;
const FIRST_SLOT = RULES + 8 + 16 * MAX_RULES;
const COMPARISONS: Record<RuleComparison, number> = { '<': 0, '<=': 1, '>=': 2, '>': 3 };
/**
 * Pixels per strip of the fused pass (whole rows; at least one row). The kernel's memory holds one strip, ~3.3 MB,
 * instead of a whole block (26 MB for 1024² blocks, in every worker): every step is per pixel and its counts add up.
 */
export const FUSED_STRIP_PIXELS = 1 << 17;

/**
 * Run the fused pass on one `width` x `height` block: the change of (x − y) / (x + y) between the dates (after −
 * before when `afterMinusBefore`) and its class under `rules`, written into `out`. Runs in strips of whole rows of at
 * most `stripPixels` pixels (one row when a row is longer); the samples are left as they are.
 */
export function runFusedKernel(x1: BlockSamples, y1: BlockSamples, x0: BlockSamples, y0: BlockSamples,
  cloud1: Uint8Array | null, cloud0: Uint8Array | null, afterMinusBefore: boolean, rules: ClassRules, width: number, height: number,
  out: FusedOutput, stripPixels = FUSED_STRIP_PIXELS): FusedResult {
  if (rules.rules.length > MAX_RULES) throw new RangeError(`internal: at most ${MAX_RULES} class rules, got ${rules.rules.length}`);
  const k = load();
  const inputs = [x1, y1, x0, y0];
  for (const s of inputs) {
    if (s.predictedRow && s.predictedRow !== width) throw new RangeError(`internal: rows of ${s.predictedRow} DNs in a block ${width} wide`);
  }
  const rows = Math.max(1, Math.min(height, Math.floor(stripPixels / width)));
  const m = rows * width; // pixels of a full strip
  const f32 = 4 * m;
  // Slots: four f32 bands, the f32 change, a u16 staging area, two u8 cloud masks and the u8 classes of one strip.
  const bands = [0, 1, 2, 3].map((j) => FIRST_SLOT + j * f32);
  const changeAt = FIRST_SLOT + 4 * f32;
  const stagingAt = changeAt + f32;
  const cloudAt = [stagingAt + 2 * m, stagingAt + 3 * m];
  const classesAt = stagingAt + 4 * m;
  const classCountsAt = classesAt + m + (-m & 3);
  const end = classCountsAt + 4 * 256 + 4 * 4 * 256; // the counts, then the kernel's four scratch histograms
  const buffer = ensureWasmMemory(k, end);
  new Int32Array(buffer, COUNTS, 11).fill(0);
  const header = new Int32Array(buffer, RULES, 2);
  header[0] = rules.rules.length;
  header[1] = rules.otherwise;
  rules.rules.forEach((r, k) => {
    new Int32Array(buffer, RULES + 8 + 16 * k, 2).set([COMPARISONS[r.op], r.value]);
    new Float64Array(buffer, RULES + 16 + 16 * k, 1)[0] = r.bound;
  });
  new Uint32Array(buffer, classCountsAt, 256).fill(0);
  for (let r0 = 0; r0 < height; r0 += rows) {
    const from = r0 * width;
    const to = Math.min(height, r0 + rows) * width;
    const n = to - from;
    inputs.forEach((s, j) => {
      if (s.values instanceof Uint16Array) {
        new Uint16Array(buffer, stagingAt, n).set(s.values.subarray(from, to));
        k.dnToReflectance(stagingAt, bands[j]!, n, s.scale, s.offset, s.nodata, COUNTS + 8 * j, s.predictedRow);
      } else {
        // Physical values (resampled bands): scale 1, offset 0, NaN nodata — the reflectance already.
        new Float32Array(buffer, bands[j]!, n).set(s.values.subarray(from, to));
      }
    });
    if (cloud1) new Uint8Array(buffer, cloudAt[0]!, n).set(cloud1.subarray(from, to));
    if (cloud0) new Uint8Array(buffer, cloudAt[1]!, n).set(cloud0.subarray(from, to));
    k.normalizedDifferenceChange(bands[0]!, bands[1]!, bands[2]!, bands[3]!, cloud1 ? cloudAt[0]! : 0, cloud0 ? cloudAt[1]! : 0,
      changeAt, classesAt, n, afterMinusBefore ? 1 : 0, RULES, COUNTS + 32);
    k.classCounts(classesAt, n, classCountsAt, classCountsAt + 4 * 256);
    out.change.set(new Float32Array(buffer, changeAt, n), from);
    out.classes.set(new Uint8Array(buffer, classesAt, n), from);
  }
  const counts = new Int32Array(buffer, COUNTS, 11);
  return {
    classCounts: new Uint32Array(buffer, classCountsAt, 256).slice(), nodata: counts[8]!, cloud: counts[9]!, indexUndefined: counts[10]!,
    radiometry: inputs.map((s, j) => s.values instanceof Uint16Array ? [counts[2 * j]!, counts[2 * j + 1]!] : null),
  };
}

/**
 * Sums and counts of the finite reflectances of `layer` (a `width` x `height` block) per f x f cell of a reduced
 * grid: the block starts `offX`, `offY` pixels into its first cell, and touches `cw` x `ch` cells. A band's stored
 * uint16 DNs are turned into reflectance here, in the kernel (on a copy: the samples are left as they are), with
 * exactly `toPhysical`'s values, so no float copy of the band is made in JavaScript.
 */
export function quicklookCellSums(layer: Float32Array | BlockSamples, width: number, height: number, f: number, offX: number,
  offY: number, cw: number, ch: number): { sums: Float64Array; counts: Uint32Array } {
  const k = load();
  const n = width * height;
  const cells = cw * ch;
  const values = layer instanceof Float32Array ? layer : layer.values;
  // Slots: the f32 reflectances, the u16 staging area of DNs (if any), the f64 sums and the u32 counts.
  const valuesAt = FIRST_SLOT;
  const stagingAt = valuesAt + 4 * n;
  const stagingEnd = stagingAt + (values instanceof Uint16Array ? 2 * n : 0);
  const sumsAt = stagingEnd + (8 - (stagingEnd % 8)) % 8;
  const countsAt = sumsAt + 8 * cells;
  const end = countsAt + 4 * cells;
  const buffer = ensureWasmMemory(k, end);
  if (values instanceof Uint16Array) {
    const s = layer as BlockSamples;
    new Uint16Array(buffer, stagingAt, n).set(values);
    // The band's radiometry counts land in COUNTS, unused here (runFusedKernel zeroes them before its own use).
    k.dnToReflectance(stagingAt, valuesAt, n, s.scale, s.offset, s.nodata, COUNTS, s.predictedRow);
  } else {
    // Physical values (resampled bands): scale 1, offset 0, NaN nodata — the reflectance already.
    new Float32Array(buffer, valuesAt, n).set(values);
  }
  new Float64Array(buffer, sumsAt, cells).fill(0);
  new Uint32Array(buffer, countsAt, cells).fill(0);
  k.cellSums(valuesAt, width, height, f, offX, offY, cw, sumsAt, countsAt);
  return { sums: new Float64Array(buffer, sumsAt, cells).slice(), counts: new Uint32Array(buffer, countsAt, cells).slice() };
}
