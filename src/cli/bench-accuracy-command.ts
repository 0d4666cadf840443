/**
 * `s2change bench accuracy`: score every method on every labelled item of a dataset folder.
 * Table on stdout (or JSON with --json), progress bar on stderr.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import type { OverlayOptions } from 'sharp';
import { InputNotFoundError, UsageError } from '../errors.js';
import type { BenchResult, ItemMaps, ScoreRow } from '../pipeline/bench-accuracy.js';
import { BENCH_METHODS } from '../pipeline/bench-methods.js';
import { DATASETS, type DatasetName } from '../pipeline/datasets.js';
import { parseChoice, parseList, parseNumber } from './options.js';

interface Flags {
  dataset: string; root: string[]; methods?: string; json?: boolean; out?: string; model?: string; train?: string; figure?: string; figureItem?: string;
  loco: boolean; trees?: string; depth?: string; sample?: string; innerFolds?: string; threads?: string; coregister?: boolean;
}

/** A progress bar on stderr: redrawn in place on a terminal, one line per step otherwise. */
export function progressBar(stream: NodeJS.WriteStream = process.stderr): (done: number, total: number, label: string) => void {
  const t0 = Date.now();
  return (done, total, label) => {
    const w = 24;
    const f = total ? Math.round((w * done) / total) : w;
    const line = `[${'#'.repeat(f)}${'.'.repeat(w - f)}] ${done}/${total} ${((Date.now() - t0) / 1000).toFixed(0)}s ${label}`;
    if (stream.isTTY) stream.write(`\r${line.slice(0, (stream.columns ?? 100) - 1).padEnd((stream.columns ?? 100) - 1)}${done === total ? '\n' : ''}`);
    else stream.write(`${line}\n`);
  };
}

const pct = (v: number) => (Number.isNaN(v) ? 'n/a' : (100 * v).toFixed(2));
const kap = (v: number) => (Number.isNaN(v) ? 'n/a' : v.toFixed(3));

/** The result as a Markdown table (per item, pooled aggregate, mean over items). */
export function formatBenchTable(r: BenchResult): string {
  const head = '| item | method | TP | FP | FN | TN | precision % | recall % | F1 % | IoU % | kappa |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n';
  const line = (id: string, m: string, s: ScoreRow) => `| ${id} | ${m} | ${s.tp} | ${s.fp} | ${s.fn} | ${s.tn} | ${pct(s.precision)} | ${pct(s.recall)} | ${pct(s.f1)} | ${pct(s.iou)} | ${kap(s.kappa)} |\n`;
  let out = `## ${r.dataset} — ${r.root}\n\n${r.notes.map((n) => `- ${n}`).join('\n')}\n\n### Per item\n\n${head}`;
  for (const x of r.items) out += line(x.id, x.method, x);
  out += `\n### Pooled over all pixels of all items\n\n${head}`;
  for (const [m, s] of Object.entries(r.aggregate)) out += line('**all**', m, s);
  out += '\n### Mean over items\n\n| method | items | precision % | recall % | F1 % | IoU % | kappa |\n|---|---:|---:|---:|---:|---:|---:|\n';
  for (const [m, s] of Object.entries(r.meanOverItems)) out += `| ${m} | ${s.items} | ${pct(s.precision)} | ${pct(s.recall)} | ${pct(s.f1)} | ${pct(s.iou)} | ${kap(s.kappa)} |\n`;
  out += `\n(${r.seconds.toFixed(1)} s)\n`;
  return out;
}

const TILE = 220;

/** RGB bytes of three reflectance planes, each stretched between its 2nd and 98th percentile. */
function stretchRgb(rgb: [Float32Array, Float32Array, Float32Array], n: number): Uint8Array {
  const out = new Uint8Array(n * 3);
  rgb.forEach((band, c) => {
    const sorted = Float32Array.from(band.filter((v) => v === v)).sort();
    const lo = sorted[Math.floor(0.02 * (sorted.length - 1))] ?? 0;
    const hi = sorted[Math.floor(0.98 * (sorted.length - 1))] ?? 1;
    for (let i = 0; i < n; i++) out[i * 3 + c] = Math.max(0, Math.min(255, Math.round((255 * (band[i]! - lo)) / (hi - lo || 1))));
  });
  return out;
}

