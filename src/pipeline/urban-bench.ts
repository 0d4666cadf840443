/**
 * Training and scoring the learned urban change model on OSCD folders (`bench accuracy --dataset oscd --train`
 * and `--model`). Reads the cities (src/pipeline/bench-accuracy.ts loadItem: both dates onto the imgs_1 10 m
 * grid, labels onto that grid), then uses the pure training code of src/change/urban-training.ts.
 *
 * Leave-one-city-out (LOCO): for each city, a model is trained on the samples of every other city (its threshold
 * chosen by inner cross-validation on those cities only), applied to the whole held-out city and scored against
 * its labels. Pooled scores add the confusion counts of all cities (as the OSCD papers count).
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { MessageChannel } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { UsageError } from '../errors.js';
import type { GbdtParams } from '../change/gbdt.js';
import { applyUrbanModel, type CityScore, type UrbanModel } from '../change/urban-model.js';
import { defaultUrbanFeatureSpec, sceneStatistics, urbanFeatures, type UrbanFeatureSpec } from '../change/urban-features.js';
import { buildUrbanModel, cityScore, sampleCity, trainUrbanLearner, type CitySample } from '../change/urban-training.js';
import { loadItem, type LoadedItem } from './bench-accuracy.js';
import { readDatasets, type BenchItem } from './datasets.js';
import type { UrbanTrainTask } from './urban-train-worker.js';

export type Progress = (done: number, total: number, label: string) => void;

export interface UrbanTrainOptions {
  /** Pixels sampled per class per city (default 4000). */
  perClass?: number;
  gbdt?: Partial<GbdtParams>;
  innerFolds?: number;
  /** Run leave-one-city-out (default true). */
  loco?: boolean;
  spec?: UrbanFeatureSpec;
  onProgress?: Progress;
  seed?: number;
  /** Worker threads that train the models in parallel (default 0: this thread, with a per-tree progress bar). */
  threads?: number;
  /** Co-register each city's after date onto its before date, as `detect` does (default true). */
  coregister?: boolean;
}

/** A piscina pool of training workers that hold the city samples, or null when not running from compiled code. */
async function trainingPool(samples: CitySample[], threads: number): Promise<Piscina | null> {
  const script = fileURLToPath(new URL('./urban-train-worker.js', import.meta.url));
  if (!existsSync(script)) return null;
  return new Piscina({ filename: script, minThreads: threads, maxThreads: threads, workerData: { samples }, idleTimeout: 60_000 });
}

export interface UrbanScores {
  protocol: string;
  pooled: CityScore;
  perCity: (CityScore & { threshold?: number })[];
}

export interface UrbanTrainResult {
  model: UrbanModel;
  loco?: UrbanScores;
  seconds: number;
  notes: string[];
}

/** Counts of a class map (1 change) against truth codes (0 no change, 1 change, others ignored). */
export function countAgainstTruth(classes: Uint8Array, truth: Uint8Array): { tp: number; fp: number; fn: number } {
  let tp = 0, fp = 0, fn = 0;
  for (let i = 0; i < truth.length; i++) {
    const t = truth[i]!;
    if (t > 1) continue;
    const p = classes[i] === 1;
    if (p && t === 1) tp++; else if (p) fp++; else if (t === 1) fn++;
  }
  return { tp, fp, fn };
}

function pooled(rows: readonly CityScore[]): CityScore {
  const s = rows.reduce((a, r) => ({ tp: a.tp + r.tp, fp: a.fp + r.fp, fn: a.fn + r.fn }), { tp: 0, fp: 0, fn: 0 });
  return cityScore('pooled', s.tp, s.fp, s.fn);
}

async function loadOscd(roots: readonly string[]): Promise<{ items: BenchItem[]; notes: string[] }> {
  const ds = await readDatasets('oscd', roots);
  return { items: ds.items, notes: ds.notes };
}

function applyToLoaded(model: UrbanModel, it: LoadedItem): Uint8Array {
  if (!it.before) throw new UsageError('the urban model needs two dates', { input: it.item.id, expected: 'a before and an after scene' });
  return applyUrbanModel(model, it.before, it.after, it.grid.width, it.grid.height, it.valid, { source: it.item.id }).classes;
}

/**
 * Train the urban model on every city under `roots` (OSCD layout); with `loco`, first score it by
 * leave-one-city-out. The model's `scores` hold the LOCO result.
 */
