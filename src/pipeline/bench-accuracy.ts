/**
 * `bench accuracy`: run every method on every labelled item of a dataset and score it against the labels —
 * per item, pooled over all pixels of all items (as the OSCD papers count), and as a mean over items.
 *
 * Each item's bands are read once onto one grid (the before scene's finest used band, clipped to the overlap
 * with the after scene — as `detect` does) and every method then runs on those arrays through the same preset
 * code as `s2change detect`. The supervised method is cross-validated by leaving one group out (an OSCD city,
 * a fire, a flood event): it is never trained on the group it is tested on.
 */
import { LabelMismatchError, S2ChangeError, UsageError } from '../errors.js';
import type { BandName } from '../indices/bands.js';
import type { BandArrays } from '../indices/registry.js';
import { getPreset } from '../change/presets/index.js';
import {
  classifyFeatures, defaultFeatureSpec, extractFeatures, trainSupervised, type FeatureSpec, type Features,
  type SupervisedModel, type TrainOptions,
} from '../change/supervised.js';
import { aggregate, confusionMatrix, meanScores, scores, type ConfusionMatrix, type Scores } from '../eval/metrics.js';
import { isGeoreferenced, sameGrid, type Grid } from '../raster/grid.js';
import { resample } from '../raster/resample.js';
import { openScene, shiftScene, type Scene } from '../io/scene.js';
import { estimateCoregistration, groundShiftOf, skippedCoregistration, type CoregistrationReport } from './coregistration.js';
import { finestGrid, overlapGrid, readOnGrid } from './align.js';
import { readDataset, readDatasets, type BenchItem, type Dataset, type DatasetName } from './datasets.js';
import { readLabelRaster, type TruthCoding } from './evaluate.js';
import { BENCH_METHODS, SUPERVISED, type BenchMethod } from './bench-methods.js';

export { BENCH_METHODS, type BenchMethod } from './bench-methods.js';

/** Bands read for every item (those present on both dates). 60 m atmospheric bands are not used. */
const READ_BANDS: readonly BandName[] = ['B02', 'B03', 'B04', 'B05', 'B06', 'B07', 'B08', 'B8A', 'B11', 'B12'];

/** An item read onto one grid: bands of both dates, validity and truth codes (0 no change, 1 change, 2 ignored, 3 outside). */
export interface LoadedItem {
  item: BenchItem;
  grid: Grid;
  before?: BandArrays;
  after: BandArrays;
  valid: Uint8Array;
  truth: Uint8Array;
  georeferenced: boolean;
  messages: string[];
  /** The after date's shift onto the before date, as `detect` measures and applies it. */
  coregistration: CoregistrationReport;
}

/** Label values → 0 no change, 1 change, 2 ignored, 3 outside (NaN); other values are a LabelMismatchError. */
export function truthCodes(values: ArrayLike<number>, coding: TruthCoding, source: string): Uint8Array {
  const out = new Uint8Array(values.length);
  const change = new Set(coding.change);
  const noChange = new Set(coding.noChange);
  const ignore = new Set(coding.ignore ?? []);
  const unknown = new Set<number>();
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    out[i] = v !== v ? 3 : change.has(v) ? 1 : noChange.has(v) ? 0 : ignore.has(v) ? 2 : (unknown.add(v), 2);
  }
  if (unknown.size) {
    throw new LabelMismatchError('label values outside the dataset\'s coding', {
      input: source, expected: `change ${coding.change.join('/')}, no change ${coding.noChange.join('/')}${ignore.size ? `, ignored ${[...ignore].join('/')}` : ''}`,
      found: `values ${[...unknown].slice(0, 8).join(', ')}`, fix: 'Check that --dataset matches the folder\'s layout',
    });
  }
  return out;
}

/**
 * Read an item's bands (both dates) onto one grid, and its labels onto that grid. The after date is co-registered
 * onto the before date as `detect` does it (`coregister: false` reads it as it is).
 */