/** Map vs truth: TP green, FP red, FN magenta, TN dark grey, unlabelled / no prediction black. */
function errorColours(pred: Uint8Array | null, truth: Uint8Array): Uint8Array {
  const out = new Uint8Array(truth.length * 3);
  for (let i = 0; i < truth.length; i++) {
    const t = truth[i]!;
    const p = pred ? pred[i] === 1 : t === 1;
    const c = t > 1 ? [0, 0, 0] : pred === null ? (t === 1 ? [255, 255, 255] : [60, 60, 60])
      : p && t === 1 ? [40, 200, 40] : p ? [230, 40, 30] : t === 1 ? [230, 40, 230] : [60, 60, 60];
    out.set(c, i * 3);
  }
  return out;
}

/**
 * A method-comparison figure of one item: before, after, truth, then every method's map coloured by agreement
 * with the truth (TP green, FP red, FN magenta, TN grey), with captions. PNG via sharp.
 */
export async function writeComparisonFigure(m: ItemMaps, dataset: string, file: string): Promise<void> {
  const { default: sharp } = await import('sharp');
  const n = m.width * m.height;
  const tiles: { label: string; rgb: Uint8Array }[] = [];
  if (m.before) tiles.push({ label: 'before', rgb: stretchRgb(m.before, n) });
  tiles.push({ label: 'after', rgb: stretchRgb(m.after, n) });
  tiles.push({ label: 'truth (white = change)', rgb: errorColours(null, m.truth) });
  for (const [name, map] of Object.entries(m.maps)) tiles.push({ label: name, rgb: errorColours(map, m.truth) });
  const scale = TILE / Math.max(m.width, m.height);
  const tw = Math.round(m.width * scale);
  const th = Math.round(m.height * scale);
  const cols = Math.min(4, tiles.length);
  const rows = Math.ceil(tiles.length / cols);
  const cap = 18;
  const W = cols * (tw + 6) + 6;
  const H = rows * (th + cap + 6) + 6 + 22;
  const composites: OverlayOptions[] = [];
  const esc = (t: string) => t.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  let svg = `<svg width="${W}" height="${H}" xmlns="http://www.w3.org/2000/svg"><style>text{font-family:sans-serif;font-size:13px;fill:#111}</style>`;
  svg += `<text x="6" y="16">${esc(`${dataset} ${m.id}: TP green, FP red, FN magenta, TN grey`)}</text>`;
  for (const [k, t] of tiles.entries()) {
    const x = 6 + (k % cols) * (tw + 6);
    const y = 22 + 6 + Math.floor(k / cols) * (th + cap + 6);
    const input = await sharp(Buffer.from(t.rgb), { raw: { width: m.width, height: m.height, channels: 3 } })
      .resize(tw, th, { kernel: 'nearest' }).png().toBuffer();
    composites.push({ input, left: x, top: y + cap });
    svg += `<text x="${x}" y="${y + 13}">${esc(t.label)}</text>`;
  }
  svg += '</svg>';
  composites.unshift({ input: Buffer.from(svg), left: 0, top: 0 });
  await sharp({ create: { width: W, height: H, channels: 3, background: { r: 255, g: 255, b: 255 } } })
    .composite(composites).png({ palette: true, colours: 128 }).toFile(file);
}

