/**
 * `npm run bench:urban` (= `node dist/bench/urban-model-cost.js [--size N] [--threads N]`): what the learned urban
 * model costs in the block engine on a whole tile, against the unsupervised default on the same pair.
 *
 * 1. A synthetic pair of the ten 10/20 m bands (`bench/make_urban_pair.py`, cached beside the speed benchmark's).
 * 2. A model that costs what a real one costs: the default feature spec (`defaultUrbanFeatureSpec`, its
 *    context windows up to 25 px) and the default learner (`DEFAULT_GBDT_PARAMS`: 150 trees of depth 6), trained on
 *    two small synthetic cities with planted construction. Its accuracy means nothing (no OSCD labels are used);
 *    its inference cost is that of a model trained by `bench accuracy --train` with the defaults.
 * 3. One timed block-engine run (`dist/bench/engine-run.js`, /usr/bin/time -v: wall time and peak RSS) of
 *    `--method learned` and one of the unsupervised default, with the float product. JSON on stdout.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { URBAN_UNSUPERVISED_METHOD } from '../change/presets/urban.js';
import { seededRandom } from '../change/sampling.js';
import { defaultUrbanFeatureSpec, sceneStatistics, urbanFeatures } from '../change/urban-features.js';
import { buildUrbanModel, sampleCity, trainUrbanLearner } from '../change/urban-training.js';
import type { BandName } from '../indices/bands.js';
import type { BandArrays } from '../indices/registry.js';
import { benchCacheDir, exec, timed } from './bench.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const args = process.argv.slice(2);
const flag = (name: string, fallback: string) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1]! : fallback; };
const size = Number(flag('--size', '10980'));
const threads = flag('--threads', String(os.availableParallelism()));
const cache = flag('--cache', benchCacheDir());
const log = (m: string) => process.stderr.write(`${m}\n`);

// Reflectance of vegetation, bare soil and concrete per band (as bench/make_urban_pair.py, / 10000).
const BANDS: Record<string, [number, number, number]> = {
  B02: [0.04, 0.07, 0.14], B03: [0.07, 0.095, 0.16], B04: [0.05, 0.11, 0.18], B05: [0.11, 0.15, 0.2], B06: [0.26, 0.18, 0.21],
  B07: [0.31, 0.19, 0.215], B08: [0.35, 0.2, 0.22], B8A: [0.36, 0.21, 0.225], B11: [0.18, 0.26, 0.28], B12: [0.09, 0.17, 0.25],
};

/** A small synthetic city: both dates' bands and where construction was planted. */
function city(n: number, seed: number): { before: BandArrays; after: BandArrays; truth: Uint8Array } {
  const r = seededRandom(seed);
  const truth = new Uint8Array(n * n);
  const bare = new Uint8Array(n * n);
  const rect = (into: Uint8Array, lo: number, hi: number) => {
    const w = lo + Math.floor(r() * (hi - lo)); const h = lo + Math.floor(r() * (hi - lo));
    const x0 = Math.floor(r() * (n - w)); const y0 = Math.floor(r() * (n - h));
    for (let y = y0; y < y0 + h; y++) for (let x = x0; x < x0 + w; x++) into[y * n + x] = 1;
  };
  for (let k = 0; k < n * n / 900; k++) rect(bare, 8, 24);
  for (let k = 0; k < n * n / 250; k++) rect(truth, 2, 8);
  const before: BandArrays = {};
  const after: BandArrays = {};
  for (const [b, [veg, soil, concrete]] of Object.entries(BANDS)) {
    const x = new Float32Array(n * n); const y = new Float32Array(n * n);
    for (let i = 0; i < n * n; i++) {
      const v = veg * (0.7 + 0.3 * (((i % n) >> 4) + ((i / n) >> 4)) % 3 / 2);
      x[i] = v * (1 + 0.08 * (r() - 0.5));
      y[i] = (truth[i] ? concrete : bare[i] ? soil : v) * (1 + 0.08 * (r() - 0.5));
    }
    before[b as BandName] = x; after[b as BandName] = y;
  }
  return { before, after, truth };
}

mkdirSync(cache, { recursive: true });
const pair = path.join(cache, `urban-s${size}`);
if (!existsSync(path.join(pair, 'DONE'))) {
  log(`generating the synthetic ${size}x${size} ten-band pair in ${pair} (once)...`);
  const g = await exec('/usr/bin/python3', [path.join(REPO, 'bench', 'make_urban_pair.py'), String(size), pair]);
  if (g.code !== 0) throw new Error(`make_urban_pair.py failed:\n${g.stderr}`);
}
const modelFile = path.join(cache, 'urban-model-cost.json');
if (!existsSync(modelFile)) {
  log('training a cost-representative model (default spec and learner, synthetic cities)...');
  const spec = defaultUrbanFeatureSpec();
  const samples = [['a', 1], ['b', 2]].map(([name, seed]) => {
    const c = city(192, seed as number);
    const stats = sceneStatistics(spec, c.before, c.after, 192, 192);
    return sampleCity(name as string, urbanFeatures(spec, c.before, c.after, 192, 192, undefined, stats), c.truth, 4000, seed as number);
  });
  const t0 = performance.now();
  const trained = trainUrbanLearner(samples, { innerFolds: 2 });
  writeFileSync(modelFile, JSON.stringify(buildUrbanModel(spec, trained, {
    dataset: 'synthetic (src/bench/urban-model-cost.ts): a cost benchmark, not a usable model', cities: ['a', 'b'],
    samplesPerCity: 8000, seconds: (performance.now() - t0) / 1000,
  })));
}
const model = JSON.parse(readFileSync(modelFile, 'utf8'));
const engine = path.join(REPO, 'dist', 'bench', 'engine-run.js');
const results: Record<string, unknown>[] = [];
for (const method of ['learned', URBAN_UNSUPERVISED_METHOD]) {
  const out = path.join(cache, 'out', `urban-${method}-${size}`);
  const load = os.loadavg()[0]!;
  log(`${method}: block engine on ${size}x${size} (load average ${load.toFixed(1)})...`);
  const r = await timed(process.execPath, [engine, path.join(pair, 'before'), path.join(pair, 'after'), out, '--preset', 'urban',
    '--method', method, '--threads', threads, ...(method === 'learned' ? ['--model', modelFile] : [])]);
  const run = JSON.parse(r.stdout.trim().split('\n').pop()!);
  results.push({ method, seconds: Number(r.seconds.toFixed(1)), peakRssMB: Math.round(r.rssMB), engineSeconds: Number(run.seconds.toFixed(1)),
    blocks: run.blocks, changePixels: run.areas.find((a: number[]) => a[0] === 1)?.[1] ?? 0, loadAverageAtStart: Number(load.toFixed(1)) });
}
process.stdout.write(`${JSON.stringify({
  command: `node dist/bench/urban-model-cost.js --size ${size} --threads ${threads}`,
  machine: `${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.availableParallelism()} cores, ${(os.totalmem() / 2 ** 30).toFixed(1)} GB, Node ${process.version}`,
  date: new Date().toISOString(), size,
  model: { features: model.featureNames.length, trees: model.learner.trees.length, depth: model.learner.params.maxDepth, halo: model.halo },
  results,
}, null, 2)}\n`);
