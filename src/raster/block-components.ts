/**
 * The minimum mapping unit of `removeSmallComponents`, computed block by block in bounded memory. Pure module.
 *
 * 1. `summarizeBlock` labels one block on its own (`labelComponents`) and describes the components that touch
 *    the block's sides: the component on every side pixel, and per such "edge component" its class value, pixel
 *    count, ground area inside the block and its pixel count per row.
 * 2. `mergeBlockEdges` joins edge components of neighbouring blocks with a union-find (same class value, or same
 *    patch group with `groups`, across edges and, 8-connected, across corners) and decides keep/remove per joined
 *    component.
 * 3. `filterBlock` labels the block again (deterministically the same labels), removes its interior components
 *    smaller than the minimum area and the edge components the merge marked, and returns the filtered classes.
 *
 * The decisions equal `removeSmallComponents` on the whole raster exactly, floating point included: a component's
 * area is summed as `componentAreas` sums it, one (pixel count of the row) x (row area) term per row in row order.
 * A component inside one block has the same rows and counts in the block as in the whole raster. For a component
 * spanning blocks, the per-row counts of its parts are added (integers, exact) before that sum. Parts whose own
 * area already exceeds the minimum by a safe margin (`KEEP_MARGIN`) carry no rows: their component is kept, so the
 * rows held on the merging side stay bounded by the minimum area in pixels per edge component.
 */
import {
  componentAreas, labelComponents, patchKeys, type BackgroundValues, type Components, type Connectivity, type PatchGroups,
} from './components.js';
import type { Window } from './grid.js';

/** The minimum mapping unit of a block-wise run (the options of `removeSmallComponents` it supports). */
export interface BlockMinArea {
  /** Components whose ground area is smaller than this (m²) are removed. */
  minAreaM2: number;
  /**
   * Components with fewer pixels than this are removed too (the learned urban model's minimum object size, applied
   * before `--min-area` on the whole array: both remove whole components of the same labelling, so one pass that
   * removes a component when either rule says so gives the same map). Removals by this rule are counted apart.
   */
  minPixels?: number;
  /** Area of one pixel in row `row` of the WHOLE grid (m²), e.g. `(r) => pixelAreaM2(grid, r)`. */
  rowAreaM2: (row: number) => number;
  /** Class value written into removed pixels (default 0 = no change). */
  replaceWith?: number;
  connectivity?: Connectivity;
  background?: BackgroundValues;
  /** Classes that form one patch together (`patchGroupTable`), as `removeSmallComponents` takes them. */
  groups?: PatchGroups;
}

/**
 * What the merge needs to know about one block: its window on the whole grid and its edge components (those with
 * a pixel on one of the block's four sides), indexed 0..count-1 in label order.
 */
export interface BlockEdges {
  window: Window;
  /** Per side pixel (left to right, top to bottom): 1 + the edge component there, 0 for background. */
  top: Int32Array;
  bottom: Int32Array;
  left: Int32Array;
  right: Int32Array;
  /** Per edge component: patch key (its class value without groups), pixels in the block, ground area in the block (m², as `componentAreas`). */
  value: Uint8Array;
  pixels: Int32Array;
  area: Float64Array;
  /**
   * Per edge component k: pixel counts of its rows `rowStart[k]`, `rowStart[k] + 1`, ... (whole-grid rows) in
   * `rowCounts[rowOffsets[k] .. rowOffsets[k + 1])`. Empty for a part already larger than the minimum area by
   * `KEEP_MARGIN`, which keeps its whole component.
   */
  rowStart: Int32Array;
  rowOffsets: Int32Array;
  rowCounts: Int32Array;
}

/** The merge's verdict: per block, per edge component, 0 = keep, 1 = remove (area), 2 = remove (fewer than minPixels). */
export interface MergeDecision {
  remove: Uint8Array[];
  /** Joined components that touch a block side, and how many of them are removed (with their pixels). */
  edgeComponents: number;
  removedComponents: number;
  removedPixels: number;
}

/** A block's classes after the filter. */
export interface FilteredBlock {
  classes: Uint8Array;
  /** Pixels of this block that were removed (interior and edge components). */
  removedPixels: number;
  /** Removed components lying wholly inside this block (those touching a side are counted by the merge). */
  removedInteriorComponents: number;
  /** Of `removedPixels`, those removed because their component has fewer than `minPixels` pixels. */
  removedByPixelCount: number;
}

