/**
 * The s2change library API for Node: `detect`, `openScene`, `evaluate`, plus the pure core (`indices`, `presets`,
 * change methods, metrics) re-exported from `./core.js`.
 *
 *   import { detect } from 's2change';
 *   const run = await detect({ before: 'pre.tif', after: 'post.tif', preset: 'wildfire', minArea: 0.5 });
 *   for (const a of run.areas) console.log(a.name, a.hectares.toFixed(1), 'ha');
 *
 * `detect` takes the inputs the CLI takes (paths, URLs, STAC items; `bands` as an array) and resolves to the run's
 * facts and its arrays; it writes files only when `out` is given (then exactly what `s2change detect --out` writes).
 */
import { UsageError } from './errors.js';
import type { ChangeMethod, ContinuousProduct, ThresholdUsed } from './change/presets/types.js';
import type { Bounds, Grid } from './raster/grid.js';
import { pixelAreaM2 } from './raster/grid.js';
import type { ClassArea, DetectResult } from './pipeline/detect.js';
import type { RunSummary } from './pipeline/run-detect.js';
import type { Evaluation, TruthCoding } from './pipeline/evaluate.js';

export * from './core.js';
export { openScene } from './io/scene.js';
export type { Scene, SceneOptions, BandRef, LayerName } from './io/scene.js';
export type { RunSummary } from './pipeline/run-detect.js';
export type { Evaluation, TruthCoding } from './pipeline/evaluate.js';

/** What `detect` takes: the CLI's inputs, as values. */
export interface DetectInput {
  /** Before scene: band folder, multi-band GeoTIFF, STAC item (.json path or URL), SAFE product or PNG. Not needed for `water`. */
  before?: string;
  /** After scene (the same kinds). */
  after: string;
  /** flood | wildfire | urban | vegetation | generic | water */
  preset: string;
  /** Band names of a multi-band file or PNG, in order (both dates), e.g. ['B02', 'B03', 'B04', 'B08', 'B12']. */
  bands?: string[];
  beforeBands?: string[];
  afterBands?: string[];
  /** Separate SCL files per date. */
  beforeScl?: string;
  afterScl?: string;
  /** Clip to this WGS84 box: [minLon, minLat, maxLon, maxLat] or {minX, minY, maxX, maxY}. */
  bbox?: readonly [number, number, number, number] | Bounds;
  /** Change method (default: the preset's). */
  method?: ChangeMethod;
  /** Override the preset's main threshold. */
  threshold?: number;
  /** Minimum mapping unit in hectares. */
  minArea?: number;
  /** Override radiometry: reflectance = (DN + offset) × scale. */
  scale?: number;
  offset?: number;
  /** Grow the SCL cloud/shadow mask by this many pixels (default 2). */
  cloudBuffer?: number;
  /** Co-register the after date onto the before date by phase correlation (default true, as the CLI). */
  coregister?: boolean;
  /** Write the outputs (change.tif, the index, PNGs, change.geojson, report.html, summary.json) into this folder. */
  out?: string;
  /** Replace earlier outputs in `out`. */
  overwrite?: boolean;
  /** Progress and warnings (default: silent). */
  log?: (message: string) => void;
}

/** What `detect` resolves to. */
export interface DetectRun {
  preset: string;
  method: ChangeMethod;
  formula: string;
  /** Hectares and pixels per class (0 = no change). */
  areas: Pick<ClassArea, 'value' | 'name' | 'pixels' | 'hectares' | 'percent'>[];
  thresholds: ThresholdUsed[];
  /** The target grid: CRS, geotransform, size, and the area of a pixel of the middle row (m²; every row alike on projected grids). */
  grid: Grid & { pixelAreaM2: number };
  /** Class map, row-major, grid.width × grid.height: 0 no change, 1…n the preset's classes, 255 invalid (masked, nodata). */
  classes: Uint8Array;
  /** The preset's main continuous product (e.g. dNBR), NaN where invalid; null for methods without one. */
  index: { name: string; description: string; values: Float32Array } | null;
  /** Every continuous product of the run. */
  products: ContinuousProduct[];
  classNames: { value: number; name: string }[];
  validPixels: number;
  warnings: string[];
  bandsUsed: string[];
  /** The after date's shift onto the before date (pixels, metres, confidence), applied or skipped and why. */
  coregistration: DetectResult['coregistration'];
  /** The run's summary.json, when `out` was given. */
  summary?: RunSummary;
}

