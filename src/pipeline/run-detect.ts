/**
 * A whole `detect` run: compute, then write every output atomically into --out with provenance.
 *
 * Two engines make the same outputs: the whole-array path (`detect.ts`, everything in memory: chips, --bbox areas,
 * every preset and method) and the block engine (`src/engine/`, streams change.tif and the float product block by
 * block in bounded memory: whole tiles, every method but supervised). `--engine auto` picks the block engine when it
 * supports the preset/method and the target grid has more than `BLOCK_ENGINE_MIN_PIXELS` pixels.
 */
import { rename } from 'node:fs/promises';
import path from 'node:path';
import { getPreset } from '../change/presets/index.js';
import type { Preset } from '../change/presets/types.js';
import { isGeographic, isGeoreferenced, pixelAreaM2, pixelSize } from '../raster/grid.js';
import { wgs84Extent } from '../raster/reproject.js';
import { writeCog } from '../io/cog-writer.js';
import { OutputDir, SUMMARY_NAME, type ManifestEntry } from '../io/output-dir.js';
import { openTiffFile } from '../io/tiff/index.js';
import { blockEngineRefusal, blockTargetGrid, detectBlocks, type BlockDetectResult } from '../engine/detect-blocks.js';
import { release } from '../io/release.js';
import { changePolygonsToGeoJSON, writeGeoJSON } from '../report/geojson.js';
import { classOverlayPng, encodePng, indexPng, QUICKLOOK_MAX_SIZE, stretchRange, trueColourRgba } from '../report/quicklook.js';
import { renderReportParts, type ReportModel } from '../report/html.js';
import { classStyle, indexStyleFor, MASKED_HATCH, paletteForClasses, type ClassPalette } from '../report/palette.js';
import { classesQml, indexQml, rasterAttributeTableXml, type StyledClass } from '../report/gis-styles.js';
import { VERSION } from '../version.js';
import { addAreasToIndexHistogram, addToIndexHistogram, classRulesOfProduct, summarizeIndexHistogram, type IndexHistogram } from '../change/index-histogram.js';
import { acquisitionDate, type Acquired } from '../io/acquired.js';
import { evaluateAgainst, readLabelRaster } from './evaluate.js';
import type { Scores } from '../eval/metrics.js';
import { sanityWarnings } from './sanity-warnings.js';
import { detect, type DetectOptions, type DetectResult } from './detect.js';
import { describeCoregistration, type CoregistrationReport } from './coregistration.js';
import { BLOCK_ENGINE_MIN_PIXELS, POLYGON_MAX_PIXELS } from './detect-limits.js';
import { withUrbanModel, type UrbanModelInfo, type UrbanModelOptions } from './urban-model-choice.js';

export interface RunDetectOptions extends DetectOptions, UrbanModelOptions {
  out: string;
  overwrite: boolean;
  /** Title for the report (default: derived from the preset and inputs). */
  title?: string;
  /** How the inputs were found (STAC search + pair ranking), copied into summary.json as `discovery`. */
  discovery?: Record<string, unknown>;
  /** 'auto' (default), 'blocks' (block engine; UsageError when it cannot run these options) or 'whole'. */
  engine?: DetectEngine;
  /** Block engine: polygonize change.tif even above `POLYGON_MAX_PIXELS` (needs the whole class map in memory). */
  polygons?: boolean;
  /** Block engine worker threads (default one per core). */
  threads?: number;
  /**
   * Write the preset's float product (<index>.tif, e.g. dnbr.tif) beside change.tif (default true). Deflating a
   * float32 raster is most of a whole tile's write time; `--no-index` skips it (the report still shows it).
   */
  writeIndex?: boolean;
  /** Whole-array engine: called with the in-memory result before the files are written (the library API keeps its arrays). */
  onWholeResult?: (r: DetectResult) => void;
  /**
   * Reference labels to score the change map against (the demo's events): recorded in summary.json as
   * `accuracy` and shown in the report. `change`/`noChange`/`ignore`: the label values meaning each.
   */
  truth?: { path: string; change: number[]; noChange: number[]; ignore?: number[]; licence?: string };
}

/** Which computation path `detect` uses. */
export type DetectEngine = 'auto' | 'blocks' | 'whole';

export { BLOCK_ENGINE_MIN_PIXELS, POLYGON_MAX_PIXELS };

/** summary.json's `accuracy`: scores of the change classes against reference labels. */
export interface RunAccuracy {
  labels: string;
  coding: { change: number[]; noChange: number[]; ignore?: number[] };
  /** Labelled pixels compared (valid in the map, labelled change or no change). */
  pixels: number;
  scores: Scores;
  confusion: { tp: number; fp: number; fn: number; tn: number };
  /** The classes counted as change. */
  changeClasses: readonly number[];
  messages: string[];
  licence?: string;
}