export async function loadItem(item: BenchItem, opts: { coregister?: boolean; offReason?: string } = {}): Promise<LoadedItem> {
  const opened = await openScene(item.after, { bands: item.bands });
  let after = opened;
  let before: Scene | null = null;
  try {
    if (item.before) before = await openScene(item.before, { bands: item.bands });
    const bands = READ_BANDS.filter((b) => after.bands.has(b) && (!before || before.bands.has(b)));
    const base = before ?? after;
    const grid = overlapGrid(finestGrid(base, bands), before ? [{ grid: finestGrid(after, bands), input: after.input }] : [], null, base.input);
    const n = grid.width * grid.height;
    const coregistration = !before ? skippedCoregistration('single-date item')
      : opts.coregister === false && opts.offReason ? skippedCoregistration(opts.offReason)
        : await estimateCoregistration(before, after, grid, { enabled: opts.coregister });
    const shift = groundShiftOf(coregistration, grid);
    if (shift) after = shiftScene(after, shift);
    const read = async (s: Scene) => {
      const out: BandArrays = {};
      for (const b of bands) out[b] = await readOnGrid(s.bands.get(b)!, grid);
      return out;
    };
    const a = await read(after);
    const bb = before ? await read(before) : undefined;
    const valid = new Uint8Array(n).fill(1);
    for (const d of [a, bb]) {
      if (!d) continue;
      for (const arr of Object.values(d)) for (let i = 0; i < n; i++) if (arr![i] !== arr![i]) valid[i] = 0;
    }
    const label = await readLabelRaster(item.truth);
    const messages: string[] = [];
    let labelGrid = label.grid;
    if (item.truthOnBeforeBand && before && !(labelGrid && isGeoreferenced(labelGrid.crs))) {
      const g = before.bands.get(item.truthOnBeforeBand)!.grid;
      if (g.width !== label.width || g.height !== label.height) {
        throw new LabelMismatchError('labels are not the size of the before scene\'s 10 m grid', {
          input: item.truth, expected: `${g.width}×${g.height} (${item.truthOnBeforeBand} of ${item.before})`, found: `${label.width}×${label.height}`,
        });
      }
      labelGrid = g;
    }
    let values: Float32Array = label.values;
    if (labelGrid && isGeoreferenced(labelGrid.crs) && isGeoreferenced(grid.crs)) {
      if (!sameGrid(labelGrid, grid)) {
        values = resample(label.values, labelGrid, grid, 'nearest');
        messages.push('labels read onto the scene grid by geotransform (nearest neighbour)');
      }
    } else if (label.width !== grid.width || label.height !== grid.height) {
      throw new LabelMismatchError('labels and scene differ in size and cannot be aligned', {
        input: item.truth, expected: `${grid.width}×${grid.height} or georeferenced labels`, found: `${label.width}×${label.height}`,
      });
    }
    return {
      item, grid, before: bb, after: a, valid, truth: truthCodes(values, item.coding, item.truth),
      georeferenced: after.georeferenced && (before?.georeferenced ?? true), messages, coregistration,
    };
  } finally {
    await opened.close();
    await before?.close();
  }
}

/** Confusion-matrix counts and scores of one method on one item (or pooled). */
export type ScoreRow = Pick<ConfusionMatrix, 'tp' | 'fp' | 'fn' | 'tn'> & Omit<Scores, 'overallAccuracy'> & { overallAccuracy: number };

export interface BenchItemRow extends ScoreRow {
  id: string;
  method: string;
}

export interface BenchResult {
  dataset: DatasetName;
  root: string;
  notes: string[];
  methods: { name: string; description: string }[];
  items: BenchItemRow[];
  /** Pooled over all labelled pixels of all items, per method. */
  aggregate: Record<string, ScoreRow>;
  /** Mean of per-item scores (items where a score is undefined are left out of that mean). */
  meanOverItems: Record<string, Omit<Scores, never> & { items: number }>;
  seconds: number;
  maps?: ItemMaps;
  /** Per item: the after date's shift onto the before date, applied or skipped and why. */
  coregistration: (CoregistrationReport & { id: string })[];
}

