/**
 * `s2change batch JOBS --out DIR` and `s2change worker --queue URL`: many detect runs, on this machine or spread over
 * many machines through BullMQ on Redis. See docs/SCALING.md.
 */
import type { Command, Option } from 'commander';
import { InputNotFoundError, UsageError } from '../errors.js';
import type { DetectOptionSpec } from '../batch/jobs.js';
import { parseNumber } from './options.js';

interface BatchFlags { out: string; concurrency: string; queue?: string; force?: boolean; json?: boolean }
interface WorkerFlags { queue: string; concurrency: string; stalledAfter: string }

/** detect's long options as the job file may use them (read from the registered command: one source of truth). */
export function detectOptionSpecs(program: Command): DetectOptionSpec[] {
  const detect = program.commands.find((c) => c.name() === 'detect');
  if (!detect) throw new Error('detect must be registered before batch');
  return (detect.options as readonly Option[]).filter((o) => o.long).map((o) => ({
    name: o.long!.replace(/^--(no-)?/, ''),
    takesValue: o.required || o.optional,
    negate: o.negate,
  }));
}

/** Paths in a job that are resolved against the current folder before the job is hashed or queued. */
const PATH_OPTIONS = ['before', 'after', 'before-scl', 'after-scl', 'model'];

export function registerBatch(program: Command): void {
  program
    .command('batch')
    .description('run many detect jobs (a JSON or CSV job file) on this machine or, with --queue, on workers anywhere')
    .argument('<jobs>', 'job file: JSON array (or {"jobs": [...]}) or CSV with a header; each job has an id and detect options without dashes')
    .requiredOption('--out <dir>', 'output folder: one sub-folder per job id, plus batch.json, batch.csv and batch.geojson')
    .option('--concurrency <n>', 'jobs at a time on this machine (without --queue)', '1')
    .option('--queue <url>', 'redis://HOST:PORT[/DB]: enqueue the jobs in BullMQ for `s2change worker` processes and wait for them')
    .option('--force', 'redo jobs whose folder already verifies with the same parameters')
    .option('--json', 'print batch.json on stdout')
    .action(async (jobFile: string, f: BatchFlags) => {
      const path = await import('node:path');
      const { existsSync } = await import('node:fs');
      const { parseJobFile, jobArguments } = await import('../batch/jobs.js');
      const { BatchProgress, runLocalBatch, writeBatchOutputs } = await import('../batch/batch.js');
      const { readFile } = await import('node:fs/promises');
      if (!f.out) throw new UsageError('--out is empty', { input: '--out', expected: 'an output folder', found: "''", fix: 'Example: --out runs/batch1' });
      const concurrency = Math.round(parseNumber('--concurrency', f.concurrency, 1, 64));
      const specs = detectOptionSpecs(program);
      let text: string;
      try {
        text = await readFile(jobFile, 'utf8');
      } catch (cause) {
        throw new InputNotFoundError('cannot read the job file', { input: jobFile, expected: 'a JSON or CSV job file', found: (cause as Error).message, fix: 'Check the path', cause });
      }
      const absolute = (key: string, v: string): string =>
        PATH_OPTIONS.includes(key) && !/^[a-z][a-z0-9+.-]*:\/\//i.test(v) && existsSync(v) ? path.resolve(v) : v;
      const jobs = parseJobFile(text, jobFile, specs, absolute);
      const outRoot = path.resolve(f.out);
      const startedAt = new Date().toISOString();
      const progress = new BatchProgress(jobs.length);
      const argsOf = (j: (typeof jobs)[number]): string[] => jobArguments(j, specs);
      let results;
      if (f.queue) {
        const { parseQueueUrl, runQueuedBatch } = await import('../batch/queue.js');
        const target = parseQueueUrl(f.queue);
        results = await runQueuedBatch(jobs, { target, outRoot, force: !!f.force, argsOf, onResult: (r) => progress.add(r) });
      } else {
        results = await runLocalBatch(outRoot, jobs, { concurrency, force: !!f.force, argsOf, progress });
      }
      await writeBatchOutputs(outRoot, results, { jobFile: path.resolve(jobFile), queue: f.queue, startedAt });
      const failed = results.filter((r) => r.status === 'failed');
      process.stderr.write(`batch: ${results.length} jobs, ${results.filter((r) => r.status === 'done').length} done, ${results.filter((r) => r.status === 'skipped').length} skipped, ${failed.length} failed; ${path.join(outRoot, 'batch.csv')}\n`);
      if (f.json) process.stdout.write(await (await import('node:fs/promises')).readFile(path.join(outRoot, 'batch.json'), 'utf8'));
      if (failed.length) process.exitCode = 1;
    });

  program
    .command('worker')
    .description('take batch jobs from a BullMQ queue on Redis and run them (any number of workers, on any machines sharing the output folder)')
    .requiredOption('--queue <url>', 'redis://HOST:PORT[/DB], the same as the batch')
    .option('--concurrency <n>', 'jobs at a time in this worker', '1')
    .option('--stalled-after <s>', 'seconds after which the job of a worker that died is handed to another worker', '30')
    .action(async (f: WorkerFlags) => {
      const { parseQueueUrl, runWorker } = await import('../batch/queue.js');
      const target = parseQueueUrl(f.queue);
      const concurrency = Math.round(parseNumber('--concurrency', f.concurrency, 1, 64));
      const stalledAfterSeconds = parseNumber('--stalled-after', f.stalledAfter, 2, 86400);
      const stop = new AbortController();
      const onSignal = (sig: NodeJS.Signals): void => {
        process.stderr.write(`worker: ${sig}: finishing the running jobs, then stopping (again to stop at once)\n`);
        if (stop.signal.aborted) process.exit(sig === 'SIGINT' ? 130 : 143);
        stop.abort();
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      await runWorker({ target, concurrency, stalledAfterSeconds, log: (l) => void process.stderr.write(`${l}\n`) }, stop.signal);
    });
}
