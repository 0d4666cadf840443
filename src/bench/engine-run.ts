/**
 * One timed run of the block engine for the benchmark (a child process, so that /usr/bin/time measures its
 * wall time and peak RSS alone): `node dist/bench/engine-run.js BEFORE AFTER OUT [--no-float] [--threads N]`.
 * Runs the vegetation preset (fixed |ΔNDVI| ≥ 0.2) and prints the areas as JSON. The folders are opened as scenes,
 * as `detect` opens them: an SCL.tif beside the bands (the l2a layout) masks clouds and shadows here too.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { ChangeMethod } from '../change/presets/types.js';
import { parseUrbanModel } from '../change/urban-model.js';
import { detectBlocks } from '../engine/detect-blocks.js';

const [before, after, out, ...rest] = process.argv.slice(2);
if (!before || !after || !out) {
  process.stderr.write('usage: engine-run BEFORE AFTER OUT [--no-float] [--threads N] [--inflight BLOCKS] [--preset NAME] [--method M] [--model FILE]\n');
  process.exit(2);
}
const flag = (name: string) => {
  const i = rest.indexOf(name);
  return i >= 0 ? rest[i + 1] : undefined;
};
mkdirSync(out, { recursive: true });
const modelFile = flag('--model');
const r = await detectBlocks({
  before, after, preset: flag('--preset') ?? 'vegetation',
  ...(flag('--method') ? { method: flag('--method') as ChangeMethod } : {}),
  ...(modelFile ? { urbanModel: parseUrbanModel(readFileSync(modelFile, 'utf8'), modelFile), urbanModelSource: modelFile } : {}),
  classesPath: path.join(out, 'change.tif'),
  productPath: rest.includes('--no-float') ? null : path.join(out, 'dndvi.tif'),
  threads: flag('--threads') !== undefined ? Number(flag('--threads')) : undefined,
  progress: rest.includes('--progress'),
  ...(flag('--inflight') ? { maxInFlight: Number(flag('--inflight')) } : {}),
});
process.stdout.write(`${JSON.stringify({ seconds: r.seconds, method: r.method, threads: r.threads, blocks: r.blocks, areas: r.areas.map((a) => [a.value, a.pixels]), valid: r.validPixels })}\n`);
