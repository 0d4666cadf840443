/**
 * Connected components of a uint8 class raster, and the minimum mapping unit built on them. Pure module.
 *
 * A component is a maximal set of pixels with the SAME class value, connected through their 4 edge neighbours
 * (connectivity 4) or also through their 4 corner neighbours (connectivity 8). Background values (by default
 * 0 = no change and 255 = nodata) never belong to a component. The minimum mapping unit can also measure patches
 * of several classes together (`PatchGroups`): it labels the classes' group keys instead of the classes.
 *
 * Labelling is the classic two-pass union-find (Rosenfeld & Pfaltz): no recursion, no explicit flood-fill
 * stack, linear time; memory is one Int32 label per pixel plus one parent entry per provisional label.
 */

export type Connectivity = 4 | 8;

/** Class values that are not part of any component: one value, or several. */
export type BackgroundValues = number | Iterable<number>;

/** Default background: 0 (no change) and 255 (nodata). */
export const DEFAULT_BACKGROUND: readonly number[] = [0, 255];

export interface LabelOptions {
  /** 8 (default) joins pixels that touch only at a corner; 4 only joins pixels sharing an edge. */
  connectivity?: Connectivity;
  /** Class values that are never labelled (default 0 and 255). */
  background?: BackgroundValues;
}

export interface Components {
  /** Per pixel, row-major: 0 for background, else the component label 1..count (numbered in raster order). */
  labels: Int32Array;
  count: number;
  /** `sizes[label]` = pixel count of the component (`sizes[0]` = number of background pixels). */
  sizes: Int32Array;
  /** `classOf[label]` = the class value of the component's pixels (`classOf[0]` = 0). */
  classOf: Uint8Array;
}

/** A 256-entry lookup table: 1 where the class value is background. */
export function backgroundTable(background: BackgroundValues = DEFAULT_BACKGROUND): Uint8Array {
  const table = new Uint8Array(256);
  const values = typeof background === 'number' ? [background] : background;
  for (const v of values) {
    if (!Number.isInteger(v) || v < 0 || v > 255) throw new RangeError(`background value ${v} is not a uint8 class value`);
    table[v] = 1;
  }
  return table;
}

function checkShape(classes: Uint8Array, width: number, height: number): void {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 0 || height < 0) {
    throw new RangeError(`raster size must be non-negative integers, got ${width}x${height}`);
  }
  if (classes.length !== width * height) {
    throw new RangeError(`class raster has ${classes.length} pixels, expected ${width}x${height} = ${width * height}`);
  }
}

/**
 * Label the connected components of `classes` (row-major, `width` x `height`).
 * Components are numbered 1..count in the order their first pixel appears in raster order.
 */