/** What `detect --json` prints and summary.json holds (plus `outputs`). */
export interface RunSummary {
  tool: { name: 's2change'; version: string };
  createdAt: string;
  preset: { name: string; title: string };
  method: string;
  formula: string;
  thresholds: { name: string; value: number; source: string }[];
  inputs: DetectResult['inputs'];
  bandsUsed: string[];
  grid: { crs: string; transform: readonly number[]; width: number; height: number; pixelSize: [number, number]; georeferenced: boolean };
  bbox: DetectOptions['bbox'];
  areas: DetectResult['areas'];
  classes: { value: number; name: string; description: string; colour: string }[];
  /** `maskedIndexUndefined`: valid bands but no finite index (e.g. NIR + SWIR = 0 on all-zero bands), class 255. */
  pixels: { total: number; valid: number; masked: number; maskedNodata: number; maskedCloudShadowSnow: number; maskedIndexUndefined: number; validPercent: number };
  minMappingUnit: DetectResult['minMappingUnit'];
  polygons: { features: number; dropped: number } | null;
  /**
   * The histogram of the run's index (its first float product) over the valid pixels, with the thresholds and the
   * pixel area: the area beyond any threshold follows from it (`hectaresBeyond`). Null when the run has no product.
   */
  indexHistogram: IndexHistogram | null;
  /** Accuracy against reference labels when the run was given them (`truth`), else absent. */
  accuracy?: RunAccuracy;
  /** Facts about the inputs beyond `inputs`: when each date was acquired (null: the input does not say). */
  provenance: { acquired: { before: Acquired | null; after: Acquired | null } };
  /** Which engine computed the outputs. */
  engine: 'whole' | 'blocks';
  /** Urban runs: the learned model used (path, SHA-256, version, training cities, leave-one-city-out score), or null. */
  urbanModel?: UrbanModelInfo | null;
  /** The after date's sub-pixel shift onto the before date (pixels and metres, peak confidence), applied or skipped and why. */
  coregistration: CoregistrationReport;
  warnings: string[];
  /** Present when the scenes were found by `--event-date` (search parameters, ranking, bytes read). */
  discovery?: Record<string, unknown>;
  outputs?: ManifestEntry[];
}

const STANDARD_OUTPUTS = ['change.tif', 'change.tif.aux.xml', 'change.qml', 'change.geojson', 'before.png', 'after.png', 'change.png', 'report.html', SUMMARY_NAME];

/** Run detect and write change.tif, <index>.tif, PNGs, change.geojson, report.html and summary.json into `out`. */
export async function runDetect(opts: RunDetectOptions): Promise<RunSummary> {
  getPreset(opts.preset); // an unknown preset is a usage error before anything is created
  opts = await withUrbanModel(opts); // a missing or malformed model file is an error before anything is created
  // Refuse existing outputs before any work; the product name (e.g. dnbr.tif) is checked again when written.
  const out = await OutputDir.open(opts.out, { overwrite: opts.overwrite, planned: STANDARD_OUTPUTS, signals: true, inputs: localInputs(opts) });
  try {
    if ((await chooseEngine(opts)) === 'blocks') return await runBlocks(out, opts);
    const r = await detect(opts);
    opts.onWholeResult?.(r);
    const product = r.result.products[0];
    // Valid pixels are those not of the nodata class; products are NaN there too.
    const counts = product ? addToIndexHistogram(product.values, r.result.classes.map((c) => (c === 255 ? 0 : 1))) : null;
    // Geographic grids: each bin's ground area too (the product is NaN wherever the class is 255).
    const areas = product && isGeoreferenced(r.grid.crs) && isGeographic(r.grid.crs)
      ? addAreasToIndexHistogram(product.values, r.grid.width, (row) => pixelAreaM2(r.grid, row)) : null;
    const summary = buildSummary({ ...r, ...r.result, engine: 'whole', indexHistogram: counts, indexHistogramM2: areas, product: product ?? null,
      acquired: await acquiredDates(r.inputs) }, opts);
    await writeOutputs(out, r, summary, opts);
    summary.outputs = await out.commit({ summary: (outputs) => ({ ...summary, outputs }) });
    return summary;
  } catch (err) {
    await out.abort();
    throw err;
  }
}

/** The run's inputs that are local paths (never written over: `OutputDir.open`'s `inputs`). */
function localInputs(opts: RunDetectOptions): string[] {
  const out: string[] = [];
  for (const p of [opts.before, opts.after, opts.beforeScl, opts.afterScl]) {
    if (typeof p !== 'string' || p.length === 0) continue;
    if (p.startsWith('file://')) out.push(decodeURIComponent(new URL(p).pathname));
    else if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(p)) out.push(p); // http(s) and other URLs are not local files
  }
  return out;
}