/** Map change between two scenes (see DetectInput); writes files only when `out` is given. */
export async function detect(input: DetectInput): Promise<DetectRun> {
  if (!input || typeof input !== 'object') throw new UsageError('detect() needs an options object', { input: 'detect()', expected: '{ before, after, preset, … }', found: String(input) });
  for (const key of ['after', 'preset'] as const) {
    if (typeof input[key] !== 'string' || !input[key]) {
      throw new UsageError(`detect(): missing "${key}"`, { input: key, expected: key === 'after' ? 'a path, URL or STAC item' : 'a preset name', found: JSON.stringify(input[key]), fix: `Pass { ${key}: … }` });
    }
  }
  const { getPreset } = await import('./change/presets/index.js');
  getPreset(input.preset);
  const common = {
    before: input.before, after: input.after, preset: input.preset, bbox: toBounds(input.bbox),
    bands: input.bands, beforeBands: input.beforeBands, afterBands: input.afterBands, beforeScl: input.beforeScl, afterScl: input.afterScl,
    method: input.method, threshold: input.threshold, minAreaHa: input.minArea ?? 0, cloudBuffer: input.cloudBuffer, coregister: input.coregister,
    scene: input.scale !== undefined || input.offset !== undefined ? { scale: input.scale, offset: input.offset } : undefined,
    log: input.log ?? (() => undefined),
  };
  if (input.out !== undefined) {
    const { runDetect } = await import('./pipeline/run-detect.js');
    let held: DetectResult | undefined;
    const summary = await runDetect({ ...common, out: input.out, overwrite: !!input.overwrite, engine: 'whole', onWholeResult: (r) => { held = r; } });
    return { ...facts(held!), summary };
  }
  const { detect: detectWhole } = await import('./pipeline/detect.js');
  return facts(await detectWhole(common));
}

function facts(r: DetectResult): DetectRun {
  const main = r.result.products[0];
  return {
    preset: r.preset.name, method: r.result.method, formula: r.result.formula,
    areas: r.areas.map(({ value, name, pixels, hectares, percent }) => ({ value, name, pixels, hectares, percent })),
    thresholds: r.result.thresholds,
    grid: { crs: r.grid.crs, transform: r.grid.transform, width: r.grid.width, height: r.grid.height, pixelAreaM2: pixelAreaM2(r.grid, Math.floor(r.grid.height / 2)) },
    classes: r.result.classes,
    index: main ? { name: main.name, description: main.description, values: main.values } : null,
    products: r.result.products,
    classNames: r.preset.classes.map((c) => ({ value: c.value, name: c.name })),
    validPixels: r.validPixels, warnings: r.warnings, bandsUsed: r.bandsUsed, coregistration: r.coregistration,
  };
}

function toBounds(b: DetectInput['bbox']): Bounds | null {
  if (b === undefined || b === null) return null;
  const [minX, minY, maxX, maxY] = Array.isArray(b) ? b : [(b as Bounds).minX, (b as Bounds).minY, (b as Bounds).maxX, (b as Bounds).maxY];
  const ok = [minX, minY, maxX, maxY].every((v) => typeof v === 'number' && Number.isFinite(v))
    && minX! < maxX! && minY! < maxY! && minX! >= -180 && maxX! <= 180 && minY! >= -90 && maxY! <= 90;
  if (!ok) {
    throw new UsageError('invalid bbox', { input: 'bbox', expected: '[minLon, minLat, maxLon, maxLat] in WGS84 degrees with min < max', found: JSON.stringify(b), fix: 'Example: bbox: [19.40, 41.70, 19.60, 41.85]' });
  }
  return { minX: minX!, minY: minY!, maxX: maxX!, maxY: maxY! };
}

/** What `evaluate` takes: a finished run folder (or a class-map GeoTIFF) and a reference label raster. */
export interface EvaluateInput {
  /** A detect output folder or its change.tif. */
  prediction: string;
  /** Reference labels (GeoTIFF or PNG). */
  truth: string;
  /** Label values meaning change / no change / ignore (default: 1 / 0). */
  coding?: Partial<TruthCoding>;
  /** Which classes of the prediction count as change (default: the preset's change classes). */
  changeClasses?: number[];
}

/** Score a run against reference labels: confusion matrix, precision, recall, F1, IoU, kappa. */
export async function evaluate(input: EvaluateInput): Promise<Evaluation> {
  const { evaluateAgainst, readLabelRaster, readPrediction } = await import('./pipeline/evaluate.js');
  const pred = await readPrediction(input.prediction, input.changeClasses);
  const coding: TruthCoding = { change: input.coding?.change ?? [1], noChange: input.coding?.noChange ?? [0], ...(input.coding?.ignore ? { ignore: input.coding.ignore } : {}) };
  return evaluateAgainst(pred.raster, pred.changeClasses, await readLabelRaster(input.truth), coding);
}