/**
 * Relative margin above which a part's own area certainly makes its whole component at least the minimum area,
 * whatever the summation order: a sum of k per-row terms is exact to about k·2⁻⁵³ relative, far below 1e-9 for
 * any raster under 10⁶ rows.
 */
export const KEEP_MARGIN = 1e-9;

interface LabelledBlock {
  c: Components;
  areas: Float64Array;
  /** Per label: 1 + its edge component index, 0 for labels wholly inside the block. */
  edgeOf: Int32Array;
  edgeCount: number;
}

function checkOptions(mmu: BlockMinArea): number {
  if (!(mmu.minAreaM2 >= 0) || !Number.isFinite(mmu.minAreaM2)) throw new RangeError(`minAreaM2 must be a finite area >= 0, got ${mmu.minAreaM2}`);
  const replaceWith = mmu.replaceWith ?? 0;
  if (!Number.isInteger(replaceWith) || replaceWith < 0 || replaceWith > 255) {
    throw new RangeError(`replaceWith must be a uint8 class value, got ${replaceWith}`);
  }
  return replaceWith;
}

/** Label a block, its component areas on the whole grid's rows, and its edge components in label order. */
function labelBlock(classes: Uint8Array, win: Window, mmu: BlockMinArea): LabelledBlock {
  const { width: w, height: h } = win;
  const c = labelComponents(patchKeys(classes, mmu.groups), w, h, { connectivity: mmu.connectivity, background: mmu.background });
  const areas = componentAreas(c, w, h, (r) => mmu.rowAreaM2(win.y + r));
  const edgeOf = new Int32Array(c.count + 1);
  const mark = (i: number) => { edgeOf[c.labels[i]!] = 1; };
  for (let x = 0; x < w; x++) { mark(x); mark((h - 1) * w + x); }
  for (let y = 0; y < h; y++) { mark(y * w); mark(y * w + w - 1); }
  let edgeCount = 0;
  edgeOf[0] = 0;
  for (let l = 1; l <= c.count; l++) if (edgeOf[l]) edgeOf[l] = ++edgeCount;
  return { c, areas, edgeOf, edgeCount };
}

/** Step 1: one block's edge components for `mergeBlockEdges`. `classes` is the block's class tile, row-major. */
export function summarizeBlock(classes: Uint8Array, win: Window, mmu: BlockMinArea): BlockEdges {
  checkOptions(mmu);
  const { width: w, height: h } = win;
  if (w < 1 || h < 1) throw new RangeError(`block window must not be empty, got ${w}x${h}`);
  const { c, areas, edgeOf, edgeCount } = labelBlock(classes, win, mmu);
  const side = (start: number, step: number, n: number) => {
    const out = new Int32Array(n);
    for (let k = 0; k < n; k++) out[k] = edgeOf[c.labels[start + k * step]!]!;
    return out;
  };
  const value = new Uint8Array(edgeCount);
  const pixels = new Int32Array(edgeCount);
  const area = new Float64Array(edgeCount);
  const firstRow = new Int32Array(edgeCount).fill(-1);
  const lastRow = new Int32Array(edgeCount);
  for (let l = 1; l <= c.count; l++) {
    const k = edgeOf[l]! - 1;
    if (k < 0) continue;
    value[k] = c.classOf[l]!;
    pixels[k] = c.sizes[l]!;
    area[k] = areas[l]!;
  }
  const carriesRows = (k: number) => !(area[k]! >= mmu.minAreaM2 * (1 + KEEP_MARGIN));
  for (let y = 0; y < h; y++) {
    for (let x = 0, i = y * w; x < w; x++, i++) {
      const k = edgeOf[c.labels[i]!]! - 1;
      if (k < 0) continue;
      if (firstRow[k] < 0) firstRow[k] = y;
      lastRow[k] = y;
    }
  }
  const rowOffsets = new Int32Array(edgeCount + 1);
  for (let k = 0; k < edgeCount; k++) rowOffsets[k + 1] = rowOffsets[k]! + (carriesRows(k) ? lastRow[k]! - firstRow[k]! + 1 : 0);
  const rowCounts = new Int32Array(rowOffsets[edgeCount]!);
  for (let y = 0; y < h; y++) {
    for (let x = 0, i = y * w; x < w; x++, i++) {
      const k = edgeOf[c.labels[i]!]! - 1;
      if (k < 0 || rowOffsets[k + 1] === rowOffsets[k]) continue;
      rowCounts[rowOffsets[k]! + y - firstRow[k]!]!++;
    }
  }
  const rowStart = new Int32Array(edgeCount);
  for (let k = 0; k < edgeCount; k++) rowStart[k] = win.y + firstRow[k]!;
  return {
    window: { ...win }, top: side(0, 1, w), bottom: side((h - 1) * w, 1, w), left: side(0, w, h), right: side(w - 1, w, h),
    value, pixels, area, rowStart, rowOffsets, rowCounts,
  };
}