export interface BenchOptions {
  dataset: string;
  /** The dataset folder, or several (their items are merged; OSCD train and test folders). */
  root: string | readonly string[];
  /** Method names (default: all of the dataset's). */
  methods?: string[];
  /** Use this model for 'supervised' instead of leave-one-group-out training. */
  model?: SupervisedModel;
  train?: TrainOptions;
  onProgress?: (done: number, total: number, label: string) => void;
  /** Keep the class maps (1 change, 0 no change, 255 none) of this item ('\u0000first': the first) for a figure (BenchResult.maps). */
  keepMapsOf?: string;
  /** Co-register each item's after date onto its before date, as `detect` does (default: the dataset's default, see Dataset.coregister). */
  coregister?: boolean;
}

/** One item's inputs and every method's change map, for a figure. */
export interface ItemMaps {
  id: string;
  width: number;
  height: number;
  /** Reflectance red, green, blue of each date (true colour B04,B03,B02, else what there is). */
  before?: [Float32Array, Float32Array, Float32Array];
  after: [Float32Array, Float32Array, Float32Array];
  truth: Uint8Array;
  /** Method → 1 change, 0 no change, 255 no prediction. */
  maps: Record<string, Uint8Array>;
}

function row(cm: ConfusionMatrix): ScoreRow {
  const s = scores(cm);
  return { tp: cm.tp, fp: cm.fp, fn: cm.fn, tn: cm.tn, ...s };
}

/** Score a class map: `changeClasses` mean change, 255 = no prediction (counted as no change). */
function binary(classes: Uint8Array, changeClasses: readonly number[]): Uint8Array {
  const isChange = new Set(changeClasses);
  return classes.map((c) => (c === 255 ? 255 : isChange.has(c) ? 1 : 0));
}

function rgbOf(b: BandArrays | undefined): [Float32Array, Float32Array, Float32Array] | undefined {
  if (!b) return undefined;
  for (const set of [['B04', 'B03', 'B02'], ['B11', 'B08', 'B03'], ['B12', 'B08', 'B03']] as const) {
    if (set.every((x) => b[x])) return set.map((x) => b[x]!) as [Float32Array, Float32Array, Float32Array];
  }
  return undefined;
}

export function scoreClasses(classes: Uint8Array, changeClasses: readonly number[], truth: Uint8Array, name: string): ConfusionMatrix {
  const isChange = new Set(changeClasses);
  const p = new Uint8Array(classes.length);
  for (let i = 0; i < p.length; i++) p[i] = classes[i] === 255 ? 255 : isChange.has(classes[i]!) ? 1 : 0;
  return confusionMatrix(p, truth, { truthChange: [1], truthNoChange: [0], ignore: [2, 3], name });
}

/** Pick the dataset's methods by name; unknown names are a UsageError listing the known ones. */
export function selectMethods(dataset: DatasetName, names?: string[]): BenchMethod[] {
  const all = BENCH_METHODS[dataset];
  if (!names || names.length === 0) return [...all];
  return names.map((n) => {
    const m = all.find((x) => x.name === n);
    if (!m) throw new UsageError('unknown method for this dataset', { input: `--methods ${n}`, expected: all.map((x) => x.name).join(' | '), found: n });
    return m;
  });
}

/** Run one preset-based method on a loaded item; returns the class map and the preset's change classes. */
export function runMethod(m: BenchMethod, it: LoadedItem): { classes: Uint8Array; changeClasses: readonly number[] } {
  const preset = getPreset(m.preset);
  const drop = (b?: BandArrays) => {
    if (!b || !m.withoutBands) return b;
    const c = { ...b };
    for (const x of m.withoutBands) delete c[x];
    return c;
  };
  const r = preset.run({ width: it.grid.width, height: it.grid.height, before: drop(it.before), after: drop(it.after)!, valid: it.valid, options: m.options });
  return { classes: r.classes, changeClasses: preset.changeClasses };
}