/**
 * The engine for a run: 'whole' or 'blocks' as asked (a typed UsageError when the block engine cannot run these
 * options); 'auto' picks the block engine when it can and the target grid has more than `BLOCK_ENGINE_MIN_PIXELS`.
 */
export async function chooseEngine(opts: RunDetectOptions): Promise<'whole' | 'blocks'> {
  const mode = opts.engine ?? 'auto';
  if (mode === 'whole') return 'whole';
  const refusal = blockEngineRefusal(opts);
  if (mode === 'blocks') {
    if (refusal) throw refusal;
    return 'blocks';
  }
  if (refusal) return 'whole';
  const grid = await blockTargetGrid(opts);
  return grid.width * grid.height > BLOCK_ENGINE_MIN_PIXELS ? 'blocks' : 'whole';
}

/** The block-engine run: stream change.tif and the product, then polygons, quicklooks, report and summary. */
async function runBlocks(out: OutputDir, opts: RunDetectOptions): Promise<RunSummary> {
  const preset = getPreset(opts.preset);
  const palette = paletteForClasses(preset.name, preset.classes);
  const classNames = Object.fromEntries(preset.classes.map((c) => [c.value, c.name]));
  const productTmp = path.join(out.tmpDir, '.product.tif');
  const pictures: { images: ReportModel['images'] | null; trueColour: TrueColourPictures | null } = { images: null, trueColour: null };
  const r: BlockDetectResult = await out.writeWith('change.tif', async (classesPath) => {
    const res = await detectBlocks({
      ...opts, classesPath, productPath: opts.writeIndex === false ? null : productTmp, threads: opts.threads,
      quicklook: { maxSize: QUICKLOOK_MAX_SIZE },
      classesCog: {
        colormap: colourTable(palette), bandDescriptions: [`${preset.name} classes`],
        metadata: { S2CHANGE_PRESET: preset.name, S2CHANGE_CLASSES: JSON.stringify(classNames) },
      },
      productCog: {},
      syncOutputs: true, // fsynced while assembled; OutputDir's fsync below then finds nothing left to flush
      // The true-colour PNGs as soon as their RGB is known (during the pass when read from the inputs' overviews):
      // then only the encoded pictures and the after RGBA are held, not six float layers.
      whenRgbReady: async (rgb, w, h) => {
        // The six float layers (~13 MB each on a full tile) are freed as soon as the RGBA images are made.
        const layers = [...(rgb.after?.rgb ?? []), ...(rgb.before?.rgb ?? [])];
        pictures.trueColour = await trueColourPictures(rgb, w, h, Math.max(w, h), () => release(...layers));
      },
      // The other PNG quicklooks are encoded while the COGs are assembled from their spools.
      whileFinishing: async (q, product) => {
        pictures.images = await quicklookImages(out, preset, q!.width, q!.height, Math.max(q!.width, q!.height), {
          before: null, after: null, classes: q!.classes,
          product: product && q!.product ? { ...product, values: q!.product, written: opts.writeIndex !== false } : null,
        }, pictures.trueColour!);
      },
    });
    return res;
  });
  // The COGs were hashed while written; their fsync runs while the pictures and the report are made.
  out.recordDigest('change.tif', r.classes);
  out.syncEarly('change.tif');
  if (r.product) {
    const prod = r.product;
    await out.writeWith(`${prod.name}.tif`, (p) => rename(prod.path, p));
    out.recordDigest(`${prod.name}.tif`, prod);
    out.syncEarly(`${prod.name}.tif`);
  }
  const summary = buildSummary({ ...r, engine: 'blocks', product: r.productInfo, acquired: await acquiredDates(r.inputs) }, opts);
  await writeGisStyles(out, preset, r.grid, summary, r.product?.name ?? null);

  const total = r.grid.width * r.grid.height;
  if (isGeoreferenced(r.grid.crs)) {
    if (total <= POLYGON_MAX_PIXELS || opts.polygons) {
      const tiff = await openTiffFile(out.tempPath('change.tif'));
      let classes: Uint8Array;
      try {
        const [v] = await tiff.images[0]!.readWindow(undefined, [0]);
        classes = v instanceof Uint8Array ? v : Uint8Array.from(v!);
      } finally {
        await tiff.close();
      }
      const fc = changePolygonsToGeoJSON(classes, r.grid, polygonOptions(preset, classNames, opts));
      summary.polygons = { features: fc.features.length, dropped: fc.s2change.dropped_features ?? 0 };
      await out.writeWith('change.geojson', (p) => writeGeoJSON(p, fc));
    } else {
      summary.warnings.push(`Polygons skipped for a ${(total / 1e6).toFixed(0)} M pixel map (change.geojson not written): polygonizing needs the whole class map in memory; pass --polygons to write it anyway.`);
    }
  }

  const q = r.quicklook!;
  await writeReport(out, { ...r, preset }, summary, pictures.images!, opts,
    [`Engine: block engine, ${r.blocks} blocks of the target grid, ${r.threads || 1} thread(s), ${r.seconds.toFixed(1)} s; quicklooks reduced ${q.factor}x by the engine${
      pictures.trueColour?.fromOverviews ? ' (true colour from the inputs\' COG overviews, not the full-resolution bands)' : ''}`]);
  summary.outputs = await out.commit({ summary: (outputs) => ({ ...summary, outputs }) });
  return summary;
}