/** Add `accuracy` to an existing `bench` command. */
export function registerBenchAccuracy(bench: Command): void {
  bench
    .command('accuracy')
    .description('run every method on every labelled item of a dataset and score it (per item, pooled, mean over items)')
    .requiredOption('--dataset <name>', DATASETS.join(' | '))
    .option('--root <dir>', 'the dataset folder (e.g. ../shared/data/oscd); repeat to merge folders (OSCD train and test)', (v: string, prev: string[]) => [...prev, v], [] as string[])
    .option('--methods <list>', `methods to run (default all). ${DATASETS.map((d) => `${d}: ${BENCH_METHODS[d].map((m) => m.name).join(',')}`).join('; ')}`)
    .option('--model <file>', "oscd: score this urban model (written by --train) on every city; other datasets: score this model as 'supervised'")
    .option('--train <file>', 'oscd: train the urban model on every city of the --root folders, score it leave-one-city-out, write it to FILE (JSON); other datasets: train the supervised model and stop')
    .option('--no-loco', 'oscd --train: skip the leave-one-city-out scores (train only)')
    .option('--trees <n>', 'oscd --train: boosted trees per model (default 150)')
    .option('--depth <n>', 'oscd --train: tree depth (default 6)')
    .option('--sample <n>', 'oscd --train: pixels sampled per class per city (default 4000)')
    .option('--inner-folds <n>', 'oscd --train: city groups of the inner cross-validation that picks the threshold (default 2)')
    .option('--threads <n>', 'oscd --train: worker threads training models in parallel (default: one per core)')
    .option('--figure <png>', 'write a method-comparison figure of one item (the first, or --figure-item)')
    .option('--figure-item <id>', 'item for --figure')
    .option('--coregister', 'co-register each after date onto its before date even where the dataset\'s default is off (OMBRIA)')
    .option('--no-coregister', 'read each after date as it is (default: co-registered onto the before date as detect does, except OMBRIA, whose labels lie on the after date)')
    .option('--json', 'machine-readable result on stdout')
    .option('--out <dir>', 'also write accuracy-<dataset>.json and accuracy-<dataset>.md into this folder')
    .action(async (f: Flags) => {
      const { checkModel } = await import('../change/supervised.js');
      const { benchAccuracy, trainOnDataset } = await import('../pipeline/bench-accuracy.js');
      const dataset = parseChoice('--dataset', f.dataset, DATASETS) as DatasetName;
      const onProgress = progressBar();
      if (f.root.length === 0) throw new UsageError('no dataset folder given', { input: '--root', expected: 'one or more --root DIR', fix: 'e.g. --root ../shared/data/oscd' });
      if (dataset === 'oscd' && (f.train || f.model)) {
        await runUrban(f, onProgress);
        return;
      }
      if (f.root.length > 1 && f.train) {
        throw new UsageError('the supervised model is trained on one folder', { input: `--root ${f.root.join(' --root ')}`, expected: 'one --root with --train (several are merged for the OSCD urban model only)' });
      }
      const root = f.root[0]!;
      if (f.train) {
        const model = await trainOnDataset(dataset, root, { onProgress });
        await writeFile(f.train, JSON.stringify(model));
        process.stderr.write(`model (${model.training.trees} trees, ${model.featureNames.length} features, trained on ${model.training.trainedOn.length} items) written to ${f.train}\n`);
        return;
      }
      let model;
      if (f.model !== undefined) {
        const { readJsonFile } = await import('../io/local-file.js');
        model = checkModel(await readJsonFile(f.model, 'the --model file (a model JSON written by --train)'), f.model);
      }
      const r = await benchAccuracy({
        dataset, root: f.root.length === 1 ? root : f.root, methods: f.methods !== undefined ? parseList(f.methods, '--methods') : undefined, model, onProgress,
        keepMapsOf: f.figure ? f.figureItem ?? '\u0000first' : undefined, coregister: f.coregister,
      });
      if (f.figure) {
        if (!r.maps) throw new InputNotFoundError('no such item for --figure', { input: `--figure-item ${f.figureItem}`, expected: r.items.map((i) => i.id).filter((v, i, a) => a.indexOf(v) === i).join(', ') });
        await writeComparisonFigure(r.maps, dataset, f.figure);
        delete r.maps;
      }
      if (f.out) {
        await mkdir(f.out, { recursive: true });
        await writeFile(path.join(f.out, `accuracy-${dataset}.json`), `${JSON.stringify(r, null, 2)}\n`);
        await writeFile(path.join(f.out, `accuracy-${dataset}.md`), formatBenchTable(r));
      }
      process.stdout.write(f.json ? `${JSON.stringify(r, null, 2)}\n` : formatBenchTable(r));
    });
}

