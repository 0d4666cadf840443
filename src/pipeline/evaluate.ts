/**
 * Accuracy of a change map against reference labels: read both, put them on one grid, count.
 */
import { stat } from 'node:fs/promises';
import { checkRegularFile, readJsonFile } from '../io/local-file.js';
import path from 'node:path';
import { InputNotFoundError, LabelMismatchError } from '../errors.js';
import { confusionMatrix, scores, type ConfusionMatrix, type Scores } from '../eval/metrics.js';
import { resampleLabelsNearest } from '../eval/resample-labels.js';
import { getPreset } from '../change/presets/index.js';
import { isGeoreferenced, sameGrid, type Grid } from '../raster/grid.js';
import { resample } from '../raster/resample.js';
import { openTiffFile } from '../io/tiff/index.js';

/** A single-band raster of label or class values, with its grid when it has one. */
export interface LabelRaster {
  values: Float32Array;
  width: number;
  height: number;
  grid: Grid | null;
  source: string;
}

/** Read band 1 of a GeoTIFF or the first channel of a PNG as numbers. */
export async function readLabelRaster(file: string): Promise<LabelRaster> {
  if (!(await stat(file).catch(() => null))) {
    throw new InputNotFoundError('no such file', { input: file, expected: 'a label GeoTIFF or PNG', found: 'nothing at that path' });
  }
  if (/\.png$/i.test(file)) {
    await checkRegularFile(file, 'a label PNG'); // sharp would block on a FIFO in a thread no signal can stop
    const { default: sharp } = await import('sharp'); // lazy: only PNG labels need it
    const { data, info } = await sharp(file).raw().toBuffer({ resolveWithObject: true });
    const values = new Float32Array(info.width * info.height);
    for (let i = 0; i < values.length; i++) values[i] = data[i * info.channels]!;
    return { values, width: info.width, height: info.height, grid: null, source: file };
  }
  const tiff = await openTiffFile(file);
  try {
    const img = tiff.images[0]!;
    const [a] = await img.readWindow(undefined, [0]);
    return { values: Float32Array.from(a!), width: img.width, height: img.height, grid: img.grid, source: file };
  } finally {
    await tiff.close();
  }
}

export interface TruthCoding {
  change: readonly number[];
  noChange: readonly number[];
  /** Label values to skip (e.g. −1 in Sen1Floods11). */
  ignore?: readonly number[];
}

export interface Evaluation {
  confusion: ConfusionMatrix;
  scores: Scores;
  /** Labelled pixels compared. */
  pixels: number;
  messages: string[];
  truthCoding: TruthCoding;
  predictionChangeClasses: readonly number[];
}

/**
 * Score `pred` (class values; `changeClasses` mean change, 255 = nodata) against `truth`.
 * Grids: georeferenced pairs are aligned by geotransform (nearest); otherwise equal sizes are taken as the same
 * grid and different sizes are resampled by nearest neighbour with a message.
 */
export function evaluateAgainst(pred: LabelRaster, changeClasses: readonly number[], truth: LabelRaster, coding: TruthCoding): Evaluation {
  const messages: string[] = [];
  let truthValues = truth.values;
  if (pred.grid && truth.grid && isGeoreferenced(pred.grid.crs) && isGeoreferenced(truth.grid.crs) && !sameGrid(pred.grid, truth.grid)) {
    truthValues = resample(truth.values, truth.grid, pred.grid, 'nearest');
    messages.push(`labels resampled onto the prediction grid by geotransform (nearest neighbour)`);
  } else if (truth.width !== pred.width || truth.height !== pred.height) {
    const codes = toTruthCodes(truth.values, coding, truth.source);
    const r = resampleLabelsNearest(codes, truth, pred, truth.source);
    if (r.message) messages.push(r.message);
    return finish(pred, changeClasses, r.data, coding, messages);
  }
  return finish(pred, changeClasses, toTruthCodes(truthValues, coding, truth.source), coding, messages);
}

function finish(pred: LabelRaster, changeClasses: readonly number[], codes: Uint8Array, coding: TruthCoding, messages: string[]): Evaluation {
  const p = new Uint8Array(pred.values.length);
  const isChange = new Set(changeClasses);
  for (let i = 0; i < p.length; i++) {
    const v = pred.values[i]!;
    p[i] = v !== v || v === 255 ? 255 : isChange.has(v) ? 1 : 0;
  }
  const cm = confusionMatrix(p, codes, { truthChange: [1], truthNoChange: [0], ignore: [2, 3], predChange: [1], predInvalid: [255], name: 'labels' });
  return {
    confusion: cm, scores: scores(cm), pixels: cm.tp + cm.fp + cm.fn + cm.tn, messages, truthCoding: coding,
    predictionChangeClasses: changeClasses,
  };
}

/** Labels → 0 no change, 1 change, 2 ignored, 3 outside the label raster; any other value is an error. */
function toTruthCodes(values: Float32Array, coding: TruthCoding, source: string): Uint8Array {
  const change = new Set(coding.change);
  const noChange = new Set(coding.noChange);
  const ignore = new Set(coding.ignore ?? []);
  const out = new Uint8Array(values.length);
  const unknown = new Set<number>();
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (v !== v) out[i] = 3;
    else if (change.has(v)) out[i] = 1;
    else if (noChange.has(v)) out[i] = 0;
    else if (ignore.has(v)) out[i] = 2;
    else { unknown.add(v); out[i] = 2; }
  }
  if (unknown.size) {
    throw new LabelMismatchError('label values outside the given coding', {
      input: source, expected: `change ${[...change].join('/')} or no change ${[...noChange].join('/')}${ignore.size ? ` or ignored ${[...ignore].join('/')}` : ''}`,
      found: `values ${[...unknown].slice(0, 8).join(', ')}`, fix: 'Give the coding with --truth-change, --truth-nochange and --truth-ignore',
    });
  }
  return out;
}

/**
 * Read a prediction: a `detect` output folder (its change.tif, and the preset from summary.json to know the
 * change classes) or a class GeoTIFF (non-zero classes except 255 are change unless `changeClasses` is given).
 */
export async function readPrediction(src: string, changeClasses?: readonly number[]): Promise<{ raster: LabelRaster; changeClasses: readonly number[] }> {
  const st = await stat(src).catch(() => null);
  if (!st) throw new InputNotFoundError('no such file or folder', { input: src, expected: 'a detect output folder or a class GeoTIFF', found: 'nothing' });
  if (st.isDirectory()) {
    const summaryPath = path.join(src, 'summary.json');
    if (!(await stat(summaryPath).catch(() => null))) {
      throw new InputNotFoundError('no summary.json in folder', { input: src, expected: 'a folder written by s2change detect', found: 'no summary.json' });
    }
    const summary = (await readJsonFile(summaryPath, 'the summary.json of a detect run') ?? {}) as { preset?: { name?: string } };
    const preset = getPreset(summary.preset?.name ?? '');
    return { raster: await readLabelRaster(path.join(src, 'change.tif')), changeClasses: changeClasses ?? preset.changeClasses };
  }
  const raster = await readLabelRaster(src);
  if (changeClasses) return { raster, changeClasses };
  const present = new Set<number>();
  for (const v of raster.values) if (v !== 0 && v !== 255 && v === v) present.add(v);
  return { raster, changeClasses: [...present].sort((a, b) => a - b) };
}