export async function trainUrbanOnOscd(roots: readonly string[], opts: UrbanTrainOptions = {}): Promise<UrbanTrainResult> {
  const t0 = Date.now();
  const spec = opts.spec ?? defaultUrbanFeatureSpec();
  const perClass = opts.perClass ?? 4000;
  const { items, notes } = await loadOscd(roots);
  const loco = (opts.loco ?? true) && items.length >= 3;
  const trees = { ...{ trees: 150 }, ...opts.gbdt }.trees!;
  const inner = Math.max(2, Math.min(opts.innerFolds ?? 2, items.length - 1));
  const perModel = trees * (inner + 1);
  const total = items.length + (loco ? items.length * (perModel + 1) : 0) + perModel;
  let done = 0;
  const say = (label: string) => opts.onProgress?.(done, total, label);

  const samples: CitySample[] = [];
  for (const item of items) {
    say(`read ${item.id}`);
    const it = await loadItem(item, { coregister: opts.coregister });
    if (!it.before) throw new UsageError('OSCD items need two dates', { input: item.id });
    const stats = sceneStatistics(spec, it.before, it.after, it.grid.width, it.grid.height, it.valid);
    const f = urbanFeatures(spec, it.before, it.after, it.grid.width, it.grid.height, it.valid, stats);
    samples.push(sampleCity(item.id, f, it.truth, perClass, opts.seed ?? 1));
    done++;
  }
  const learnerOptions = { gbdt: opts.gbdt, innerFolds: inner };
  const threads = opts.threads ?? 0;
  const pool = threads > 0 ? await trainingPool(samples, threads) : null;
  /** Train without city `exclude` (−1: on all): on the worker pool, or here with a per-tree progress bar. */
  const train = async (exclude: number, label: string) => {
    const base = done;
    if (pool) {
      // trees grown in this model so far, reported by the worker through a message port
      const { port1, port2 } = new MessageChannel();
      let grown = 0;
      let finished = false;
      port1.on('message', (d: number) => { if (finished || d <= grown) return; done += d - grown; grown = d; say(label); });
      try {
        const task: UrbanTrainTask = { exclude, options: learnerOptions, progress: port2 };
        const r = await pool.run(task, { transferList: [port2] }) as ReturnType<typeof trainUrbanLearner>;
        finished = true;
        done += perModel - grown;
        say(label);
        return r;
      } finally {
        port1.close();
      }
    }
    const r = trainUrbanLearner(samples.filter((_, k) => k !== exclude), {
      ...learnerOptions, onTree: (d) => { done = base + d; if (d % 10 === 0) say(label); },
    });
    done = base + perModel;
    return r;
  };

  let locoScores: UrbanScores | undefined;
  let trained: ReturnType<typeof trainUrbanLearner>;
  try {
    const finalModel = pool ? train(-1, 'trained on every city') : null;
    if (loco) {
      const folds = items.map((item, k) => train(k, `LOCO: trained without ${item.id}`));
      if (!pool) for (const f of folds) await f; // sequential already; keeps order of progress
      const rows: (CityScore & { threshold?: number })[] = [];
      for (const [k, item] of items.entries()) {
        const t = await folds[k]!;
        const m = buildUrbanModel(spec, t, { dataset: 'oscd', cities: items.filter((_, j) => j !== k).map((i) => i.id), samplesPerCity: perClass, seconds: 0 });
        say(`LOCO: apply to ${item.id}`);
        const it = await loadItem(item, { coregister: opts.coregister });
        const c = countAgainstTruth(applyToLoaded(m, it), it.truth);
        rows.push({ ...cityScore(item.id, c.tp, c.fp, c.fn), threshold: t.threshold });
        done++;
      }
      locoScores = {
        protocol: `leave-one-city-out over ${items.length} OSCD cities: trained on the others (threshold by inner ${inner}-fold grouped CV on them), applied to the whole held-out city`,
        pooled: pooled(rows), perCity: rows,
      };
    }
    trained = finalModel ? await finalModel : await train(-1, 'train on every city');
  } finally {
    await pool?.destroy();
  }
  const seconds = (Date.now() - t0) / 1000;
  const model = buildUrbanModel(spec, trained, {
    dataset: `OSCD (${roots.join(', ')})`, cities: items.map((i) => i.id), samplesPerCity: perClass, seconds,
    ...(locoScores ? { scores: locoScores } : {}),
  });
  opts.onProgress?.(total, total, 'done');
  return { model, loco: locoScores, seconds, notes };
}

export interface UrbanScoreResult {
  dataset: 'oscd';
  roots: string[];
  model: { trainedOn: string[]; threshold: number; createdAt: string; locoPooledF1?: number };
  pooled: CityScore;
  perCity: CityScore[];
  /** Cities the model was trained on that are scored here (their scores are not independent). */
  seenInTraining: string[];
  notes: string[];
  seconds: number;
}

/** Apply a model to every city under `roots` and score it (per city and pooled). */
export async function scoreUrbanModel(model: UrbanModel, roots: readonly string[], onProgress?: Progress,
  opts: { coregister?: boolean } = {}): Promise<UrbanScoreResult> {
  const t0 = Date.now();
  const { items, notes } = await loadOscd(roots);
  const rows: CityScore[] = [];
  for (const [k, item] of items.entries()) {
    onProgress?.(k, items.length, `apply to ${item.id}`);
    const it = await loadItem(item, opts);
    const c = countAgainstTruth(applyToLoaded(model, it), it.truth);
    rows.push(cityScore(item.id, c.tp, c.fp, c.fn));
  }
  onProgress?.(items.length, items.length, 'done');
  const seen = items.map((i) => i.id).filter((id) => model.training.cities.includes(id));
  if (seen.length) notes.push(`the model was trained on ${seen.join(', ')}: their scores are training scores, not independent`);
  return {
    dataset: 'oscd', roots: [...roots],
    model: { trainedOn: model.training.cities, threshold: model.threshold, createdAt: model.createdAt, locoPooledF1: model.scores?.pooled.f1 },
    pooled: pooled(rows), perCity: rows, seenInTraining: seen, notes, seconds: (Date.now() - t0) / 1000,
  };
}

const pct = (v: number) => (Number.isNaN(v) ? 'n/a' : (100 * v).toFixed(1));

/** A Markdown table of per-city and pooled scores. */
export function formatUrbanScores(title: string, pooledRow: CityScore, perCity: readonly (CityScore & { threshold?: number })[]): string {
  const th = perCity.some((r) => r.threshold !== undefined);
  let out = `### ${title}\n\n| city | TP | FP | FN | precision % | recall % | F1 % |${th ? ' threshold |' : ''}\n|---|---:|---:|---:|---:|---:|---:|${th ? '---:|' : ''}\n`;
  for (const r of [...perCity, pooledRow]) {
    const name = r === pooledRow ? '**pooled**' : r.city;
    out += `| ${name} | ${r.tp} | ${r.fp} | ${r.fn} | ${pct(r.precision)} | ${pct(r.recall)} | ${pct(r.f1)} |${th ? ` ${(r as { threshold?: number }).threshold ?? ''} |` : ''}\n`;
  }
  return out;
}