export function labelComponents(classes: Uint8Array, width: number, height: number, opts: LabelOptions = {}): Components {
  checkShape(classes, width, height);
  const eight = (opts.connectivity ?? 8) === 8;
  if (opts.connectivity !== undefined && opts.connectivity !== 4 && opts.connectivity !== 8) {
    throw new RangeError(`connectivity must be 4 or 8, got ${String(opts.connectivity)}`);
  }
  const bg = backgroundTable(opts.background);
  const n = width * height;
  const labels = new Int32Array(n);
  let parent = new Int32Array(Math.min(n + 1, 1 << 16));
  let next = 1;

  const find = (a: number): number => {
    while (parent[a] !== a) {
      const p = parent[a]!;
      parent[a] = parent[p]!; // path halving
      a = p;
    }
    return a;
  };
  const union = (a: number, b: number): number => {
    let ra = find(a);
    let rb = find(b);
    if (ra === rb) return ra;
    if (ra > rb) [ra, rb] = [rb, ra];
    parent[rb] = ra; // the root is always the smallest label of its set
    return ra;
  };

  // Pass 1: provisional labels, recording equivalences.
  for (let y = 0; y < height; y++) {
    const row = y * width;
    for (let x = 0; x < width; x++) {
      const i = row + x;
      const v = classes[i]!;
      if (bg[v]) continue;
      let l = 0;
      if (x > 0 && classes[i - 1] === v) l = labels[i - 1]!;
      if (y > 0) {
        const up = i - width;
        if (classes[up] === v) l = l ? union(l, labels[up]!) : labels[up]!;
        if (eight) {
          if (x > 0 && classes[up - 1] === v) l = l ? union(l, labels[up - 1]!) : labels[up - 1]!;
          if (x + 1 < width && classes[up + 1] === v) l = l ? union(l, labels[up + 1]!) : labels[up + 1]!;
        }
      }
      if (!l) {
        if (next >= parent.length) {
          const grown = new Int32Array(Math.min(n + 1, parent.length * 2));
          grown.set(parent);
          parent = grown;
        }
        l = next++;
        parent[l] = l;
      }
      labels[i] = l;
    }
  }

  // Pass 2: final consecutive labels (roots are the smallest provisional label, so numbering follows raster order).
  const final = new Int32Array(next);
  let count = 0;
  for (let l = 1; l < next; l++) final[l] = parent[l] === l ? ++count : final[find(l)]!;
  const sizes = new Int32Array(count + 1);
  const classOf = new Uint8Array(count + 1);
  for (let i = 0; i < n; i++) {
    const l = labels[i]!;
    if (l === 0) {
      sizes[0]!++;
      continue;
    }
    const f = final[l]!;
    labels[i] = f;
    sizes[f]!++;
    classOf[f] = classes[i]!;
  }
  return { labels, count, sizes, classOf };
}

/**
 * Ground area of every component: `areas[label]` = sum over its pixels of `rowAreaM2(row)` (square metres).
 * Use `(row) => pixelAreaM2(grid, row)` from grid.ts, which is exact for geographic grids too.
 */
export function componentAreas(c: Components, width: number, height: number, rowAreaM2: (row: number) => number): Float64Array {
  const areas = new Float64Array(c.count + 1);
  const perRow = new Int32Array(c.count + 1);
  for (let y = 0; y < height; y++) {
    const a = rowAreaM2(y);
    const row = y * width;
    // Count per row first so that the area is added once per (component, row), not once per pixel.
    const touched: number[] = [];
    for (let x = 0; x < width; x++) {
      const l = c.labels[row + x]!;
      if (l === 0) continue;
      if (perRow[l] === 0) touched.push(l);
      perRow[l]!++;
    }
    for (const l of touched) {
      areas[l]! += perRow[l]! * a;
      perRow[l] = 0;
    }
  }
  return areas;
}

/**
 * Patch groups of a minimum mapping unit: `groups[v]` is the key of class value `v`, and pixels whose keys are equal
 * belong to one patch even when their classes differ (e.g. the four burn-severity classes of a scar form one patch).
 * Build it with `patchGroupTable`. Without groups every class value is its own patch key (the classic filter).
 */
export type PatchGroups = Uint8Array;

/**
 * A 256-entry patch-key table from lists of class values that form one patch together: every value of a list maps
 * to the list's smallest value, every other value to itself. Lists must not share a value, and a list must not mix
 * background with other values (background never belongs to a patch).
 */
export function patchGroupTable(groups: readonly (readonly number[])[], background: BackgroundValues = DEFAULT_BACKGROUND): PatchGroups {
  const bg = backgroundTable(background);
  const table = new Uint8Array(256);
  for (let v = 0; v < 256; v++) table[v] = v;
  const seen = new Uint8Array(256);
  for (const g of groups) {
    if (g.length === 0) continue;
    for (const v of g) {
      if (!Number.isInteger(v) || v < 0 || v > 255) throw new RangeError(`patch group value ${v} is not a uint8 class value`);
      if (seen[v]) throw new RangeError(`class value ${v} is in two patch groups`);
      if (bg[v]) throw new RangeError(`class value ${v} is background and cannot be part of a patch group`);
      seen[v] = 1;
    }
    const key = Math.min(...g);
    for (const v of g) table[v] = key;
  }
  return table;
}

