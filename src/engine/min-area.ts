/**
 * `--min-area` (minimum mapping unit) in the block engine, with exactly the result of the whole-array path's
 * `removeSmallComponents` (see `src/raster/block-components.ts` for why the decisions are identical):
 *
 * - classify pass (worker): a block's classes are not encoded yet; the worker labels them, returns the block's
 *   edge components and keeps the class tile deflated (class maps are mostly 0 and deflate many times over: on the
 *   10980² benchmark pair, holding all of them raised the run's peak RSS by about 27 MB, not the raw 121 MB);
 * - main thread: `MinAreaMerge` joins the edge components of all blocks and decides keep/remove;
 * - filter pass (worker): each block's classes are inflated, filtered and encoded (tile, overview piece, quicklook
 *   classes, class areas) as the classify pass would have.
 */
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { minAreaGroups } from '../change/presets/common.js';
import { getPreset } from '../change/presets/index.js';
import { NODATA_CLASS } from '../change/presets/types.js';
import { reduceBand } from '../io/cog-writer.js';
import { filterBlock, mergeBlockEdges, summarizeBlock, type BlockEdges, type BlockMinArea } from '../raster/block-components.js';
import { patchGroupTable } from '../raster/components.js';
import { accumulateClassAreas } from '../raster/class-areas.js';
import { pixelAreaM2, type Grid, type Window } from '../raster/grid.js';
import { reduceForQuicklook, type BlockResult, type EngineConfig, type EngineContext, type EngineTask } from './block-task.js';
import type { Block } from './plan.js';
import type { TaskRunner } from './pool.js';

/**
 * The minimum mapping unit exactly as `detect()` applies it: components of one patch group of the preset
 * (`minAreaGroups`), 8-connected (the `labelComponents` default), 0 (no change) and 255 (nodata) never part of
 * one, removed pixels become 0.
 */
export function engineMinArea(target: Grid, minAreaM2: number, preset: string, minPixels?: number | null): BlockMinArea {
  return {
    minAreaM2, rowAreaM2: (row) => pixelAreaM2(target, row), background: [0, NODATA_CLASS], replaceWith: 0,
    groups: patchGroupTable(minAreaGroups(getPreset(preset)), [0, NODATA_CLASS]),
    ...(minPixels ? { minPixels } : {}),
  };
}

/** Whether a run has a merge pass: `--min-area`, or the learned urban model's minimum object size. */
export function hasMinArea(config: Pick<EngineConfig, 'minAreaM2' | 'minPixels'>): boolean {
  return Boolean(config.minAreaM2 || config.minPixels);
}

/** A block's classes held back by the classify pass: the deflated class tile and its edge components. */
export interface DeferredClasses {
  packed: Uint8Array;
  edges: BlockEdges;
}

/** The filter pass of one block: its deferred class tile and the merge's verdict on its edge components. */
export interface MinAreaTask {
  kind: 'min-area';
  row: number;
  col: number;
  window: Window;
  packed: Uint8Array;
  removeEdge: Uint8Array;
}

/** Classify pass (worker): defer a block's classes to the filter pass. */
export function deferClasses(classes: Uint8Array, win: Window, config: EngineConfig): DeferredClasses {
  const mmu = engineMinArea(config.target, config.minAreaM2 ?? 0, config.preset, config.minPixels);
  return { packed: deflateRawSync(classes, { level: 1 }), edges: summarizeBlock(classes, win, mmu) };
}

/**
 * Filter pass (worker): the block's classes after the minimum mapping unit, encoded as the classify pass encodes
 * them; also their class areas, overview piece, quicklook classes and the pixels removed. The rest of the result
 * (product, masks, radiometry) came with the classify pass and is empty here.
 */
export function runMinAreaTask(ctx: EngineContext, t: MinAreaTask): BlockResult {
  const { config } = ctx;
  const { target } = config;
  const win = t.window;
  if (!hasMinArea(config)) throw new Error('internal: min-area task in a run without --min-area');
  const raw = inflateRawSync(t.packed);
  const stored = new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength); // a plain view: slice() copies
  const { classes, removedPixels, removedByPixelCount } = filterBlock(stored, win, t.removeEdge,
    engineMinArea(target, config.minAreaM2 ?? 0, config.preset, config.minPixels));
  const classPixels = new Float64Array(256);
  const classM2 = new Float64Array(256);
  accumulateClassAreas(classes, win.width, win.height, target, win.y, classPixels, classM2);
  return {
    kind: 'block', row: t.row, col: t.col,
    classBytes: ctx.encodeClasses(0, t.row, t.col, [classes]), productBytes: null,
    classPiece: config.overviews ? reduceBand(classes, win.width, win.height, 'nearest', null) : null, productPiece: null,
    classPixels, classM2, nodata: 0, cloud: 0, radiometry: {}, histogram: null, valuesRead: 0,
    quicklook: config.quicklook ? reduceForQuicklook([], classes, win, target.width, target.height, config.quicklook.factor) : null,
    removedPixels: removedPixels - removedByPixelCount, // what --min-area removed (the model's own filter aside)
  };
}

/**
 * Main thread: collects the blocks' deferred classes during the classify pass, merges their edge components, then
 * runs each block's filter pass. Holds the deflated class tiles and the edge components, nothing per pixel.
 */
export class MinAreaMerge {
  private readonly packed = new Map<number, Uint8Array>();
  private edges: Map<number, BlockEdges> | null = new Map();
  private verdict: Map<number, Uint8Array> | null = null;
  /** Pixels the filter pass removed so far (all of them once every block has been filtered). */
  pixelsRemoved = 0;

  constructor(private readonly target: Grid, private readonly minAreaM2: number, private readonly preset: string,
    private readonly minPixels?: number | null) {}

  /** A classify-pass result's deferred classes. */
  add(block: Block, d: DeferredClasses): void {
    if (!this.edges) throw new Error('internal: block deferred after the min-area merge');
    this.packed.set(block.index, d.packed);
    this.edges.set(block.index, d.edges);
  }

  /** Join the edge components of all blocks and decide which to remove (after the classify pass). */
  merge(blocks: readonly Block[]): void {
    const edges = blocks.map((b) => {
      const e = this.edges?.get(b.index);
      if (!e) throw new Error(`internal: block ${b.row},${b.col} has no deferred classes`);
      return e;
    });
    const decision = mergeBlockEdges(edges, engineMinArea(this.target, this.minAreaM2, this.preset, this.minPixels));
    this.verdict = new Map(blocks.map((b, i) => [b.index, decision.remove[i]!]));
    this.edges = null;
  }

  /** Run a block's filter pass; its deflated classes are released. */
  async filter(runner: TaskRunner, block: Block): Promise<BlockResult> {
    const packed = this.packed.get(block.index);
    const removeEdge = this.verdict?.get(block.index);
    if (!packed || !removeEdge) throw new Error(`internal: block ${block.row},${block.col} is not ready for the min-area pass`);
    this.packed.delete(block.index);
    this.verdict!.delete(block.index);
    const task: EngineTask = { kind: 'min-area', row: block.row, col: block.col, window: block.window, packed, removeEdge };
    const r = await runner.run(task) as BlockResult;
    this.pixelsRemoved += r.removedPixels ?? 0;
    return r;
  }
}
