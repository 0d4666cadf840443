/**
 * `detectBlocks`: the streaming path of `detect` for whole tiles. The target grid is cut into output blocks
 * aligned with the output COG tiles; workers read only the input tiles each block needs, run the preset's own
 * per-pixel rules and encode the block's tiles; the main thread spools them to the COGs, assembles overview tiles
 * from 2x-reduced pieces, and adds up areas. Scene-wide statistics (Otsu) come from a first streaming pass over a
 * mergeable histogram; the generic and urban presets gather theirs (data-range Otsu, the IR-MAD sample, PCA block
 * covariances and the PCA-k-means sample) in the passes of `multivariate-blocks.ts`, then classify with the fitted
 * model. Peak memory is bounded by the blocks in flight, not by the scene size.
 */
import { unlink } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { UsageError } from '../errors.js';
import type { BandName } from '../indices/bands.js';
import { Histogram } from '../change/histogram.js';
import { mergeIndexHistograms } from '../change/index-histogram.js';
import { getPreset } from '../change/presets/index.js';
import type { ChangeMethod, Preset, ThresholdUsed } from '../change/presets/types.js';
import { boundsToWindow, gridBounds, sameCrs, type Grid } from '../raster/grid.js';
import { cogLevels, createSpoolingCogWriter, type CogHeader, type CogLevel, type CogOptions, type SpoolingCogWriter } from '../io/cog-writer.js';
import { openScene, type LayerName, type Scene, type SceneOptions } from '../io/scene.js';
import { checkValidShare, describeInput, planGrid, preflightDecode, quicklookLayers, sameSceneWarning, type ClassArea, type DetectOptions, type DetectResult } from '../pipeline/detect.js';
import {
  describeCoregistration, estimateCoregistration, groundShiftOf, skippedCoregistration, type CoregistrationReport,
} from '../pipeline/coregistration.js';
import type { BlockResult, EngineConfig, HashResult, OtsuPlan, OverviewRgbResult, QuicklookPiece, QuicklookPlan, SceneSpec, TileResult } from './block-task.js';
import { QUICKLOOK_MAX_SIZE, quicklookSize } from '../report/quicklook.js';
import { rgbOverviews } from './quicklook-rgb.js';
import { planBlocks } from './plan.js';
import { createTaskRunner, tuneMalloc, type TaskRunner } from './pool.js';
import { release } from '../io/release.js';
import { hasMinArea, MinAreaMerge } from './min-area.js';
import { gatherSceneWide, planSceneWide, SCENE_WIDE_PRESETS, sceneWideRefusal, type ScenePasses } from './multivariate-blocks.js';
import { ProgressReporter } from './progress.js';

/**
 * Presets the block engine can stream: their class of a pixel depends only on that pixel and a scene-wide
 * threshold. `otsu` gives the fixed histogram range of the streamed Otsu pass (null: Otsu not streamable).
 * generic and urban are streamed too, by `multivariate-blocks.ts` (SCENE_WIDE_PRESETS).
 */
export const STREAMABLE_PRESETS: Readonly<Record<string, { otsu: OtsuPlan | null }>> = {
  vegetation: { otsu: { min: 0, max: 2, bins: 1024, abs: true } },
  wildfire: { otsu: { min: -2, max: 2, bins: 1024, abs: false } },
  water: { otsu: { min: -1, max: 1, bins: 1024, abs: false } },
  flood: { otsu: null },
};

export interface BlockDetectOptions extends DetectOptions {
  /** Where change.tif goes (e.g. an OutputDir temp path). */
  classesPath: string;
  /** Where the float product goes; null/undefined skips it (`--no-float`, floats dominate write time). */
  productPath?: string | null;
  /**
   * Output block = COG tile size, a multiple of 16. Default: the inputs' tile size when their tiles line up with the
   * target grid (each input tile then read once; see `alignedInputTile`), else 512.
   */
  blockSize?: number;
  /** Worker threads (default: one per core; 0 = run in this thread). */
  threads?: number;
  /** Blocks in flight at once (default 2 x threads + 2 for 512² blocks, fewer for larger ones): bounds memory. */
  maxInFlight?: number;
  /** Progress lines on stderr for runs over a second (default true). */
  progress?: boolean;
  /** Extra COG options for change.tif (colormap, metadata, level...) and the product. */
  classesCog?: Omit<CogOptions, 'blockSize' | 'nodata'>;
  productCog?: Omit<CogOptions, 'blockSize' | 'nodata'>;
  /**
   * Also reduce RGB, the product and the classes for PNG quicklooks of at most `maxSize` px (default 2048) on the
   * long side, by the integer factor `quicklookSize` gives for the whole grid. A date's RGB is read from its inputs'
   * COG overviews instead when every RGB band has one no coarser than a quicklook cell, unless `overviews` is false.
   */
  quicklook?: { maxSize?: number; overviews?: boolean } | null;
  /**
   * Work to overlap with the last writes (the COGs are assembled from their spools then): called once every block
   * is done, with the finished quicklook arrays and the preset's product (written or not), e.g. to encode the PNGs.
   */
  whileFinishing?: (quicklook: BlockQuicklook | null, product: { name: string; description: string } | null) => Promise<void>;
  /**
   * Called once with the quicklook RGB of both dates (`width` x `height` cells) as soon as all of it is known: during
   * the classify pass when every date's RGB is read from overviews, else before `whileFinishing`. The RGB is then
   * not kept (the quicklook's `after` and `before` are null): e.g. draw the true-colour pictures. The arrays are
   * freed once the returned promise settles (detached: copy what you keep).
   */
  whenRgbReady?: (rgb: QuicklookRgb, width: number, height: number) => Promise<void>;
  /**
   * Make the COGs durable (flushed to disk) before resolving; the disk is then flushed while the blocks are computed
   * instead of at the end (`SpoolingCogOptions.sync`).
   */
  syncOutputs?: boolean;
}