/** `classes` with every value replaced by its patch key (a new array), or `classes` itself without groups. */
export function patchKeys(classes: Uint8Array, groups: PatchGroups | undefined): Uint8Array {
  if (!groups) return classes;
  if (groups.length !== 256) throw new RangeError(`patch groups must be a 256-entry table, got ${groups.length} entries`);
  const out = new Uint8Array(classes.length);
  for (let i = 0; i < classes.length; i++) out[i] = groups[classes[i]!]!;
  return out;
}

export interface MinimumMappingUnit {
  /** Components smaller than this many pixels are removed. */
  minPixels?: number;
  /** Components whose ground area is smaller than this (m²) are removed; needs `rowAreaM2`. */
  minAreaM2?: number;
  /** Area of one pixel in row `row` (m²), e.g. `(r) => pixelAreaM2(grid, r)`. */
  rowAreaM2?: (row: number) => number;
  /** Class value written into removed pixels (default 0 = no change). */
  replaceWith?: number;
  connectivity?: Connectivity;
  background?: BackgroundValues;
  /**
   * Classes that form one patch together (`patchGroupTable`): a patch is measured on the union of its group's
   * classes, and when it is removed all its pixels go, whatever their class; when it is kept none does. Without
   * it each class value is measured on its own.
   */
  groups?: PatchGroups;
}

export interface MinimumMappingUnitResult {
  /** A new class raster; the input is not modified. */
  classes: Uint8Array;
  removedComponents: number;
  removedPixels: number;
  /** Components left after the filter. */
  keptComponents: number;
}

/**
 * The minimum mapping unit (`--min-area HECTARES`): every component smaller than `minPixels` pixels, or smaller
 * than `minAreaM2` square metres of ground, becomes `replaceWith` (default 0, "no change"). Background pixels
 * (0 and 255 by default) are never touched, so the filter can only remove change, never add it. With `groups`,
 * components are connected pixels of one patch group (a small high-severity island inside a burn scar belongs to
 * the scar's patch and stays).
 */
export function removeSmallComponents(classes: Uint8Array, width: number, height: number,
  mmu: MinimumMappingUnit): MinimumMappingUnitResult {
  const replaceWith = mmu.replaceWith ?? 0;
  if (!Number.isInteger(replaceWith) || replaceWith < 0 || replaceWith > 255) {
    throw new RangeError(`replaceWith must be a uint8 class value, got ${replaceWith}`);
  }
  if (mmu.minAreaM2 !== undefined && !mmu.rowAreaM2) {
    throw new RangeError('minAreaM2 needs rowAreaM2 (the area of a pixel per row), e.g. (r) => pixelAreaM2(grid, r)');
  }
  const keys = patchKeys(classes, mmu.groups);
  const c = labelComponents(keys, width, height, { connectivity: mmu.connectivity, background: mmu.background });
  const remove = new Uint8Array(c.count + 1);
  const areas = mmu.minAreaM2 !== undefined ? componentAreas(c, width, height, mmu.rowAreaM2!) : undefined;
  let removedComponents = 0;
  let removedPixels = 0;
  for (let l = 1; l <= c.count; l++) {
    const small = (mmu.minPixels !== undefined && c.sizes[l]! < mmu.minPixels)
      || (areas !== undefined && areas[l]! < mmu.minAreaM2!);
    if (small) {
      remove[l] = 1;
      removedComponents++;
      removedPixels += c.sizes[l]!;
    }
  }
  const out = classes.slice();
  if (removedComponents > 0) {
    for (let i = 0; i < out.length; i++) if (remove[c.labels[i]!]) out[i] = replaceWith;
  }
  return { classes: out, removedComponents, removedPixels, keptComponents: c.count - removedComponents };
}
