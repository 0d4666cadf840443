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
import { isGeoreferenced, pixelSize } from '../raster/grid.js';
import { writeCog } from '../io/cog-writer.js';
import { OutputDir, SUMMARY_NAME, type ManifestEntry } from '../io/output-dir.js';
import { openTiffFile } from '../io/tiff/index.js';
import { blockEngineRefusal, blockTargetGrid, detectBlocks, type BlockDetectResult } from '../engine/detect-blocks.js';
import { release } from '../io/release.js';
import { changePolygonsToGeoJSON, writeGeoJSON } from '../report/geojson.js';
import { classOverlayPng, encodePng, indexPng, QUICKLOOK_MAX_SIZE, stretchRange, trueColourRgba } from '../report/quicklook.js';
import { renderReportParts, type ReportModel } from '../report/html.js';
import { paletteForClasses, type ClassPalette } from '../report/palette.js';
import { VERSION } from '../version.js';
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
}

/** Which computation path `detect` uses. */
export type DetectEngine = 'auto' | 'blocks' | 'whole';

export { BLOCK_ENGINE_MIN_PIXELS, POLYGON_MAX_PIXELS };

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
  pixels: { total: number; valid: number; masked: number; maskedNodata: number; maskedCloudShadowSnow: number; validPercent: number };
  minMappingUnit: DetectResult['minMappingUnit'];
  polygons: { features: number; dropped: number } | null;
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

const STANDARD_OUTPUTS = ['change.tif', 'change.geojson', 'before.png', 'after.png', 'change.png', 'report.html', SUMMARY_NAME];

/** Run detect and write change.tif, <index>.tif, PNGs, change.geojson, report.html and summary.json into `out`. */
export async function runDetect(opts: RunDetectOptions): Promise<RunSummary> {
  getPreset(opts.preset); // an unknown preset is a usage error before anything is created
  opts = await withUrbanModel(opts); // a missing or malformed model file is an error before anything is created
  // Refuse existing outputs before any work; the product name (e.g. dnbr.tif) is checked again when written.
  const out = await OutputDir.open(opts.out, { overwrite: opts.overwrite, planned: STANDARD_OUTPUTS, signals: true });
  try {
    if ((await chooseEngine(opts)) === 'blocks') return await runBlocks(out, opts);
    const r = await detect(opts);
    const summary = buildSummary({ ...r, ...r.result, engine: 'whole' }, opts);
    await writeOutputs(out, r, summary, opts);
    summary.outputs = await out.commit({ summary: (outputs) => ({ ...summary, outputs }) });
    return summary;
  } catch (err) {
    await out.abort();
    throw err;
  }
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
  const summary = buildSummary({ ...r, engine: 'blocks' }, opts);

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
      const fc = changePolygonsToGeoJSON(classes, r.grid, polygonOptions(preset, classNames));
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

function polygonOptions(preset: Preset, classNames: Record<number, string>) {
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
  coregistration: CoregistrationReport;
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
      maskedCloudShadowSnow: r.maskedPixels.cloudShadowSnow, validPercent: (100 * r.validPixels) / total,
    },
    minMappingUnit: r.minMappingUnit,
    polygons: null,
    engine: r.engine,
    ...(r.preset.name === 'urban' ? { urbanModel: opts.urbanModelInfo ?? null } : {}),
    coregistration: r.coregistration,
    warnings: [...(opts.notes ?? []), ...r.warnings],
    ...(opts.discovery ? { discovery: opts.discovery } : {}),
  };
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

  if (georef) {
    const fc = changePolygonsToGeoJSON(r.result.classes, grid, polygonOptions(r.preset, classNames));
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
  const indexStyle = main ? {
    colormap: main.name === 'dnbr' ? 'dnbr' as const : main.name.startsWith('cva') ? 'blues' as const : 'rdylgn' as const,
    range: (main.name.startsWith('cva') ? [0, 0.3] : main.name === 'dnbr' ? [-0.5, 1] : [-1, 1]) as [number, number],
  } : null;
  const tc = trueColour ?? await trueColourPictures(a, w, h, maxSize);
  const [overlay, indexPicture] = await Promise.all([
    classOverlayPng(a.classes, w, h, palette, { maxSize, background: tc.afterRgba ? { rgba: tc.afterRgba } : undefined }),
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
  images.push({ title: 'Change', caption: `${preset.title}: classes over the after image`, png: overlay });
  if (main && indexStyle && indexPicture) {
    const caption = main.written ? `${main.name}.tif` : `${main.name} (not written: --no-index)`;
    const [min, max] = indexStyle.range;
    images.push({ title: main.description, caption, png: indexPicture, legend: { colormap: indexStyle.colormap, min, max, label: main.name } });
  }
  return images;
}

/** report.html from the run's facts, the summary (warnings, polygons) and the pictures. */
async function writeReport(out: OutputDir, r: Omit<RunFacts, 'engine'>, summary: RunSummary, images: ReportModel['images'],
  opts: RunDetectOptions, extraDetails: string[]): Promise<void> {
  const { grid } = r;
  const colormap = colourTable(paletteForClasses(r.preset.name, r.preset.classes));
  const georef = isGeoreferenced(grid.crs);
  const fmtRadiometry = (rad: Record<string, string>) => Object.entries(rad).map(([b, v]) => `${b}: ${v}`).join('; ');
  const model: ReportModel = {
    title: opts.title ?? r.preset.title,
    inputs: r.inputs.map((i) => ({
      role: i.role, name: i.input, date: typeof i.provenance.datetime === 'string' ? i.provenance.datetime : undefined,
      provenance: [Object.entries(i.provenance).filter(([, v]) => v !== null && v !== undefined).map(([k, v]) => `${k}: ${Array.isArray(v) ? v.join(', ') : String(v)}`).join('; '),
        `radiometry — ${fmtRadiometry(i.radiometry)}`].filter(Boolean).join(' · '),
    })),
    preset: r.preset.name,
    method: r.method,
    formula: r.formula,
    explanation: r.preset.description,
    thresholds: r.thresholds,
    classes: r.areas.map((a) => ({ ...a, colour: hex(colormap[a.value]!), description: r.preset.classes.find((c) => c.value === a.value)?.description })),
    images,
    warnings: summary.warnings,
    validPixels: r.validPixels,
    maskedPixels: r.maskedPixels.total,
    details: [
      `Grid: ${summary.grid.crs}, ${grid.width} × ${grid.height} pixels of ${summary.grid.pixelSize.map((v) => Number(v.toPrecision(6))).join(' × ')} ${georef ? (summary.grid.crs === 'EPSG:4326' ? 'degrees' : 'm') : 'm (assumed)'}`,
      `Bands used: ${r.bandsUsed.join(', ')}`,
      describeCoregistration(r.coregistration, grid),
      `Masked: ${r.maskedPixels.nodata} nodata and ${r.maskedPixels.cloudShadowSnow} cloud/shadow/snow pixels (SCL, grown by ${opts.cloudBuffer ?? 2} px)`,
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