/** `bench accuracy --dataset oscd --train FILE | --model FILE`: the learned urban model. */
async function runUrban(f: Flags, onProgress: ReturnType<typeof progressBar>): Promise<void> {
  const { trainUrbanOnOscd, scoreUrbanModel, formatUrbanScores } = await import('../pipeline/urban-bench.js');
  const { parseUrbanModel } = await import('../change/urban-model.js');
  if (f.train && f.model) throw new UsageError('--train and --model exclude each other', { input: '--train/--model', fix: 'Train first, then score the written model with --model' });
  if (f.methods || f.figure) throw new UsageError('--methods and --figure are not used with the urban model', { input: f.methods ? '--methods' : '--figure' });
  if (f.train) {
    const int = (name: string, v: string | undefined, min: number, max: number) => (v === undefined ? undefined : parseNumber(name, v, min, max));
    const trees = int('--trees', f.trees, 1, 5000);
    const depth = int('--depth', f.depth, 1, 16);
    const r = await trainUrbanOnOscd(f.root, {
      loco: f.loco, perClass: int('--sample', f.sample, 10, 1e7), innerFolds: int('--inner-folds', f.innerFolds, 2, 50),
      gbdt: { ...(trees !== undefined ? { trees: Math.round(trees) } : {}), ...(depth !== undefined ? { maxDepth: Math.round(depth) } : {}) },
      threads: f.threads === undefined ? availableParallelism() : Math.round(parseNumber('--threads', f.threads, 0, 64)),
      coregister: f.coregister !== false,
      onProgress,
    });
    await writeFile(f.train, JSON.stringify(r.model));
    const m = r.model;
    if (f.json) process.stdout.write(`${JSON.stringify({ model: f.train, training: m.training, threshold: m.threshold, thresholdSelection: m.thresholdSelection, loco: r.loco ?? null, notes: r.notes, seconds: r.seconds }, null, 2)}\n`);
    else {
      let out = `## urban model — ${f.root.join(', ')}\n\n${r.notes.map((n) => `- ${n}`).join('\n')}\n\n`;
      if (r.loco) out += `${formatUrbanScores(`Leave-one-city-out (${r.loco.perCity.length} cities)`, r.loco.pooled, r.loco.perCity)}\n${r.loco.protocol}\n\n`;
      out += `Model: ${m.learner.trees.length} trees of depth ≤ ${m.learner.params.maxDepth}, ${m.featureNames.length} features, threshold ${m.threshold} (inner CV F1 ${m.thresholdSelection.f1.toFixed(3)}), trained on ${m.training.cities.length} cities (${m.training.samples} pixels) in ${r.seconds.toFixed(0)} s; written to ${f.train}.\n`;
      out += `Labels: ${m.labelLicence}\n`;
      process.stdout.write(out);
    }
    return;
  }
  const text = await readFile(f.model!, 'utf8').catch(() => {
    throw new InputNotFoundError('cannot read the model', { input: `--model ${f.model}`, expected: 'a model JSON written by --train', found: 'no readable file' });
  });
  const model = parseUrbanModel(text, f.model!);
  const r = await scoreUrbanModel(model, f.root, onProgress, { coregister: f.coregister !== false });
  if (f.out) {
    await mkdir(f.out, { recursive: true });
    await writeFile(path.join(f.out, 'accuracy-oscd-urban.json'), `${JSON.stringify(r, null, 2)}\n`);
  }
  if (f.json) process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
  else {
    process.stdout.write(`## urban model ${f.model} — ${f.root.join(', ')}\n\n${r.notes.map((n) => `- ${n}`).join('\n')}\n\n`
      + `${formatUrbanScores('Per city and pooled', r.pooled, r.perCity)}\n(${r.seconds.toFixed(1)} s)\n`);
  }
}
