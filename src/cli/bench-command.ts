/**
 * `s2change bench speed`: the whole-tile speed benchmark (issue #4) — the block engine against the equivalent
 * GDAL + numpy script on cached synthetic Sentinel-2 tile pairs; JSON with median wall time, ratio and peak RSS.
 */
import type { Command } from 'commander';
import { availableParallelism } from 'node:os';
import { benchCacheDir } from '../bench/bench.js';
import { parseInteger } from './options.js';

/** Register `bench speed` on the program. */
/** Adds `bench` (with its `speed` subcommand) and returns it so other benchmarks can add theirs. */
export function registerBench(program: Command): Command {
  const bench = program.command('bench').description('benchmarks: speed against GDAL + numpy, accuracy on labelled datasets');
  bench.command('speed')
    .description('Time s2change detect --preset vegetation (block engine) against GDAL + numpy on synthetic full-size tiles')
    .option('--size <n[,n...]>', 'tile sizes in pixels (10980 = a full Sentinel-2 tile)', '2048,5490,10980')
    .option('--runs <n>', 'runs of each pipeline per size (median reported)', '3')
    .option('--no-float', 'skip the float dNDVI product on both sides')
    .option('--threads <n>', `s2change worker threads (default ${availableParallelism()})`)
    .option('--layout <name>', 'synthetic pair: default (B04, B08; 512² tiles) | l2a (+ B02, B03, SCL with clouds at 20 m; 1024² tiles, as Earth Search)', 'default')
    .option('--cache <dir>', 'where the synthetic tiles are cached', benchCacheDir())
    .option('--json', 'print only the JSON report on stdout')
    .action(async (o: { size: string; runs: string; float: boolean; threads?: string; layout: string; cache: string; json?: boolean }) => {
      const { parseLayout, parseSizes, runBench } = await import('../bench/bench.js');
      const runs = parseInteger('--runs', o.runs, 1);
      const report = await runBench({
        sizes: parseSizes(o.size), runs, cacheDir: o.cache, noFloat: !o.float, layout: parseLayout(o.layout),
        threads: o.threads !== undefined ? parseInteger('--threads', o.threads, 1, 256) : undefined,
        log: o.json ? () => {} : (m) => process.stderr.write(`${m}\n`),
      });
      process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    });
  return bench;
}