/** Reduced arrays for the quicklooks (`factor` x `factor` cells of the target grid), assembled from the blocks. */
export interface BlockQuicklook {
  width: number;
  height: number;
  factor: number;
  /** `source` 'overviews': read from the inputs' overviews (`quicklook-rgb.ts`), else reduced from full resolution. */
  after: RgbLayers | null;
  before: RgbLayers | null;
  /** The first float product, NaN-aware mean per cell. */
  product: Float32Array | null;
  /** Class at each cell's centre pixel. */
  classes: Uint8Array;
}

export interface BlockDetectResult {
  preset: Preset;
  grid: Grid;
  bandsUsed: BandName[];
  method: ChangeMethod;
  thresholds: ThresholdUsed[];
  formula: string;
  notes: string[];
  areas: ClassArea[];
  validPixels: number;
  maskedPixels: { total: number; nodata: number; cloudShadowSnow: number; indexUndefined: number };
  warnings: string[];
  /** The written outputs, with the SHA-256 of their bytes computed while writing. */
  product: { name: string; description: string; path: string; bytes: number; sha256: string } | null;
  /** The preset's float product, written or not (the quicklook holds its reduced values either way). */
  productInfo: { name: string; description: string } | null;
  /** Counts of the product's index histogram over the valid pixels, merged from the blocks (null: no product). */
  indexHistogram: Float64Array | null;
  /** Geographic grids: the ground area (m²) per bin of that histogram, merged from the blocks. */
  indexHistogramM2: Float64Array | null;
  classes: { path: string; bytes: number; sha256: string };
  blocks: number;
  threads: number;
  seconds: number;
  /** Inputs as summary.json describes them (provenance, radiometry) and whether both are georeferenced. */
  inputs: DetectResult['inputs'];
  georeferenced: boolean;
  quicklook: BlockQuicklook | null;
  /** `--min-area` and the pixels it turned into no change, as the whole-array path reports it (null: none). */
  minMappingUnit: DetectResult['minMappingUnit'];
  /** The after date's shift onto the before date, estimated once on the main thread and applied in every block. */
  coregistration: CoregistrationReport;
}

/**
 * Why the block engine cannot run these options (a UsageError naming `--engine whole`), or null when it can.
 * The block engine streams presets whose class of a pixel depends only on that pixel (or its neighbourhood, for
 * PCA-k-means) and scene-wide statistics gathered in streaming passes; not the supervised random forest.
 */