/**
 * How change.geojson is made: the preset's change classes, 8-connected, from the class map after `--min-area`. The
 * unit is applied once, to patches of the change as a whole (a small low-severity island inside a large burn scar
 * stays), so the polygons cover exactly the mapped change and their hectares add up to the class areas; no second,
 * per-class cut is made on the polygons (it would punch holes in a kept patch).
 */
function polygonOptions(preset: Preset, classNames: Record<number, string>, opts: RunDetectOptions) {
  return {
    classNames, skip: [0, 255, ...preset.classes.filter((c) => !preset.changeClasses.includes(c.value) && c.value !== 0).map((c) => c.value)],
    connectivity: 8 as const, maxFeatures: 50_000,
  };
}

function hex([r, g, b]: readonly number[]): string {
  return `#${[r, g, b].map((v) => v!.toString(16).padStart(2, '0')).join('')}`;
}

/** Class value → RGB for all 256 values (the COG palette and summary colours). */
function colourTable(p: ClassPalette): [number, number, number][] {
  const t = Array.from({ length: 256 }, () => [0, 0, 0] as [number, number, number]);
  for (const s of [p.noChange, p.nodata, ...p.classes]) t[s.value] = [...s.colour] as [number, number, number];
  return t;
}

/** What the summary and the report need from either engine. */
interface RunFacts {
  preset: Preset;
  grid: DetectResult['grid'];
  method: string;
  formula: string;
  thresholds: RunSummary['thresholds'];
  inputs: DetectResult['inputs'];
  bandsUsed: string[];
  areas: DetectResult['areas'];
  validPixels: number;
  maskedPixels: DetectResult['maskedPixels'];
  minMappingUnit: DetectResult['minMappingUnit'];
  warnings: string[];
  georeferenced: boolean;
  engine: 'whole' | 'blocks';
  /** Counts of the product's index histogram (`index-histogram.ts`), null without a product. */
  indexHistogram: Float64Array | null;
  /** Geographic grids: ground area per bin of that histogram. */
  indexHistogramM2: Float64Array | null;
  product: { name: string; description: string } | null;
  acquired: RunSummary['provenance']['acquired'];
  coregistration: CoregistrationReport;
}

/** When each date was acquired, from what its input carries (`acquired.ts`). */
async function acquiredDates(inputs: DetectResult['inputs']): Promise<RunSummary['provenance']['acquired']> {
  const of = async (role: 'before' | 'after') => {
    const i = inputs.find((x) => x.role === role);
    return i ? acquisitionDate(i.input, i.provenance) : null;
  };
  return { before: await of('before'), after: await of('after') };
}

/** The summary's `indexHistogram` from the merged counts, with the run's thresholds and the grid's pixel area. */
function indexHistogramOf(r: RunFacts): IndexHistogram | null {
  if (!r.indexHistogram || !r.product) return null;
  const t = r.thresholds[0];
  return summarizeIndexHistogram(r.indexHistogram, {
    product: r.product.name, description: r.product.description, pixelAreaM2: meanPixelAreaM2(r.grid),
    pixelAreaVaries: isGeoreferenced(r.grid.crs) && isGeographic(r.grid.crs), thresholds: r.thresholds, areasM2: r.indexHistogramM2,
    classRules: t && r.thresholds.length === 1 && ['threshold', 'otsu', 'cva'].includes(r.method) ? classRulesOfProduct(r.product.name, t.value) : null,
  });
}

