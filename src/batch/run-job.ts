/**
 * One batch job on this machine: skip it when its folder already verifies with the same parameters, otherwise run
 * `s2change detect` for it in a child process (the same command a user would type, so a job's outputs are exactly
 * `detect`'s: atomic, checksummed) and record the parameters' hash beside the outputs once they are committed.
 *
 * A child process per job, not `runDetect` in this process: a job's worker threads, memory and signals stay its own,
 * a crash of one job is one failed row, and a killed batch or worker takes its children with it (they watch their
 * stdin, see `watchParent` in cli/main.ts).
 */
import { spawn } from 'node:child_process';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { verifyOutputs } from '../io/output-dir.js';
import type { BatchJob } from './jobs.js';

/** The record of one job in batch.json / batch.csv. */
export interface JobResult {
  id: string;
  status: 'done' | 'skipped' | 'failed';
  preset: string;
  /** Hectares per change class name (classes other than "no change"), from the job's summary.json. */
  hectares: Record<string, number>;
  validPercent: number | null;
  seconds: number;
  /** Bytes fetched over HTTP by the job's inputs; null when every input was a local file. */
  bytesFetched: number | null;
  error?: string;
  errorCode?: string;
  /** Which machine and process ran it (queue mode: the worker). */
  ranBy?: string;
}

/** Error codes that a later attempt may not hit again (network, time): the queue retries these with backoff. */
export const TRANSIENT_CODES: readonly string[] = ['NETWORK', 'TIME_LIMIT', 'INTERRUPTED', 'DECODE_TIMEOUT'];

const STATE_DIR = '.s2change-batch';

/** Where a job's parameters hash is kept: `<out>/.s2change-batch/<id>.json` (outside the job's own folder, whose manifest is detect's). */
export function jobStateFile(outRoot: string, id: string): string {
  return path.join(outRoot, STATE_DIR, `${id}.json`);
}

/** True when `<out>/<id>` verifies and was made from the same parameters. */
export async function isJobDone(outRoot: string, job: BatchJob): Promise<boolean> {
  try {
    const state = JSON.parse(await readFile(jobStateFile(outRoot, job.id), 'utf8')) as { hash?: string };
    if (state.hash !== job.hash) return false;
    return (await verifyOutputs(path.join(outRoot, job.id))).ok;
  } catch {
    return false;
  }
}

export interface RunJobOptions {
  /** detect's arguments for this job (from jobArguments). */
  args: string[];
  /** `--threads` for the job's detect when the job does not set it. */
  threads?: number;
  /** Redo the job even when its folder verifies. */
  force?: boolean;
  /** Called with the child's stderr lines (progress, warnings). */
  onLog?: (line: string) => void;
}

/** Run one job (or skip it); never throws for a failed job: the failure is in the result. */
export async function runJob(outRoot: string, job: BatchJob, opts: RunJobOptions): Promise<JobResult> {
  const start = Date.now();
  const base = { id: job.id, preset: String(job.options.preset), hectares: {}, validPercent: null, bytesFetched: null } as const;
  if (!opts.force && (await isJobDone(outRoot, job))) {
    const summary = await readSummary(path.join(outRoot, job.id));
    return { ...base, ...summaryFacts(summary), status: 'skipped', seconds: 0 };
  }
  const out = path.join(outRoot, job.id);
  const args = [...opts.args];
  if (opts.threads !== undefined && !('threads' in job.options)) args.push('--threads', String(opts.threads));
  const child = await runCli(['detect', ...args, '--out', out, '--overwrite', '--json'], opts.onLog);
  const seconds = (Date.now() - start) / 1000;
  if (child.code !== 0) {
    const m = /s2change: (?:error \[([A-Z_]+)\]: |unexpected error: )(.*)/.exec(child.stderrTail.join('\n'));
    const signal = child.signal ? `killed by ${child.signal}` : `exit code ${child.code}`;
    return { ...base, status: 'failed', seconds, error: m?.[2] ?? `detect ended with ${signal}: ${child.stderrTail.slice(-3).join(' | ')}`, errorCode: m?.[1] ?? 'CRASH' };
  }
  await mkdir(path.dirname(jobStateFile(outRoot, job.id)), { recursive: true });
  const stateTmp = `${jobStateFile(outRoot, job.id)}.${process.pid}.tmp`;
  await writeFile(stateTmp, `${JSON.stringify({ id: job.id, hash: job.hash, options: job.options, finishedAt: new Date().toISOString() }, null, 2)}\n`);
  await rename(stateTmp, jobStateFile(outRoot, job.id));
  return { ...base, ...summaryFacts(await readSummary(out)), status: 'done', seconds };
}

/** The facts of a finished job's summary.json that batch.json reports. */
export function summaryFacts(summary: Record<string, unknown> | null): Pick<JobResult, 'hectares' | 'validPercent' | 'bytesFetched'> {
  if (!summary) return { hectares: {}, validPercent: null, bytesFetched: null };
  const areas = (summary.areas ?? []) as { value: number; name: string; hectares: number }[];
  const hectares: Record<string, number> = {};
  for (const a of areas) if (a.value !== 0) hectares[a.name] = a.hectares;
  const inputs = (summary.inputs ?? []) as { bytesFetched?: number }[];
  const fetched = inputs.filter((i) => typeof i.bytesFetched === 'number');
  return {
    hectares,
    validPercent: (summary.pixels as { validPercent?: number } | undefined)?.validPercent ?? null,
    bytesFetched: fetched.length ? fetched.reduce((s, i) => s + i.bytesFetched!, 0) : null,
  };
}

/** A finished job's summary.json, or null when it has none (or it does not parse). */
export async function readSummary(dir: string): Promise<Record<string, unknown> | null> {
  try {
    return JSON.parse(await readFile(path.join(dir, 'summary.json'), 'utf8')) as Record<string, unknown>;
  } catch {
    return null;
  }
}

const CLI = fileURLToPath(new URL('../cli/main.js', import.meta.url));

/**
 * Run the s2change CLI in a child process that ends when this process ends (S2CHANGE_WATCH_PARENT: the child
 * watches its stdin pipe, which closes when this process dies, even by SIGKILL).
 */
export function runCli(args: string[], onLog?: (line: string) => void): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderrTail: string[] }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, S2CHANGE_WATCH_PARENT: '1' } });
    let stdout = '';
    const tail: string[] = [];
    let partial = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      const lines = (partial + d).split(/\r?\n|\r/);
      partial = lines.pop() ?? '';
      for (const l of lines) {
        if (!l) continue;
        tail.push(l);
        if (tail.length > 40) tail.shift();
        onLog?.(l);
      }
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (partial) tail.push(partial);
      resolve({ code, signal, stdout, stderrTail: tail });
    });
  });
}