export function blockEngineRefusal(opts: DetectOptions & { open?: unknown }): UsageError | null {
  const preset = getPreset(opts.preset);
  const streamable = STREAMABLE_PRESETS[preset.name];
  const sceneWide = SCENE_WIDE_PRESETS.includes(preset.name);
  if (!streamable && !sceneWide) {
    return new UsageError('preset not available in the block engine', {
      input: `--preset ${preset.name}`, expected: `${[...Object.keys(STREAMABLE_PRESETS), ...SCENE_WIDE_PRESETS].join(' | ')} for --engine blocks`,
      found: `${preset.name} (its classes need whole-scene clustering or statistics beyond a histogram)`,
      fix: 'Use --engine whole (or --engine auto) on a smaller area with --bbox',
    });
  }
  const method = opts.method ?? preset.defaultMethod;
  if (!preset.methods.includes(method)) {
    return new UsageError('method not available for this preset', { input: `--method ${method}`, expected: preset.methods.join(' | '), found: method });
  }
  const methodRefusal = sceneWide ? sceneWideRefusal(preset, method) : null;
  if (methodRefusal) return methodRefusal;
  if (method === 'otsu' && opts.threshold === undefined && streamable && !streamable.otsu) {
    return new UsageError('Otsu is not streamable for this preset', {
      input: `--preset ${preset.name} --method otsu`, expected: '--threshold VALUE or --method threshold with --engine blocks',
      found: 'a joint two-date Otsu threshold', fix: 'Pass --threshold, or use --engine whole with --bbox',
    });
  }
  if ([opts.before, opts.after].some((src) => src && /\.zip$|\.SAFE\/?$/i.test(src))) {
    return new UsageError('the block engine does not read SAFE products', {
      input: '--engine blocks', expected: 'GeoTIFF bands (each block reads only the tiles it needs)',
      found: 'a SAFE product, whose JPEG 2000 bands are decoded whole',
      fix: 'Use --engine whole (with --bbox for a full 10 m tile), or convert the bands: gdal_translate -co COMPRESS=DEFLATE -co TILED=YES <band.jp2> <band.tif>',
    });
  }
  if (opts.open || [opts.before, opts.after].some((src) => src && /^https?:\/\//i.test(src))) {
    return new UsageError('the block engine reads local files and plain URLs only', {
      input: '--engine blocks', expected: 'scenes given as paths', found: 'scenes found by STAC search or item URLs',
      fix: 'Use --engine whole with --bbox, or download the bands and pass their folder',
    });
  }
  return null;
}

/** Run a per-pixel preset block by block, streaming change.tif (and the float product) to disk. */
export async function detectBlocks(opts: BlockDetectOptions): Promise<BlockDetectResult> {
  const t0 = performance.now();
  if ((opts.threads ?? 1) > 0) tuneMalloc(); // before planning starts threads of its own
  const preset = getPreset(opts.preset);
  const log = opts.log ?? (() => {});
  const refusal = blockEngineRefusal(opts);
  if (refusal) throw refusal;
  const method = opts.method ?? preset.defaultMethod;
  const otsu = method === 'otsu' && opts.threshold === undefined ? STREAMABLE_PRESETS[preset.name]?.otsu ?? null : null;
  if (!preset.singleDate && !opts.before) {
    throw new UsageError('missing --before', { input: `--preset ${preset.name}`, expected: 'a before scene', found: 'only --after', fix: 'Pass --before SRC' });
  }

  // Plan on the main thread: the same band choice and target grid as the whole-array path.
  const afterSpec: SceneSpec = { src: opts.after, opts: { ...localSceneOptions(opts), bands: opts.afterBands ?? opts.bands, sclPath: opts.afterScl } };
  const beforeSpec: SceneSpec | null = opts.before && !preset.singleDate
    ? { src: opts.before, opts: { ...localSceneOptions(opts), bands: opts.beforeBands ?? opts.bands, sclPath: opts.beforeScl } } : null;
  const { target, bandsUsed, warnings, inputs, georeferenced, rgb, inputTile, coregistration } = await planTarget(preset, beforeSpec, afterSpec, opts, true,
    opts.quicklook ? { maxSize: opts.quicklook.maxSize ?? QUICKLOOK_MAX_SIZE, overviews: opts.quicklook.overviews ?? true } : null);
  log(`grid: ${target.width}x${target.height} px, EPSG:${target.crs.epsg}, pixel ${Math.abs(target.transform[1])}`);
  log(describeCoregistration(coregistration, target));
  // Every worker opens the after scene with its georeferencing corrected: each block's bands are then read with
  // their interpolation halo and resampled bilinearly onto the block, as the whole-array path reads the whole grid.
  const shift = groundShiftOf(coregistration, target);
  if (shift) afterSpec.opts = { ...afterSpec.opts, groundShift: shift };

  // Threshold metadata and product name from the preset itself, on one dummy pixel.
  const probe = (threshold: number | undefined) => {
    const one: Partial<Record<BandName, Float32Array>> = {};
    for (const b of bandsUsed) one[b] = new Float32Array([0.1]);
    return preset.run({ width: 1, height: 1, before: beforeSpec ? one : undefined, after: one, valid: new Uint8Array([1]),
      options: { ...opts, method: 'threshold', threshold } });
  };
  // generic / urban: planned, gathered and reported by multivariate-blocks.ts (their method, not 'threshold').
  const learned = method === 'learned' ? { urbanModel: opts.urbanModel, urbanModelSource: opts.urbanModelSource } : {};
  const sceneWide = planSceneWide(preset, { method, cvaBands: opts.cvaBands, threshold: opts.threshold, ...learned }, bandsUsed);
  const fixed = sceneWide ? null : probe(opts.threshold);
  const productInfo = sceneWide ? sceneWide.product : fixed!.products[0] ?? null;

  const blockSize = opts.blockSize ?? inputTile ?? 512;
  const levels = cogLevels(target.width, target.height, blockSize);
  const classesHeader: CogHeader = { strategy: 'rle', predictor: 1, ...opts.classesCog, grid: target, sampleType: 'uint8', bandCount: 1, nodata: 255, blockSize };
  const wantProduct = Boolean(opts.productPath && productInfo);
  const productHeader: CogHeader | null = wantProduct
    ? { strategy: 'rle', ...opts.productCog, grid: target, sampleType: 'float32', bandCount: 1, nodata: NaN, blockSize } : null;
  const minAreaHa = opts.minAreaHa && opts.minAreaHa > 0 ? opts.minAreaHa : null;
  const config: EngineConfig = {
    before: beforeSpec, after: afterSpec, preset: preset.name, bands: bandsUsed, options: { method, cvaBands: opts.cvaBands, ...learned },
    target, cloudBuffer: opts.cloudBuffer ?? 2, classesHeader, productHeader, overviews: levels.length > 1, otsu,
    quicklook: rgb.factor ? {
      factor: rgb.factor,
      afterRgb: rgb.after && !rgb.after.fromOverviews ? rgb.after.layers : null,
      beforeRgb: beforeSpec && rgb.before && !rgb.before.fromOverviews ? rgb.before.layers : null,
      afterOverviewRgb: rgb.after?.fromOverviews ? rgb.after.layers : null,
      beforeOverviewRgb: beforeSpec && rgb.before?.fromOverviews ? rgb.before.layers : null,
    } : null,
    minAreaM2: minAreaHa ? minAreaHa * 10_000 : null, // as detect() computes it
    // The learned model's minimum object size: merged across blocks in the min-area pass.
    minPixels: method === 'learned' && opts.urbanModel && opts.urbanModel.postFilter.minPixels > 1 ? opts.urbanModel.postFilter.minPixels : null,
  };
  const minArea = hasMinArea(config) ? new MinAreaMerge(target, config.minAreaM2 ?? 0, config.preset, config.minPixels) : null;
  const threads = opts.threads ?? availableParallelism();
  // Blocks in flight bound memory: 2 x threads + 2 of 512², fewer of larger blocks (3 of 1024² with 2 threads).
  const workers = Math.max(1, threads);
  const maxInFlight = opts.maxInFlight ?? Math.max(workers + 1, Math.round((2 * workers + 2) * (512 / blockSize) ** 2));
  const blocks = planBlocks(target.width, target.height, blockSize);
  const stream = opts.progress === false ? null : process.stderr;

  const runner = await createTaskRunner(config, threads);
  const writers: SpoolingCogWriter[] = [];
  const notes: string[] = [];
  try {
    // Pass 1 (Otsu only): a mergeable histogram of the decision value.
    let threshold = fixed?.thresholds[0]; // generic / urban: see `scene`
    if (otsu) {
      const hist = new Histogram(otsu.min, otsu.max, otsu.bins);
      const progress = new ProgressReporter(`${preset.name} histogram`, blocks.length, stream);
      await forEachBounded(blocks, maxInFlight, async (blk) => {
        const r = await runner.run({ kind: 'block', mode: 'histogram', row: blk.row, col: blk.col, window: blk.window, threshold: 0 }) as BlockResult;
        for (let k = 0; k < otsu.bins; k++) hist.counts[k]! += r.histogram![k]!;
        for (let k = 0; k < otsu.bins; k++) hist.total += r.histogram![k]!;
        progress.tick(blk.window.width * blk.window.height, r.valuesRead * 4);
      });
      const t = hist.otsu();
      const name = fixed!.thresholds[0]!.name;
      if (Number.isFinite(t)) {
        threshold = { name, value: t, source: `Otsu (1979) on the valid pixels (streamed histogram, ${otsu.bins} bins over [${otsu.min}, ${otsu.max}])` };
      } else {
        notes.push(`Otsu found no threshold for ${name} (values have no spread); used the fixed default ${threshold!.value}.`);
      }
    }

    // generic / urban: the statistics passes their method needs (data-range Otsu, IR-MAD or PCA-k-means fit).
    const passes: ScenePasses = {
      blocks, target, inputs: beforeSpec ? `${beforeSpec.src} and ${afterSpec.src}` : afterSpec.src,
      run: async (label, list, task, each) => {
        const progress = new ProgressReporter(`${preset.name} ${label}`, list.length, stream);
        await forEachBounded(list, maxInFlight, async (blk) => {
          const r = await runner.run(task(blk)) as BlockResult;
          each(r, blk);
          progress.tick(blk.window.width * blk.window.height, r.valuesRead * 4);
        });
      },
    };
    const scene = sceneWide ? await gatherSceneWide(sceneWide, passes) : null;
    if (scene) notes.push(...scene.notes);
    const quicklook = config.quicklook
      ? new QuicklookAssembler(target.width, target.height, config.quicklook, (scene ? scene.product : productInfo) !== null) : null;

    // The quicklook RGB of dates with overviews first (a fraction of a second on the pool): its float layers are
    // drawn and dropped early (`whenRgbReady`, beside the pass) instead of held through it. Measured on a full tile:
    // read beside the blocks instead, the peak RSS was ~40 MB higher.
    const q = config.quicklook;
    let quicklookRgb: QuicklookRgb | null = q ? await readOverviewRgb(runner, q) : null;
    let drawing: Promise<void> | null = null;
    if (quicklookRgb && opts.whenRgbReady && q && !q.afterRgb && !q.beforeRgb) {
      const drawn = quicklookRgb;
      drawing = opts.whenRgbReady(drawn, quicklook!.width, quicklook!.height).finally(() => releaseRgb(drawn));
      drawing.catch(() => undefined); // awaited after the pass; a failure must not go unhandled meanwhile
      quicklookRgb = null;
    }

    // Pass 2: classify, encode, write.
    const durable = { sync: opts.syncOutputs === true };
    const classesWriter = await createSpoolingCogWriter(opts.classesPath, classesHeader, durable);
    writers.push(classesWriter);
    // No product when a multivariate method finds the dates identical (as the whole-array path).
    const productWriter = productHeader && (!scene || scene.product) ? await createSpoolingCogWriter(opts.productPath!, productHeader, durable) : null;
    if (productWriter) writers.push(productWriter);
    const pending = new Set<Promise<void>>();
    const track = (p: Promise<void>) => {
      const q = p.finally(() => pending.delete(q));
      pending.add(q);
      q.catch(() => undefined);
    };
    const classesPyramid = new OverviewAssembler(levels, blockSize, Uint8Array, (level, row, col, data, w, h) =>
      track(encodeOverview(runner, 'classes', level, row, col, data, w, h, levels, classesWriter, classesPyramid)));
    const productPyramid = productWriter ? new OverviewAssembler(levels, blockSize, Float32Array, (level, row, col, data, w, h) =>
      track(encodeOverview(runner, 'product', level, row, col, data, w, h, levels, productWriter, productPyramid!))) : null;

    const classPixels = new Float64Array(256);
    const classM2 = new Float64Array(256);
    let indexHistogram: Float64Array | null = null;
    let indexHistogramM2: Float64Array | null = null;
    let nodata = 0;
    let cloud = 0;
    let indexUndefined = 0;
    const radiometry = new Map<string, [number, number]>();
    const progress = new ProgressReporter(`${preset.name}`, blocks.length, stream);
    await forEachBounded(blocks, maxInFlight, async (blk) => {
      const r = await runner.run({ kind: 'block', mode: 'classify', row: blk.row, col: blk.col, window: blk.window,
        threshold: scene ? scene.threshold : threshold!.value, ...(scene?.fitted ? { fitted: scene.fitted } : {}) }) as BlockResult;
      if (!r.minArea) for (let v = 0; v < 256; v++) { classPixels[v]! += r.classPixels[v]!; classM2[v]! += r.classM2[v]!; }
      nodata += r.nodata;
      cloud += r.cloud;
      if (r.indexHistogram) indexHistogram = indexHistogram ? mergeIndexHistograms(indexHistogram, r.indexHistogram) : r.indexHistogram;
      indexUndefined += r.indexUndefined ?? 0;
      if (r.indexHistogramM2) indexHistogramM2 = indexHistogramM2 ? mergeIndexHistograms(indexHistogramM2, r.indexHistogramM2) : r.indexHistogramM2;
      for (const [k, [neg, fin]] of Object.entries(r.radiometry)) {
        const acc = radiometry.get(k) ?? [0, 0];
        radiometry.set(k, [acc[0] + neg, acc[1] + fin]);
      }
      const writes = r.classBytes ? [classesWriter.writeEncoded(0, r.row, r.col, r.classBytes)] : [];
      if (r.minArea) minArea!.add(blk, r.minArea);
      if (productWriter) writes.push(productWriter.writeEncoded(0, r.row, r.col, r.productBytes!));
      if (r.classPiece) classesPyramid.add(1, r.row, r.col, r.classPiece);
      if (r.productPiece) productPyramid?.add(1, r.row, r.col, r.productPiece);
      if (r.quicklook) quicklook!.add(blk.window, r.quicklook);
      await Promise.all(writes);
      progress.tick(blk.window.width * blk.window.height, r.valuesRead * 4);
    });

    // Pass 3 (--min-area): join the blocks' patches, then filter and encode each block's classes.
    if (minArea) {
      minArea.merge(blocks);
      const filtering = new ProgressReporter(`${preset.name} min-area`, blocks.length, stream);
      await forEachBounded(blocks, maxInFlight, async (blk) => {
        const r = await minArea.filter(runner, blk);
        for (let v = 0; v < 256; v++) { classPixels[v]! += r.classPixels[v]!; classM2[v]! += r.classM2[v]!; }
        if (r.classPiece) classesPyramid.add(1, r.row, r.col, r.classPiece);
        if (r.quicklook) quicklook!.setClasses(r.quicklook);
        await classesWriter.writeEncoded(0, r.row, r.col, r.classBytes!);
        filtering.tick(blk.window.width * blk.window.height, 0);
      });
    }
    while (pending.size) await Promise.all([...pending]);
    const n = target.width * target.height;
    const validPixels = checkValidShare(n, nodata, cloud, beforeSpec ? `${beforeSpec.src} and ${afterSpec.src}` : afterSpec.src, warnings, indexUndefined);
    for (const [key, [neg, finite]] of radiometry) {
      const [role, band] = key.split(':');
      const input = role === 'before' ? beforeSpec!.src : afterSpec.src;
      if (finite && neg / finite > 0.01) {
        warnings.push(`${role} (${input}): ${(100 * neg / finite).toFixed(1)} % of ${band} reflectances are negative — the radiometric offset is probably wrong (check --offset; baseline 04.00+ products need −1000 only once).`);
      }
    }
    await drawing;
    const quicklookArrays = quicklook?.finish(quicklookRgb) ?? null;
    if (quicklookArrays && opts.whenRgbReady && !drawing) {
      const drawn = { after: quicklookArrays.after, before: quicklookArrays.before };
      await opts.whenRgbReady(drawn, quicklookArrays.width, quicklookArrays.height).finally(() => releaseRgb(drawn));
      quicklookArrays.after = null;
      quicklookArrays.before = null;
    }
    const productNamed = productInfo ? { name: productInfo.name, description: productInfo.description } : null;
    // The COGs are hashed by the (now idle) workers while this thread makes the pictures.
    const hashFile = async (path: string, size: number) => ((await runner.run({ kind: 'hash', path, size })) as HashResult).sha256;
    const [classesOut, productOut] = await Promise.all([classesWriter.finish({ hashFile }), productWriter?.finish({ hashFile }) ?? null,
      opts.whileFinishing?.(quicklookArrays, productNamed)]);
    const report = scene ?? { method, thresholds: [threshold!], formula: probe(threshold!.value).formula };
    return {
      preset, grid: target, bandsUsed, method: report.method, thresholds: report.thresholds, formula: report.formula,
      notes: [...fixed?.notes ?? [], ...notes], warnings: [...warnings, ...fixed?.notes ?? [], ...notes],
      areas: preset.classes.map((c) => ({
        value: c.value, name: c.name, pixels: classPixels[c.value]!, hectares: classM2[c.value]! / 10_000,
        percent: validPixels ? (100 * classPixels[c.value]!) / validPixels : 0,
      })),
      validPixels, maskedPixels: { total: nodata + cloud + indexUndefined, nodata, cloudShadowSnow: cloud, indexUndefined },
      classes: { path: opts.classesPath, bytes: classesOut.bytes, sha256: classesOut.sha256 },
      productInfo: productInfo ? { name: productInfo.name, description: productInfo.description } : null,
      indexHistogram, indexHistogramM2,
      product: productOut && productInfo ? { name: productInfo.name, description: productInfo.description, path: opts.productPath!, bytes: productOut.bytes, sha256: productOut.sha256 } : null,
      blocks: blocks.length, threads: runner.threads, seconds: (performance.now() - t0) / 1000,
      inputs, georeferenced, quicklook: quicklookArrays,
      minMappingUnit: minArea && minAreaHa ? { hectares: minAreaHa, pixelsRemoved: minArea.pixelsRemoved } : null,
      coregistration,
    };
  } catch (err) {
    for (const w of writers) await w.abort().catch(() => undefined);
    await unlink(opts.classesPath).catch(() => undefined);
    if (opts.productPath) await unlink(opts.productPath).catch(() => undefined);
    throw err;
  } finally {
    await runner.close();
  }
}

/** Scene options a worker can receive (structured clone): the HTTP options are dropped, inputs are local. */
function localSceneOptions(opts: DetectOptions): Omit<SceneOptions, 'remote'> {
  const { remote: _remote, ...rest } = opts.scene ?? {};
  return rest;
}

/** The target grid `detectBlocks` (and `detect()`) would use for `opts`: opens the scenes' headers only. */
export async function blockTargetGrid(opts: DetectOptions): Promise<Grid> {
  const preset = getPreset(opts.preset);
  if (!preset.singleDate && !opts.before) {
    throw new UsageError('missing --before', { input: `--preset ${preset.name}`, expected: 'a before scene', found: 'only --after', fix: 'Pass --before SRC' });
  }
  const afterSpec: SceneSpec = { src: opts.after, opts: { ...localSceneOptions(opts), bands: opts.afterBands ?? opts.bands, sclPath: opts.afterScl } };
  const beforeSpec: SceneSpec | null = opts.before && !preset.singleDate
    ? { src: opts.before, opts: { ...localSceneOptions(opts), bands: opts.beforeBands ?? opts.bands, sclPath: opts.beforeScl } } : null;
  return (await planTarget(preset, beforeSpec, afterSpec, opts)).target;
}

/**
 * Open both scenes, choose bands and the target grid exactly as `detect()` does, then close them. With `preflight`,
 * every input file first goes through the same budgeted decode sandbox as `detect()` (`preflightDecode`).
 */
async function planTarget(preset: Preset, beforeSpec: SceneSpec | null, afterSpec: SceneSpec, opts: DetectOptions, preflight = false,
  quicklook: { maxSize: number; overviews: boolean } | null = null) {
  const after = await openScene(afterSpec.src, afterSpec.opts);
  let before: Scene | null = null;
  try {
    if (beforeSpec) before = await openScene(beforeSpec.src, beforeSpec.opts);
    const preflightWarnings: string[] = [];
    if (preflight) {
      // Probe only (headers, IFDs, the codec on a first window): the workers then decode tile by tile, each tile's
      // output capped at its size, so no input is decoded twice.
      const skipped = await preflightDecode([before, after].filter((x): x is Scene => x !== null), opts.decodeBudget, opts.log, 0);
      if (skipped) preflightWarnings.push(skipped);
      const same = before ? sameSceneWarning(before, after) : null;
      if (same) preflightWarnings.push(same);
    }
    const { bandsUsed, target } = planGrid(preset, before, after, opts);
    // Estimated for a run (preflight) only, not when `blockTargetGrid` just asks for the grid.
    const coregistration = !preflight ? skippedCoregistration('not estimated (planning only)')
      : before ? await estimateCoregistration(before, after, target, { enabled: opts.coregister })
        : skippedCoregistration('single-date preset');
    const factor = quicklook ? quicklookSize(target.width, target.height, quicklook.maxSize).factor : 0;
    const rgbOf = (scene: Scene | null) => {
      const layers = scene ? quicklookLayers(scene) : null;
      return layers ? { layers, fromOverviews: quicklook !== null && quicklook.overviews && rgbOverviews(scene!, layers, target, factor) !== null } : null;
    };
    return {
      target, bandsUsed, inputTile: alignedInputTile([before, after], bandsUsed, target), warnings: [...(before?.warnings ?? []), ...after.warnings, ...preflightWarnings],
      inputs: [...(before ? [describeInput(before, 'before', bandsUsed)] : []), describeInput(after, 'after', bandsUsed)],
      georeferenced: after.georeferenced && (before?.georeferenced ?? true),
      rgb: { factor, before: rgbOf(before), after: rgbOf(after) },
      coregistration,
    };
  } finally {
    await after.close();
    await before?.close();
  }
}

/**
 * The tile size of the inputs when every used band on the target's own pixel grid is tiled with the same square
 * tile (256 to 2048 pixels, a multiple of 16) whose tile grid lines up with the target's origin: blocks of that size
 * then read each input tile exactly once (Sentinel-2 COGs have 1024-pixel tiles; 512-pixel blocks would decode each
 * of them four times). Null otherwise.
 */
function alignedInputTile(scenes: (Scene | null)[], bands: readonly BandName[], target: Grid): number | null {
  let size: number | null = null;
  for (const scene of scenes) {
    for (const band of bands) {
      const ref = scene?.bands.get(band);
      if (!ref || !sameCrs(ref.grid.crs, target.crs) || Math.abs(ref.grid.transform[1] - target.transform[1]) > 1e-9) continue;
      const t = ref.tile;
      const w = boundsToWindow(ref.grid, gridBounds(target));
      if (!t || t.width !== t.height || t.width < 256 || t.width > 2048 || t.width % 16 !== 0 || !w
        || w.x % t.width !== 0 || w.y % t.width !== 0 || (size !== null && size !== t.width)) return null;
      size = t.width;
    }
  }
  return size;
}

/** Run `fn` over `items` in order with at most `limit` running at once; the first failure stops new starts. */
async function forEachBounded<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failed: { error: unknown } | null = null;
  const lane = async () => {
    while (!failed && next < items.length) {
      const item = items[next++]!;
      try {
        await fn(item);
      } catch (error) {
        failed ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, lane));
  if (failed) throw (failed as { error: unknown }).error;
}

type Piece = Uint8Array | Float32Array;

/**
 * Builds overview tiles from the 2x-reduced pieces of their (up to four) child tiles; a tile is handed to `emit`
 * as soon as its last piece arrives, so only partially filled tiles are held.
 */
class OverviewAssembler {
  private readonly partial = new Map<string, { data: Piece; missing: number }>();

  constructor(
    private readonly levels: readonly CogLevel[],
    private readonly blockSize: number,
    private readonly ctor: Uint8ArrayConstructor | Float32ArrayConstructor,
    private readonly emit: (level: number, row: number, col: number, data: Piece, width: number, height: number) => void,
  ) {}

  /** The reduced piece of child tile (childRow, childCol) of level `level - 1`, for level `level`. */
  add(level: number, childRow: number, childCol: number, piece: Piece): void {
    const L = this.levels[level];
    if (!L) return;
    const child = this.levels[level - 1]!;
    const B = this.blockSize;
    const row = childRow >> 1;
    const col = childCol >> 1;
    const w = Math.min(B, L.width - col * B);
    const h = Math.min(B, L.height - row * B);
    const key = `${level}:${row}:${col}`;
    let slot = this.partial.get(key);
    if (!slot) {
      const missing = Math.min(2, child.tilesDown - 2 * row) * Math.min(2, child.tilesAcross - 2 * col);
      slot = { data: new this.ctor(w * h), missing };
      this.partial.set(key, slot);
    }
    const cw = Math.min(B, child.width - childCol * B);
    const ch = Math.min(B, child.height - childRow * B);
    const pw = Math.ceil(cw / 2);
    const ph = Math.ceil(ch / 2);
    const ox = (childCol & 1) * (B / 2);
    const oy = (childRow & 1) * (B / 2);
    for (let y = 0; y < ph; y++) slot.data.set(piece.subarray(y * pw, (y + 1) * pw), (oy + y) * w + ox);
    release(piece); // copied into its tile
    if (--slot.missing === 0) {
      this.partial.delete(key);
      this.emit(level, row, col, slot.data, w, h);
    }
  }
}

async function encodeOverview(runner: TaskRunner, output: 'classes' | 'product', level: number, row: number, col: number,
  data: Piece, width: number, height: number, levels: readonly CogLevel[], writer: SpoolingCogWriter, pyramid: OverviewAssembler): Promise<void> {
  const reduce = level + 1 < levels.length;
  const r = await runner.run({ kind: 'tile', output, level, row, col, width, height, data, reduce }) as TileResult;
  release(data); // the worker encoded (and reduced) its copy
  if (r.piece) pyramid.add(level + 1, row, col, r.piece);
  await writer.writeEncoded(level, row, col, r.bytes);
}

/** Free the RGB layers handed to `whenRgbReady` once it is done with them (their ~13 MB each, at once: release.ts). */
function releaseRgb(rgb: QuicklookRgb): void {
  release(...(rgb.after?.rgb ?? []), ...(rgb.before?.rgb ?? []));
}

/** A date's quicklook RGB and the bands it shows. */
export type RgbLayers = { rgb: [Float32Array, Float32Array, Float32Array]; rgbBands: string; source?: string };

/** The quicklook RGB of the dates (read from overviews: null where the blocks reduce it). */
export interface QuicklookRgb {
  after: RgbLayers | null;
  before: RgbLayers | null;
}

/**
 * The quicklook RGB of each date the plan reads from overviews: one pool task per layer, two in flight, before the
 * classify pass starts (its pictures are then drawn beside the pass).
 */
async function readOverviewRgb(runner: TaskRunner, plan: QuicklookPlan): Promise<QuicklookRgb> {
  const tasks = (['after', 'before'] as const).flatMap((role) =>
    (role === 'after' ? plan.afterOverviewRgb : plan.beforeOverviewRgb) ? [0, 1, 2].map((layer) => ({ role, layer })) : []);
  const got = { after: [] as Float32Array[], before: [] as Float32Array[] };
  await forEachBounded(tasks, 2, async ({ role, layer }) => {
    got[role][layer] = (await runner.run({ kind: 'overview-rgb', role, layer }) as OverviewRgbResult).values;
  });
  const rgb = (role: 'after' | 'before', layers: LayerName[] | null | undefined): RgbLayers | null =>
    layers ? { rgb: got[role] as RgbLayers['rgb'], rgbBands: layers.join(','), source: 'overviews' } : null;
  return { after: rgb('after', plan.afterOverviewRgb), before: rgb('before', plan.beforeOverviewRgb) };
}

/**
 * Puts the blocks' quicklook cells together. Cells inside one block are final when it arrives; cells cut by block
 * edges are summed across their blocks and finished at the end (a few per block edge), so the main thread holds
 * only the reduced arrays.
 */
class QuicklookAssembler {
  readonly width: number;
  readonly height: number;
  private readonly layers: Float32Array[];
  private readonly classes: Uint8Array;
  private readonly partial = new Map<number, Float64Array>();

  constructor(private readonly W: number, private readonly H: number, private readonly plan: QuicklookPlan, private readonly withProduct: boolean) {
    this.width = Math.ceil(W / plan.factor);
    this.height = Math.ceil(H / plan.factor);
    const n = (plan.afterRgb ? 3 : 0) + (plan.beforeRgb ? 3 : 0) + (withProduct ? 1 : 0);
    this.layers = Array.from({ length: n }, () => new Float32Array(this.width * this.height).fill(NaN));
    this.classes = new Uint8Array(this.width * this.height).fill(255);
  }

  add(win: { x: number; y: number; width: number; height: number }, q: QuicklookPiece): void {
    const f = this.plan.factor;
    const L = this.layers.length;
    if (q.sums.length !== L) throw new Error(`internal: quicklook piece has ${q.sums.length} layers, expected ${L}`);
    for (let j = 0; j < q.height; j++) {
      const cy = q.cy + j;
      const yInside = cy * f >= win.y && Math.min(this.H, (cy + 1) * f) <= win.y + win.height;
      for (let i = 0; i < q.width; i++) {
        const cx = q.cx + i;
        const k = j * q.width + i;
        const o = cy * this.width + cx;
        if (q.hasClass[k]) this.classes[o] = q.classes[k]!;
        if (yInside && cx * f >= win.x && Math.min(this.W, (cx + 1) * f) <= win.x + win.width) {
          for (let l = 0; l < L; l++) { const c = q.counts[l]![k]!; this.layers[l]![o] = c ? q.sums[l]![k]! / c : NaN; }
        } else {
          let acc = this.partial.get(o);
          if (!acc) { acc = new Float64Array(2 * L); this.partial.set(o, acc); }
          for (let l = 0; l < L; l++) { acc[2 * l]! += q.sums[l]![k]!; acc[2 * l + 1]! += q.counts[l]![k]!; }
        }
      }
    }
  }

  /** Class cells only: the filter pass of --min-area replaces the classes the classify pass put there. */
  setClasses(q: QuicklookPiece): void {
    for (let j = 0; j < q.height; j++) {
      for (let i = 0; i < q.width; i++) if (q.hasClass[j * q.width + i]) this.classes[(q.cy + j) * this.width + q.cx + i] = q.classes[j * q.width + i]!;
    }
  }

  /** The reduced arrays; a date's RGB comes from `fromOverviews` when the plan read it there. */
  finish(fromOverviews: QuicklookRgb | null): BlockQuicklook {
    for (const [o, acc] of this.partial) {
      for (let l = 0; l < this.layers.length; l++) this.layers[l]![o] = acc[2 * l + 1] ? acc[2 * l]! / acc[2 * l + 1]! : NaN;
    }
    this.partial.clear();
    let next = 0;
    const take = (names: LayerName[] | null | undefined, overview: RgbLayers | null | undefined) => {
      if (overview) return overview;
      if (!names) return null;
      const rgb = this.layers.slice(next, next + 3) as [Float32Array, Float32Array, Float32Array];
      next += 3;
      return { rgb, rgbBands: names.join(',') };
    };
    const after = take(this.plan.afterRgb, fromOverviews?.after);
    const before = take(this.plan.beforeRgb, fromOverviews?.before);
    return { width: this.width, height: this.height, factor: this.plan.factor, after, before,
      product: this.withProduct ? this.layers[next]! : null, classes: this.classes };
  }
}