function buildSummary(r: RunFacts, opts: RunDetectOptions): RunSummary {
  const palette = colourTable(paletteForClasses(r.preset.name, r.preset.classes));
  const total = r.grid.width * r.grid.height;
  return {
    tool: { name: 's2change', version: VERSION },
    createdAt: new Date().toISOString(),
    preset: { name: r.preset.name, title: r.preset.title },
    method: r.method,
    formula: r.formula,
    thresholds: r.thresholds,
    inputs: r.inputs,
    provenance: { acquired: r.acquired },
    bandsUsed: r.bandsUsed,
    grid: {
      crs: isGeoreferenced(r.grid.crs) ? `EPSG:${r.grid.crs.epsg}` : 'none (not georeferenced)', transform: r.grid.transform,
      width: r.grid.width, height: r.grid.height, pixelSize: pixelSize(r.grid), georeferenced: r.georeferenced,
    },
    bbox: opts.bbox ?? null,
    areas: r.areas,
    classes: r.preset.classes.map((c) => ({ ...c, colour: hex(palette[c.value] ?? [0, 0, 0]) })),
    pixels: {
      total, valid: r.validPixels, masked: r.maskedPixels.total, maskedNodata: r.maskedPixels.nodata,
      maskedCloudShadowSnow: r.maskedPixels.cloudShadowSnow, maskedIndexUndefined: r.maskedPixels.indexUndefined, validPercent: (100 * r.validPixels) / total,
    },
    minMappingUnit: r.minMappingUnit,
    polygons: null,
    engine: r.engine,
    ...(r.preset.name === 'urban' ? { urbanModel: opts.urbanModelInfo ?? null } : {}),
    coregistration: r.coregistration,
    warnings: [...(opts.notes ?? []), ...r.warnings],
    ...(opts.discovery ? { discovery: opts.discovery } : {}),
    // Last before `outputs`: its counts are long, the facts above are what a reader looks for first.
    indexHistogram: indexHistogramOf(r),
  };
}

/**
 * change.qml and change.tif.aux.xml (class names, colours, counts) beside change.tif, and `<index>.qml` beside the
 * index COG when one is written (`index`: its file stem).
 */
async function writeGisStyles(out: OutputDir, preset: Preset, grid: DetectResult['grid'], summary: RunSummary, index: string | null): Promise<void> {
  const palette = paletteForClasses(preset.name, preset.classes);
  const m2 = meanPixelAreaM2(grid);
  const styled: StyledClass[] = summary.areas.map((a) => ({
    value: a.value, name: a.name, colour: classStyle(palette, a.value)?.colour ?? [0, 0, 0], transparent: a.value === 0,
    pixels: a.pixels, hectares: a.hectares,
  }));
  styled.push({ value: 255, name: 'masked (cloud, shadow, snow or no data)', colour: palette.nodata.colour, transparent: true,
    pixels: summary.pixels.masked, hectares: (summary.pixels.masked * m2) / 10_000 });
  await out.writeFile('change.qml', classesQml(styled));
  await out.writeFile('change.tif.aux.xml', rasterAttributeTableXml(styled));
  if (index) {
    const style = indexStyleFor(index);
    await out.writeFile(`${index}.qml`, indexQml({ colormap: style.colormap, min: style.range[0], max: style.range[1] }));
  }
}

/** The mean ground area of the grid's pixels, m² (every pixel's on projected grids). */
function meanPixelAreaM2(grid: DetectResult['grid']): number {
  let m2 = 0;
  for (let row = 0; row < grid.height; row++) m2 += pixelAreaM2(grid, row);
  return m2 / grid.height;
}

/** Whole-array outputs: both COGs and polygons from the arrays in memory, then the pictures and the report. */
async function writeOutputs(out: OutputDir, r: DetectResult, summary: RunSummary, opts: RunDetectOptions): Promise<void> {
  const { grid } = r;
  const palette = paletteForClasses(r.preset.name, r.preset.classes);
  const colormap = colourTable(palette);
  const georef = isGeoreferenced(grid.crs);
  const classNames = Object.fromEntries(r.preset.classes.map((c) => [c.value, c.name]));

  await out.writeWith('change.tif', (p) => writeCog(p, { grid, bands: [r.result.classes] }, {
    nodata: 255, colormap, bandDescriptions: [`${r.preset.name} classes`], overviews: 'nearest',
    metadata: { S2CHANGE_PRESET: r.preset.name, S2CHANGE_CLASSES: JSON.stringify(classNames) },
  }));
  for (const prod of opts.writeIndex === false ? [] : r.result.products) {
    await out.writeWith(`${prod.name}.tif`, (p) => writeCog(p, { grid, bands: [prod.values] }, {
      nodata: NaN, bandDescriptions: [prod.description], overviews: 'average',
    }));
  }
  await writeGisStyles(out, r.preset, grid, summary, opts.writeIndex === false ? null : r.result.products[0]?.name ?? null);

  if (georef) {
    const fc = changePolygonsToGeoJSON(r.result.classes, grid, polygonOptions(r.preset, classNames, opts));
    summary.polygons = { features: fc.features.length, dropped: fc.s2change.dropped_features ?? 0 };
    await out.writeFile('change.geojson', JSON.stringify(fc));
  }

  const images = await quicklookImages(out, r.preset, grid.width, grid.height, undefined, {
    before: r.before?.rgb ? { rgb: r.before.rgb, rgbBands: r.before.rgbBands } : null,
    after: r.after.rgb ? { rgb: r.after.rgb, rgbBands: r.after.rgbBands } : null,
    classes: r.result.classes,
    product: r.result.products[0] ? { ...r.result.products[0], written: opts.writeIndex !== false } : null,
  });
  await writeReport(out, { ...r, ...r.result }, summary, images, opts, []);
}

