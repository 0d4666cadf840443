/**
 * Exact pixel-edge polygons of a uint8 class raster, like GDAL's `gdal_polygonize` (not marching squares). Pure.
 *
 * Every connected region of one class value (see components.ts) becomes one polygon whose rings run along pixel
 * edges, in PIXEL coordinates: vertex (x, y) is the corner at column x, row y (row axis pointing down).
 * Rings are closed (last vertex = first), carry no collinear vertices, and are oriented for a north-up map:
 * outer rings are counter-clockwise and holes clockwise as seen on screen / on the map, which is a NEGATIVE
 * shoelace area in (col, row) for outer rings and a positive one for holes. A transform with a positive
 * pixel height (south-up) flips this; geojson.ts handles that.
 *
 * The corner case. Two pixels of one region that touch only at a corner (8-connectivity, or a 4-connected region
 * that curls back onto itself) make the boundary visit that vertex twice. GDAL keeps such a ring as one
 * self-touching ring, which OGC Simple Features calls invalid. Here every ring is SIMPLE (no vertex visited twice):
 * a boundary that would touch itself is split at the touching vertex. So
 * - a region pinched at a corner (e.g. a diagonal pair) becomes several outer rings: a MultiPolygon whose parts
 *   touch at a vertex (valid);
 * - a hole that touches the outer boundary, or another hole, at a vertex stays a separate hole ring (valid).
 * Each region is still ONE feature, so feature counts match `gdal_polygonize` with the same connectivity.
 *
 * Cost: one labelling pass (linear), one scan of the raster, and a walk of each boundary edge exactly once.
 */
import { backgroundTable, labelComponents, componentAreas, DEFAULT_BACKGROUND,
  type BackgroundValues, type Connectivity } from './components.js';

/** A closed ring as flat pixel-corner coordinates `[x0, y0, x1, y1, ..., x0, y0]`. */
export type PixelRing = Int32Array;

export interface PixelPolygonPart {
  outer: PixelRing;
  holes: PixelRing[];
}

/** One connected region of one class. `parts` has more than one entry only for regions pinched at a corner. */
export interface PixelPolygon {
  /** Component label (1-based, raster order of the region's first pixel). */
  label: number;
  /** The class value of the region. */
  value: number;
  pixels: number;
  /** Ground area in m² (only when `rowAreaM2` was given). */
  areaM2?: number;
  parts: PixelPolygonPart[];
}

export interface PolygonizeOptions {
  /** 8 (default, like `gdal_polygonize -8`) or 4 (GDAL's default). */
  connectivity?: Connectivity;
  /** Class values that get no polygon (default 0 = no change and 255 = nodata). */
  skip?: BackgroundValues;
  /** Keep only this many regions, the largest (by area if `rowAreaM2` is given, else by pixels). */
  maxPolygons?: number;
  /** Area of one pixel of row `row` in m², e.g. `(r) => pixelAreaM2(grid, r)`; fills `areaM2`. */
  rowAreaM2?: (row: number) => number;
}

export interface PolygonizeResult {
  /** Polygons in raster order of their regions' first pixel. */
  polygons: PixelPolygon[];
  /** Number of regions before the `maxPolygons` cap. */
  regions: number;
  droppedRegions: number;
  droppedPixels: number;
  /** Only when `rowAreaM2` was given. */
  droppedAreaM2?: number;
}

// Directions: 0 = east (+x), 1 = south (+y), 2 = west (-x), 3 = north (-y). Right turn = +1.
const DX = [1, 0, -1, 0] as const;
const DY = [0, 1, 0, -1] as const;

/**
 * Polygonize a class raster (row-major `width` x `height`). See the module comment for the ring conventions.
 */