/**
 * Step 2: join the edge components of all blocks and decide which to remove. `blocks` must tile the grid as
 * `planBlocks` does (blocks of one row share their height, of one column their width), in any order.
 */
export function mergeBlockEdges(blocks: readonly BlockEdges[], mmu: BlockMinArea): MergeDecision {
  checkOptions(mmu);
  const eight = (mmu.connectivity ?? 8) === 8;
  const base = new Int32Array(blocks.length + 1);
  blocks.forEach((b, i) => { base[i + 1] = base[i]! + b.value.length; });
  const total = base[blocks.length]!;
  const parent = new Int32Array(total);
  for (let i = 0; i < total; i++) parent[i] = i;
  const find = (a: number): number => {
    while (parent[a] !== a) {
      const p = parent[a]!;
      parent[a] = parent[p]!;
      a = p;
    }
    return a;
  };
  const at = new Map<string, number>();
  blocks.forEach((b, i) => at.set(`${b.window.x},${b.window.y}`, i));
  const neighbour = (x: number, y: number) => at.get(`${x},${y}`);

  /** Join side pixel `a` of block i with side pixel `b` of block j when both are components of the same class. */
  const join = (i: number, a: number, j: number, b: number) => {
    if (!a || !b) return;
    const ga = base[i]! + a - 1;
    const gb = base[j]! + b - 1;
    if (blocks[i]!.value[a - 1] !== blocks[j]!.value[b - 1]) return;
    const ra = find(ga);
    const rb = find(gb);
    if (ra !== rb) parent[Math.max(ra, rb)] = Math.min(ra, rb);
  };
  /** Join two facing sides of n pixels (edge neighbours, and with 8-connectivity the diagonal ones). */
  const joinSides = (i: number, s: Int32Array, j: number, t: Int32Array) => {
    for (let k = 0; k < s.length; k++) {
      if (!s[k]) continue;
      join(i, s[k]!, j, t[k]!);
      if (eight && k > 0) join(i, s[k]!, j, t[k - 1]!);
      if (eight && k + 1 < t.length) join(i, s[k]!, j, t[k + 1]!);
    }
  };
  blocks.forEach((b, i) => {
    const { x, y, width: w, height: h } = b.window;
    const right = neighbour(x + w, y);
    const below = neighbour(x, y + h);
    if (right !== undefined) {
      if (blocks[right]!.window.height !== h) throw new RangeError(`blocks at (${x},${y}) and (${x + w},${y}) differ in height`);
      joinSides(i, b.right, right, blocks[right]!.left);
    }
    if (below !== undefined) {
      if (blocks[below]!.window.width !== w) throw new RangeError(`blocks at (${x},${y}) and (${x},${y + h}) differ in width`);
      joinSides(i, b.bottom, below, blocks[below]!.top);
    }
    if (!eight) return;
    // Across the corner below-right of this block: its bottom-right pixel and the diagonal block's top-left one;
    // and the two other blocks at that corner: the right block's bottom-left pixel and the lower block's top-right.
    const diagonal = neighbour(x + w, y + h);
    if (diagonal !== undefined) join(i, b.bottom[w - 1]!, diagonal, blocks[diagonal]!.top[0]!);
    if (right !== undefined && below !== undefined) {
      join(right, blocks[right]!.bottom[0]!, below, blocks[below]!.top[w - 1]!);
    }
  });

  // Per joined component (its root): pixels, whether a part alone keeps it, and its parts as a linked list.
  const pixels = new Float64Array(total);
  const keep = new Uint8Array(total);
  const nextPart = new Int32Array(total);
  const firstPart = new Int32Array(total).fill(-1);
  const blockOf = new Int32Array(total);
  blocks.forEach((b, i) => {
    for (let k = 0; k < b.value.length; k++) {
      const g = base[i]! + k;
      const r = find(g);
      blockOf[g] = i;
      pixels[r]! += b.pixels[k]!;
      if (b.rowOffsets[k + 1] === b.rowOffsets[k]) keep[r] = 1;
      nextPart[g] = firstPart[r]!;
      firstPart[r] = g;
    }
  });

  const removeRoot = new Uint8Array(total);
  let edgeComponents = 0;
  let removedComponents = 0;
  let removedPixels = 0;
  for (let r = 0; r < total; r++) {
    if (parent[r] !== r) continue;
    edgeComponents++;
    if (mmu.minPixels !== undefined && pixels[r]! < mmu.minPixels) removeRoot[r] = 2;
    else if (!keep[r] && componentArea(r, firstPart, nextPart, blockOf, base, blocks, mmu.rowAreaM2) < mmu.minAreaM2) removeRoot[r] = 1;
    if (removeRoot[r]) {
      removedComponents++;
      removedPixels += pixels[r]!;
    }
  }
  const remove = blocks.map((b, i) => {
    const out = new Uint8Array(b.value.length);
    for (let k = 0; k < out.length; k++) out[k] = removeRoot[find(base[i]! + k)]!;
    return out;
  });
  return { remove, edgeComponents, removedComponents, removedPixels };
}