/** A date's RGB for the true-colour pictures; `source` 'overviews': the block engine read it from the inputs' COG overviews. */
type PictureRgb = { rgb: [Float32Array, Float32Array, Float32Array]; rgbBands: string; source?: string };

/** What the pictures are drawn from: full arrays (whole path) or arrays the block engine already reduced. */
interface PictureArrays {
  before: PictureRgb | null;
  after: PictureRgb | null;
  classes: Uint8Array;
  /** The preset's float product; `written` false when --no-index kept it out of --out. */
  product: { name: string; description: string; values: Float32Array; written: boolean } | null;
}

/** Encoded before/after pictures with their captions, and the after picture's RGBA (change.png's background). */
interface TrueColourPictures {
  before: { png: Buffer; caption: string } | null;
  after: { png: Buffer; caption: string } | null;
  afterRgba: Uint8Array | null;
  /** Whether a date's RGB came from the inputs' overviews. */
  fromOverviews: boolean;
}

/** What a true-colour picture shows, and where it was read. */
function rgbCaption(d: PictureRgb): string {
  return `${d.rgbBands} as red, green, blue (2–98 % stretch shared by both dates${d.source === 'overviews' ? '; read from the inputs\' COG overviews' : ''})`;
}

/**
 * The true-colour pictures of both dates from `w` x `h` RGB arrays reduced to at most `maxSize` px, with one
 * stretch for both, so that a colour difference between the pictures is a difference on the ground. `rgbDone` is
 * called once the arrays are no longer needed (both RGBA images made, before the PNGs are encoded).
 */
async function trueColourPictures(rgb: { before: PictureRgb | null; after: PictureRgb | null }, w: number, h: number,
  maxSize: number | undefined, rgbDone?: () => void): Promise<TrueColourPictures> {
  const bands = [...(rgb.before?.rgb ?? []), ...(rgb.after?.rgb ?? [])];
  const range = bands.length ? stretchRange(bands) : undefined;
  const rgba = (d: PictureRgb | null) => (d ? trueColourRgba(...d.rgb, w, h, { range, maxSize }) : null);
  const images = { before: rgba(rgb.before), after: rgba(rgb.after) };
  rgbDone?.();
  const draw = async (d: PictureRgb | null, img: ReturnType<typeof rgba>) =>
    d && img ? { png: await encodePng(img.rgba, img.width, img.height), caption: rgbCaption(d), rgba: img.rgba } : null;
  const [before, after] = await Promise.all([draw(rgb.before, images.before), draw(rgb.after, images.after)]);
  return {
    before: before && { png: before.png, caption: before.caption }, after: after && { png: after.png, caption: after.caption },
    afterRgba: after?.rgba ?? null, fromOverviews: rgb.before?.source === 'overviews' || rgb.after?.source === 'overviews',
  };
}

/**
 * before.png, after.png and change.png (written) and the product picture (report only), from `width` x `height`
 * arrays reduced to at most `maxSize` px (default 2048; the block path passes its own size: no further reduction).
 * The true-colour pictures are drawn from `a` unless already drawn (`trueColour`).
 */
async function quicklookImages(out: OutputDir, preset: Preset, w: number, h: number, maxSize: number | undefined,
  a: PictureArrays, trueColour?: TrueColourPictures): Promise<ReportModel['images']> {
  const palette = paletteForClasses(preset.name, preset.classes);
  const images: ReportModel['images'] = [];
  // The PNGs are encoded concurrently (sharp works off the main thread), then written and listed in order.
  const main = a.product;
  const indexStyle = main ? indexStyleFor(main.name) : null;
  const tc = trueColour ?? await trueColourPictures(a, w, h, maxSize);
  const [overlay, indexPicture] = await Promise.all([
    classOverlayPng(a.classes, w, h, palette, { maxSize, background: tc.afterRgba ? { rgba: tc.afterRgba } : undefined, maskedHatch: MASKED_HATCH }),
    main && indexStyle ? indexPng(main.values, w, h, { min: indexStyle.range[0], max: indexStyle.range[1], colormap: indexStyle.colormap, maxSize }) : null,
  ]);
  if (tc.before) {
    await out.writeFile('before.png', tc.before.png);
    images.push({ title: 'Before', caption: tc.before.caption, png: tc.before.png });
  }
  if (tc.after) {
    await out.writeFile('after.png', tc.after.png);
    images.push({ title: 'After', caption: tc.after.caption, png: tc.after.png });
  }
  await out.writeFile('change.png', overlay);
  images.push({ title: 'Change', caption: `${preset.title}: classes over the after image; masked pixels (cloud, shadow, snow, no data) hatched grey`, png: overlay });
  if (main && indexStyle && indexPicture) {
    const caption = main.written ? `${main.name}.tif` : `${main.name} (not written: --no-index)`;
    const [min, max] = indexStyle.range;
    images.push({ title: main.description, caption, png: indexPicture, legend: { colormap: indexStyle.colormap, min, max, label: main.name } });
  }
  return images;
}