export function polygonize(classes: Uint8Array, width: number, height: number, opts: PolygonizeOptions = {}): PolygonizeResult {
  const skip = opts.skip ?? DEFAULT_BACKGROUND;
  backgroundTable(skip); // validates
  const comps = labelComponents(classes, width, height, { connectivity: opts.connectivity, background: skip });
  const { count, sizes, classOf } = comps;
  const areas = opts.rowAreaM2 ? componentAreas(comps, width, height, opts.rowAreaM2) : undefined;
  let labels: Int32Array | null = comps.labels;
  comps.labels = new Int32Array(0); // drop the reference held by comps so that `labels = null` below frees it

  // Which regions to trace.
  const keep = new Uint8Array(count + 1);
  let droppedRegions = 0;
  let droppedPixels = 0;
  let droppedAreaM2 = 0;
  const max = opts.maxPolygons;
  if (max !== undefined && (!Number.isInteger(max) || max < 0)) throw new RangeError(`maxPolygons must be a non-negative integer, got ${max}`);
  if (max === undefined || count <= max) {
    keep.fill(1, 1);
  } else {
    const order = Array.from({ length: count }, (_, i) => i + 1);
    const weight = (l: number): number => (areas ? areas[l]! : sizes[l]!);
    order.sort((a, b) => weight(b) - weight(a) || a - b);
    for (let k = 0; k < order.length; k++) {
      const l = order[k]!;
      if (k < max) keep[l] = 1;
      else {
        droppedRegions++;
        droppedPixels += sizes[l]!;
        if (areas) droppedAreaM2 += areas[l]!;
      }
    }
  }

  const outers = new Map<number, number[][]>();
  const holes = new Map<number, number[][]>();
  const visitedTop = new Uint8Array(width * height);
  const inRegion = (x: number, y: number, l: number): boolean =>
    x >= 0 && y >= 0 && x < width && y < height && labels![y * width + x] === l;

  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      const l = labels![i]!;
      if (l === 0 || !keep[l] || visitedTop[i]) continue;
      if (y > 0 && labels![i - width] === l) continue; // not a boundary edge
      const { pts, pinched } = traceRing(x, y, l);
      for (const loop of pinched ? splitAtRepeats(pts, width) : [pts]) {
        const target = signedArea2(loop) > 0 ? outers : holes;
        let list = target.get(l);
        if (!list) target.set(l, (list = []));
        list.push(loop);
      }
    }
  }

  /** Walk the boundary with region `l` on the right (screen clockwise for outer rings), from the top edge of (sx, sy). */
  function traceRing(sx: number, sy: number, l: number): { pts: number[]; pinched: boolean } {
    const pts = [sx, sy];
    let pinched = false;
    let x = sx;
    let y = sy;
    let d = 0;
    for (;;) {
      if (d === 0) visitedTop[y * width + x] = 1;
      x += DX[d]!;
      y += DY[d]!;
      // The two pixels ahead of vertex (x, y): front-left and front-right relative to direction d.
      let fl: boolean;
      let fr: boolean;
      if (d === 0) { fl = inRegion(x, y - 1, l); fr = inRegion(x, y, l); }
      else if (d === 1) { fl = inRegion(x, y, l); fr = inRegion(x - 1, y, l); }
      else if (d === 2) { fl = inRegion(x - 1, y, l); fr = inRegion(x - 1, y - 1, l); }
      else { fl = inRegion(x - 1, y - 1, l); fr = inRegion(x, y - 1, l); }
      let nd: number;
      if (fr) nd = fl ? (d + 3) & 3 : d; // left turn, or straight on
      else {
        nd = (d + 1) & 3; // right turn, hugging the pixel behind
        if (fl) pinched = true; // regions touch diagonally here: the ring may visit this vertex twice
      }
      if (x === sx && y === sy && nd === 0) break;
      if (nd !== d) pts.push(x, y);
      d = nd;
    }
    return { pts, pinched };
  }

  // Assign holes to outer rings. A region's parts are its 4-connected pieces (pixels touching only at a corner do
  // not share interior), each with exactly one outer ring; so when a region has several outer rings, the
  // 4-connected label of the pixel next to a ring's first edge tells which part the ring belongs to.
  labels = null; // the 8-connected labels are no longer needed: free them before a second labelling
  let needPieces = false;
  for (const [l, outs] of outers) if (outs.length > 1 && holes.has(l)) needPieces = true;
  const pieces = needPieces
    ? labelComponents(classes, width, height, { connectivity: 4, background: skip }).labels
    : undefined;
  const samplePixel = (r: number[]): number => {
    // The region's pixel on the right of the first edge (the walk keeps the region on its right).
    const dx = Math.sign(r[2]! - r[0]!);
    const dy = Math.sign(r[3]! - r[1]!);
    const px = r[0]! + (dx - dy - 1) / 2;
    const py = r[1]! + (dy + dx - 1) / 2;
    return py * width + px;
  };

  const polygons: PixelPolygon[] = [];
  for (let l = 1; l <= count; l++) {
    if (!keep[l]) continue;
    const outs = outers.get(l) ?? [];
    const hs = holes.get(l) ?? [];
    const parts: PixelPolygonPart[] = outs.map((o) => ({ outer: closeReversed(o), holes: [] }));
    const partOfPiece = new Map<number, number>();
    if (outs.length > 1 && hs.length > 0) outs.forEach((o, k) => partOfPiece.set(pieces![samplePixel(o)]!, k));
    for (const h of hs) {
      const k = outs.length > 1 ? partOfPiece.get(pieces![samplePixel(h)]!) : 0;
      if (k === undefined) throw new Error(`polygonize: internal error, hole of region ${l} matches no outer ring`);
      parts[k]!.holes.push(closeReversed(h));
    }
    const poly: PixelPolygon = { label: l, value: classOf[l]!, pixels: sizes[l]!, parts };
    if (areas) poly.areaM2 = areas[l]!;
    polygons.push(poly);
  }
  const result: PolygonizeResult = { polygons, regions: count, droppedRegions, droppedPixels };
  if (areas) result.droppedAreaM2 = droppedAreaM2;
  return result;
}