/** The feature spec shared by all items: the default spec of the bands every item has on both dates. */
export function commonFeatureSpec(items: readonly LoadedItem[]): FeatureSpec {
  const common = new Set<BandName>(READ_BANDS);
  for (const it of items) for (const b of [...common]) if (!it.after[b] || !it.before?.[b]) common.delete(b);
  return defaultFeatureSpec(common);
}

/** Train the supervised model on every item of a dataset (for `--train FILE`). */
export async function trainOnDataset(dataset: string, root: string, opts: TrainOptions & { onProgress?: BenchOptions['onProgress'] } = {}): Promise<SupervisedModel> {
  const ds = await readDataset(dataset, root);
  if (ds.name === 'sen1floods11') throw new UsageError('sen1floods11 is single-date; the supervised change model needs pairs', { input: '--dataset sen1floods11', fix: 'Train on oscd, calfire or ombria' });
  const loaded: LoadedItem[] = [];
  for (const [k, item] of ds.items.entries()) {
    opts.onProgress?.(k, ds.items.length + 1, `read ${item.id}`);
    loaded.push(await loadItem(item, { coregister: ds.coregister?.default ?? true, offReason: `off by default for ${ds.name}` }));
  }
  const spec = commonFeatureSpec(loaded);
  const scenes = loaded.map((it) => ({ features: extractFeatures(spec, it.before!, it.after, it.grid.width, it.grid.height, it.valid), labels: it.truth }));
  opts.onProgress?.(ds.items.length, ds.items.length + 1, 'train');
  const model = trainSupervised(spec, scenes, { ...opts, trainedOn: ds.items.map((i) => `${ds.name}:${i.id}`) });
  opts.onProgress?.(ds.items.length + 1, ds.items.length + 1, 'done');
  return model;
}