/** What an output file is, for the report's links. */
function describeOutput(name: string): string {
  const known: Record<string, string> = {
    'change.tif': 'class map (Cloud Optimized GeoTIFF, palette; 255 = masked)',
    'change.tif.aux.xml': 'class names and counts for GDAL/QGIS/ArcGIS (raster attribute table, read beside change.tif)',
    'change.qml': 'QGIS style for change.tif (load it in Layer Properties → Symbology → Style)',
    'change.geojson': 'change polygons, WGS84 MultiPolygons with class and hectares',
    'before.png': 'before picture', 'after.png': 'after picture', 'change.png': 'classes over the after picture',
    'report.html': 'this report', [SUMMARY_NAME]: 'every number of the run, provenance and SHA-256 of each output (s2change verify)',
  };
  if (known[name]) return known[name]!;
  if (name.endsWith('.qml')) return `QGIS style for ${name.replace(/\.qml$/, '.tif')}`;
  if (name.endsWith('.tif')) return 'the index (float Cloud Optimized GeoTIFF; NaN = masked)';
  return 'output';
}

/** Ground width of a georeferenced grid along its middle row, metres. */
function groundWidthM(grid: DetectResult['grid']): number {
  const t = grid.transform;
  if (!isGeographic(grid.crs)) return Math.hypot(t[1], t[4]) * grid.width;
  const latMid = t[3] + t[5] * grid.height / 2;
  return Math.abs(t[1]) * grid.width * 111_320 * Math.cos((latMid * Math.PI) / 180);
}

/** Longitude/latitude bounds of a georeferenced grid (its corners and edge midpoints reprojected). */
function wgs84Box(grid: DetectResult['grid']): { west: number; south: number; east: number; north: number } {
  const b = wgs84Extent([grid])!;
  return { west: b.minX, south: b.minY, east: b.maxX, north: b.maxY };
}

/** Scores of the change map in `changeTif` against reference labels (nearest-neighbour alignment, evaluate.ts). */
async function accuracyOf(changeTif: string, preset: Preset, truth: NonNullable<RunDetectOptions['truth']>): Promise<RunAccuracy> {
  const pred = await readLabelRaster(changeTif);
  const coding = { change: truth.change, noChange: truth.noChange, ...(truth.ignore ? { ignore: truth.ignore } : {}) };
  const ev = evaluateAgainst(pred, preset.changeClasses, await readLabelRaster(truth.path), coding);
  const { tp, fp, fn, tn } = ev.confusion;
  return {
    labels: truth.path, coding, pixels: ev.pixels, scores: ev.scores, confusion: { tp, fp, fn, tn },
    changeClasses: preset.changeClasses, messages: ev.messages, ...(truth.licence ? { licence: truth.licence } : {}),
  };
}

/**
 * report.html from the run's facts, the summary (warnings, polygons) and the pictures. Records in `summary` first
 * what the report shows and summary.json keeps too: the accuracy against `opts.truth` and the sanity warnings.
 */