/** Split a cyclic vertex list that visits some vertices twice into simple loops. */
function splitAtRepeats(pts: number[], width: number): number[][] {
  const loops: number[][] = [];
  const stack: number[] = [];
  const pos = new Map<number, number>();
  const stride = width + 1;
  for (let i = 0; i < pts.length; i += 2) {
    const key = pts[i + 1]! * stride + pts[i]!;
    const j = pos.get(key);
    if (j === undefined) {
      pos.set(key, stack.length);
      stack.push(pts[i]!, pts[i + 1]!);
      continue;
    }
    loops.push(stack.slice(j));
    for (let k = j + 2; k < stack.length; k += 2) pos.delete(stack[k + 1]! * stride + stack[k]!);
    stack.length = j + 2;
  }
  loops.push(stack);
  return loops;
}

/** Twice the shoelace area of an open flat ring, in (col, row) coordinates. */
function signedArea2(r: ArrayLike<number>): number {
  let s = 0;
  const n = r.length;
  for (let i = 0; i < n; i += 2) {
    const j = (i + 2) % n;
    s += r[i]! * r[j + 1]! - r[j]! * r[i + 1]!;
  }
  return s;
}

/** Reverse the vertex order (to the north-up map orientation) and close the ring. */
function closeReversed(r: number[]): PixelRing {
  const n = r.length / 2;
  const out = new Int32Array(r.length + 2);
  // Keep the first vertex first: v0, v(n-1), ..., v1, v0.
  out[0] = r[0]!;
  out[1] = r[1]!;
  for (let k = 1; k < n; k++) {
    out[2 * k] = r[2 * (n - k)]!;
    out[2 * k + 1] = r[2 * (n - k) + 1]!;
  }
  out[2 * n] = r[0]!;
  out[2 * n + 1] = r[1]!;
  return out;
}

/** Signed shoelace area of a closed flat ring (pixel units; negative for outer rings in this module's convention). */
export function ringArea(ring: PixelRing | ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i + 3 < ring.length; i += 2) s += ring[i]! * ring[i + 3]! - ring[i + 2]! * ring[i + 1]!;
  return s / 2;
}