/**
 * Ground area of a joined component as `componentAreas` sums it: its parts' pixel counts added per row, then one
 * (count x row area) term per row in row order. A single part is its block's own area (the same sum).
 */
function componentArea(root: number, firstPart: Int32Array, nextPart: Int32Array, blockOf: Int32Array, base: Int32Array,
  blocks: readonly BlockEdges[], rowAreaM2: (row: number) => number): number {
  const g0 = firstPart[root]!;
  if (nextPart[g0] === -1) return blocks[blockOf[g0]!]!.area[g0 - base[blockOf[g0]!]!]!;
  let lo = Infinity;
  let hi = -Infinity;
  for (let g = g0; g !== -1; g = nextPart[g]!) {
    const b = blocks[blockOf[g]!]!;
    const k = g - base[blockOf[g]!]!;
    lo = Math.min(lo, b.rowStart[k]!);
    hi = Math.max(hi, b.rowStart[k]! + b.rowOffsets[k + 1]! - b.rowOffsets[k]! - 1);
  }
  const counts = new Float64Array(hi - lo + 1);
  for (let g = g0; g !== -1; g = nextPart[g]!) {
    const b = blocks[blockOf[g]!]!;
    const k = g - base[blockOf[g]!]!;
    const from = b.rowOffsets[k]!;
    const to = b.rowOffsets[k + 1]!;
    const o = b.rowStart[k]! - lo;
    for (let j = from; j < to; j++) counts[o + j - from]! += b.rowCounts[j]!;
  }
  let area = 0;
  for (let y = 0; y < counts.length; y++) if (counts[y]) area += counts[y]! * rowAreaM2(lo + y);
  return area;
}

/**
 * Step 3: a block's classes after the minimum mapping unit: its components wholly inside the block are removed
 * when smaller than the minimum area, its edge components as `removeEdge` (the merge's verdict for this block)
 * says. Needs the same classes, window and options `summarizeBlock` had. The input is not modified.
 */
export function filterBlock(classes: Uint8Array, win: Window, removeEdge: Uint8Array, mmu: BlockMinArea): FilteredBlock {
  const replaceWith = checkOptions(mmu);
  const { c, areas, edgeOf, edgeCount } = labelBlock(classes, win, mmu);
  if (removeEdge.length !== edgeCount) {
    throw new RangeError(`block at (${win.x},${win.y}) has ${edgeCount} edge components, the verdict has ${removeEdge.length}`);
  }
  const remove = new Uint8Array(c.count + 1);
  let removedInteriorComponents = 0;
  let removedPixels = 0;
  let removedByPixelCount = 0;
  for (let l = 1; l <= c.count; l++) {
    const k = edgeOf[l]! - 1;
    const why = k >= 0 ? removeEdge[k]!
      : mmu.minPixels !== undefined && c.sizes[l]! < mmu.minPixels ? 2 : areas[l]! < mmu.minAreaM2 ? 1 : 0;
    if (!why) continue;
    remove[l] = 1;
    removedPixels += c.sizes[l]!;
    if (why === 2) removedByPixelCount += c.sizes[l]!;
    if (k < 0) removedInteriorComponents++;
  }
  const out = classes.slice();
  if (removedPixels > 0) for (let i = 0; i < out.length; i++) if (remove[c.labels[i]!]) out[i] = replaceWith;
  return { classes: out, removedPixels, removedInteriorComponents, removedByPixelCount };
}