async function writeReport(out: OutputDir, r: Omit<RunFacts, 'engine' | 'indexHistogram' | 'indexHistogramM2' | 'product' | 'acquired'>, summary: RunSummary, images: ReportModel['images'],
  opts: RunDetectOptions, extraDetails: string[]): Promise<void> {
  const { grid } = r;
  const colormap = colourTable(paletteForClasses(r.preset.name, r.preset.classes));
  const georef = isGeoreferenced(grid.crs);
  const fmtRadiometry = (rad: Record<string, string>) => Object.entries(rad).map(([b, v]) => `${b}: ${v}`).join('; ');
  // Accuracy against reference labels, read back from the change.tif just written (both engines alike).
  if (opts.truth) summary.accuracy = await accuracyOf(path.join(out.tmpDir, 'change.tif'), r.preset, opts.truth);
  const acquired = summary.provenance.acquired;
  const changePixels = r.areas.filter((a) => r.preset.changeClasses.includes(a.value)).reduce((t, a) => t + a.pixels, 0);
  summary.warnings.push(...sanityWarnings({
    preset: r.preset.name, twoDates: !r.preset.singleDate, afterInput: r.inputs.find((i) => i.role === 'after')?.input ?? '',
    beforeInput: r.inputs.find((i) => i.role === 'before')?.input, beforeDate: acquired.before?.date, afterDate: acquired.after?.date,
    changePixels, validPixels: r.validPixels, histogram: summary.indexHistogram,
    regrowthPixels: r.preset.name === 'wildfire' ? r.areas.filter((a) => a.value === 5 || a.value === 6).reduce((t, a) => t + a.pixels, 0) : undefined,
  }));
  const ground = georef ? groundWidthM(grid) : undefined;
  const palette = paletteForClasses(r.preset.name, r.preset.classes);
  const model: ReportModel = {
    title: opts.title ?? r.preset.title,
    inputs: r.inputs.map((i) => ({
      role: i.role, name: i.input, date: acquired[i.role]?.datetime ?? acquired[i.role]?.date, dateSource: acquired[i.role]?.source,
      provenance: [Object.entries(i.provenance).filter(([, v]) => v !== null && v !== undefined).map(([k, v]) => `${k}: ${Array.isArray(v) ? v.join(', ') : String(v)}`).join('; '),
        `radiometry — ${fmtRadiometry(i.radiometry)}`].filter(Boolean).join(' · '),
    })),
    preset: r.preset.name,
    method: r.method,
    formula: r.formula,
    explanation: r.preset.description,
    thresholds: r.thresholds,
    classes: r.areas.map((a) => ({ ...a, colour: hex(colormap[a.value]!), description: r.preset.classes.find((c) => c.value === a.value)?.description })),
    images: images.map((img) => ({ ...img, groundWidthM: ground })),
    warnings: summary.warnings,
    validPixels: r.validPixels,
    maskedPixels: r.maskedPixels.total,
    maskedBy: { nodata: r.maskedPixels.nodata, cloudShadowSnow: r.maskedPixels.cloudShadowSnow },
    maskedHatch: [MASKED_HATCH[0], MASKED_HATCH[1]],
    extent: georef ? wgs84Box(grid) : null,
    histogram: summary.indexHistogram,
    classColours: Object.fromEntries([palette.noChange, ...palette.classes].map((c) => [c.value, c.colour])),
    accuracy: summary.accuracy ? { ...summary.accuracy, labels: path.basename(summary.accuracy.labels) } : null,
    outputs: [...out.stagedNames(), 'report.html', SUMMARY_NAME].filter((n, k, a) => a.indexOf(n) === k).map((name) => ({ name, what: describeOutput(name) })),
    details: [
      `Grid: ${summary.grid.crs}, ${grid.width} × ${grid.height} pixels of ${summary.grid.pixelSize.map((v) => Number(v.toPrecision(6))).join(' × ')} ${georef ? (summary.grid.crs === 'EPSG:4326' ? 'degrees' : 'm') : 'm (assumed)'}`,
      `Bands used: ${r.bandsUsed.join(', ')}`,
      describeCoregistration(r.coregistration, grid),
      `Masked: ${r.maskedPixels.nodata} nodata and ${r.maskedPixels.cloudShadowSnow} cloud/shadow/snow pixels (SCL, grown by ${opts.cloudBuffer ?? 2} px)${
        r.maskedPixels.indexUndefined ? `, and ${r.maskedPixels.indexUndefined} pixels whose index is undefined (e.g. NIR + SWIR = 0)` : ''}`,
      ...(summary.urbanModel ? [urbanModelDetail(summary.urbanModel)] : []),
      ...(r.minMappingUnit ? [`Minimum mapping unit: ${r.minMappingUnit.hectares} ha (${r.minMappingUnit.pixelsRemoved} pixels removed)`] : []),
      ...(summary.polygons ? [`Polygons: ${summary.polygons.features} in change.geojson${summary.polygons.dropped ? ` (${summary.polygons.dropped} smallest dropped)` : ''}`] : []),
      ...extraDetails,
    ],
    generatedAt: summary.createdAt,
    toolVersion: VERSION,
  };
  await out.writeFile('report.html', renderReportParts(model));
}

/** The report's line about the learned urban model a run used. */
function urbanModelDetail(m: UrbanModelInfo): string {
  const score = m.looScore
    ? `leave-one-city-out F1 ${(100 * m.looScore.f1).toFixed(1)} % (P ${(100 * m.looScore.precision).toFixed(1)} %, R ${(100 * m.looScore.recall).toFixed(1)} %)`
    : 'no leave-one-city-out score recorded';
  return `Urban model: ${m.path} (${m.foundBy === 'cache' ? 'found in the cache directory' : '--model'}; SHA-256 ${m.sha256.slice(0, 16)}…, `
    + `format ${m.format} v${m.version}, written by s2change ${m.createdBy} on ${m.createdAt}); trained on ${m.trainingCities.length} cities `
    + `(${m.trainingCities.join(', ')}); ${score}. ${m.labelLicence}`;
}