/** Run the accuracy bench on one dataset. */
export async function benchAccuracy(opts: BenchOptions): Promise<BenchResult> {
  const t0 = Date.now();
  const ds: Dataset = typeof opts.root === 'string' ? await readDataset(opts.dataset, opts.root) : await readDatasets(opts.dataset, opts.root);
  const methods = selectMethods(ds.name, opts.methods);
  const plain = methods.filter((m) => m.name !== SUPERVISED);
  const supervised = methods.find((m) => m.name === SUPERVISED);
  const groups = [...new Set(ds.items.map((i) => i.group))];
  const folds = supervised && !opts.model ? groups.length : 0;
  const total = ds.items.length * (plain.length + (supervised ? 1 : 0)) + folds;
  let done = 0;
  const tick = (label: string) => opts.onProgress?.(done++, total, label);
  const say = (label: string) => opts.onProgress?.(done, total, label);
  const cms = new Map<string, Map<string, ConfusionMatrix>>(); // method → item → cm
  for (const m of methods) cms.set(m.name, new Map());
  const notes = [...ds.notes];
  const coregister = opts.coregister ?? ds.coregister?.default ?? true;

  const kept: LoadedItem[] = [];
  const coregistrations: BenchResult['coregistration'] = [];
  let maps: ItemMaps | undefined;
  for (const item of ds.items) {
    say(`read ${item.id}`);
    const it = await loadItem(item, { coregister, offReason: opts.coregister === undefined ? `off by default for ${ds.name}` : undefined });
    coregistrations.push({ id: item.id, ...it.coregistration });
    if (!it.georeferenced) notes.push(`${item.id}: not georeferenced (pixel grid only)`);
    const keep = item.id === opts.keepMapsOf || (opts.keepMapsOf === '\u0000first' && item === ds.items[0]);
    if (keep) maps = { id: item.id, width: it.grid.width, height: it.grid.height, before: rgbOf(it.before), after: rgbOf(it.after)!, truth: it.truth, maps: {} };
    for (const m of plain) {
      tick(`${item.id} ${m.name}`);
      let r: { classes: Uint8Array; changeClasses: readonly number[] };
      try {
        r = runMethod(m, it);
      } catch (err) {
        if (!(err instanceof S2ChangeError)) throw err;
        // A method that cannot run on an item predicts nothing there: scored as "no change", and said so.
        notes.push(`${item.id} ${m.name}: failed (${err.code}: ${err.message.split(';')[0]}); scored as no prediction`);
        r = { classes: new Uint8Array(it.valid.length).fill(255), changeClasses: [] };
      }
      cms.get(m.name)!.set(item.id, scoreClasses(r.classes, r.changeClasses, it.truth, item.truth));
      if (keep) maps!.maps[m.name] = binary(r.classes, r.changeClasses);
    }
    if (supervised) kept.push(it);
  }
  if (supervised) {
    const spec = opts.model?.spec ?? commonFeatureSpec(kept);
    const feats: Features[] = kept.map((it) => extractFeatures(spec, it.before!, it.after, it.grid.width, it.grid.height, it.valid));
    kept.forEach((it) => { it.before = undefined; it.after = {}; });
    const score = (k: number, model: SupervisedModel) => {
      tick(`${kept[k]!.item.id} supervised`);
      const p = classifyFeatures(model, feats[k]!);
      if (maps && kept[k]!.item.id === maps.id) maps.maps[SUPERVISED] = p.classes;
      cms.get(SUPERVISED)!.set(kept[k]!.item.id, scoreClasses(p.classes, [1], kept[k]!.truth, kept[k]!.item.truth));
    };
    if (opts.model) {
      notes.push(`supervised: the given model (trained on ${opts.model.training.trainedOn.join(', ') || 'unknown scenes'}) applied to every item`);
      kept.forEach((_, k) => score(k, opts.model!));
    } else {
      notes.push(`supervised: leave-one-group-out over ${groups.length} groups (${ds.name === 'oscd' ? 'cities' : ds.name === 'calfire' ? 'fires' : 'events'}); never trained on the group it is tested on`);
      for (const g of groups) {
        tick(`train without ${g}`);
        const train = kept.map((it, k) => ({ it, k })).filter(({ it }) => it.item.group !== g);
        if (train.length === 0) { notes.push(`supervised: only one group, no held-out evaluation possible`); break; }
        const model = trainSupervised(spec, train.map(({ it, k }) => ({ features: feats[k]!, labels: it.truth })), opts.train);
        kept.forEach((it, k) => { if (it.item.group === g) score(k, model); });
      }
    }
  }
  opts.onProgress?.(total, total, 'done');
  if (!coregister) notes.push(opts.coregister === false ? 'co-registration: off (--no-coregister)' : `co-registration: off by default for ${ds.name}: ${ds.coregister?.why ?? ''}`);
  else {
    const applied = coregistrations.filter((c) => c.applied);
    notes.push(`co-registration: applied on ${applied.length} of ${coregistrations.length} items${applied.length
      ? ` (${applied.map((c) => `${c.id} ${c.dx!.toFixed(2)},${c.dy!.toFixed(2)} px`).slice(0, 12).join('; ')}${applied.length > 12 ? '; …' : ''})` : ''}`);
  }

  const items: BenchItemRow[] = [];
  for (const item of ds.items) for (const m of methods) {
    const cm = cms.get(m.name)!.get(item.id);
    if (cm) items.push({ id: item.id, method: m.name, ...row(cm) });
  }
  const agg: BenchResult['aggregate'] = {};
  const mean: BenchResult['meanOverItems'] = {};
  for (const m of methods) {
    const list = [...cms.get(m.name)!.values()];
    if (!list.length) continue;
    agg[m.name] = row(aggregate(list));
    const ms = meanScores(list);
    const { counts, ...s } = ms;
    mean[m.name] = { ...s, items: counts.f1 };
  }
  return {
    dataset: ds.name, root: ds.root, notes, methods: methods.map(({ name, description }) => ({ name, description })),
    items, aggregate: agg, meanOverItems: mean, seconds: (Date.now() - t0) / 1000, ...(maps ? { maps } : {}),
    coregistration: coregistrations,
  };
}
