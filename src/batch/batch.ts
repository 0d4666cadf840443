/**
 * `s2change batch` on this machine and the batch's own outputs: `batch.json`, `batch.csv` (one row per job) and
 * `batch.geojson` (every job's polygons, each carrying its job id), written atomically once every job has ended.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { stringify } from 'csv-stringify/sync';
import type { BatchJob } from './jobs.js';
import { runJob, type JobResult } from './run-job.js';

/** Progress with ETA on stderr: one rewritten line on a terminal, one line per finished job otherwise. */
export class BatchProgress {
  private readonly start = Date.now();
  private done = 0;
  private failed = 0;
  private skipped = 0;
  private ranSeconds = 0;
  private ran = 0;

  constructor(private readonly total: number, private readonly stream: { write(s: string): unknown; isTTY?: boolean } | null = process.stderr) {}

  /** A job ended. */
  add(r: JobResult): void {
    this.done++;
    if (r.status === 'failed') this.failed++;
    if (r.status === 'skipped') this.skipped++;
    else { this.ran++; this.ranSeconds += r.seconds; }
    this.print(`${r.id} ${r.status}${r.status === 'failed' ? `: ${r.error}` : ''}`);
  }

  /** The line as it stands (for tests and the final line). */
  line(): string {
    const elapsed = (Date.now() - this.start) / 1000;
    const left = this.total - this.done;
    const perJob = this.done > this.skipped ? elapsed / (this.done - this.skipped) : NaN;
    const eta = left === 0 ? 'done' : Number.isFinite(perJob) ? `ETA ${formatSeconds(perJob * left)}` : 'ETA …';
    const width = 20;
    const filled = Math.round((width * this.done) / Math.max(1, this.total));
    return `batch [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${this.done}/${this.total} (${this.failed} failed, ${this.skipped} skipped) ${formatSeconds(elapsed)} elapsed, ${eta}`;
  }

  private print(event: string): void {
    if (!this.stream) return;
    if (this.stream.isTTY) this.stream.write(`\r\x1b[K${event}\n${this.line()}${this.done === this.total ? '\n' : ''}`);
    else this.stream.write(`${event}\n${this.line()}\n`);
  }
}

function formatSeconds(s: number): string {
  if (s < 60) return `${s.toFixed(0)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
  return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
}

export interface LocalBatchOptions {
  concurrency: number;
  force: boolean;
  /** detect arguments per job id. */
  argsOf: (job: BatchJob) => string[];
  progress?: BatchProgress;
}

/** Run the jobs on this machine, `concurrency` at a time; every job runs even when others fail. */
export async function runLocalBatch(outRoot: string, jobs: readonly BatchJob[], opts: LocalBatchOptions): Promise<JobResult[]> {
  const results: JobResult[] = new Array(jobs.length);
  const threads = Math.max(1, Math.floor((await import('node:os')).availableParallelism() / opts.concurrency));
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < jobs.length) {
      const i = next++;
      const job = jobs[i]!;
      results[i] = await runJob(outRoot, job, { args: opts.argsOf(job), force: opts.force, threads });
      opts.progress?.add(results[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(opts.concurrency, jobs.length) }, lane));
  return results;
}

/** Write batch.json, batch.csv and batch.geojson into `outRoot` (each through a temporary name and a rename). */
export async function writeBatchOutputs(outRoot: string, results: readonly JobResult[], meta: { jobFile: string; queue?: string; startedAt: string }): Promise<void> {
  await mkdir(outRoot, { recursive: true });
  const classNames = [...new Set(results.flatMap((r) => Object.keys(r.hectares)))].sort();
  const json = {
    tool: 's2change batch', jobFile: meta.jobFile, queue: meta.queue ?? null, startedAt: meta.startedAt, finishedAt: new Date().toISOString(),
    counts: { jobs: results.length, done: count(results, 'done'), skipped: count(results, 'skipped'), failed: count(results, 'failed') },
    jobs: results,
  };
  const rows = results.map((r) => ({
    id: r.id, status: r.status, preset: r.preset,
    ...Object.fromEntries(classNames.map((c) => [`ha_${c.replace(/[^A-Za-z0-9]+/g, '_')}`, r.hectares[c] ?? ''])),
    valid_percent: r.validPercent ?? '', seconds: r.seconds.toFixed(1), bytes_fetched: r.bytesFetched ?? '', error_code: r.errorCode ?? '', error: r.error ?? '',
  }));
  const features: unknown[] = [];
  for (const r of results) {
    if (r.status === 'failed') continue;
    try {
      const fc = JSON.parse(await readFile(path.join(outRoot, r.id, 'change.geojson'), 'utf8')) as { features?: { properties?: Record<string, unknown> }[] };
      for (const f of fc.features ?? []) features.push({ ...f, properties: { job: r.id, ...(f.properties ?? {}) } });
    } catch {
      // a job without polygons (e.g. polygons skipped on a huge grid) contributes none
    }
  }
  await atomicWrite(path.join(outRoot, 'batch.json'), `${JSON.stringify(json, null, 2)}\n`);
  await atomicWrite(path.join(outRoot, 'batch.csv'), stringify(rows, { header: true, columns: rows.length ? Object.keys(rows[0]!) : ['id', 'status'] }));
  await atomicWrite(path.join(outRoot, 'batch.geojson'), `${JSON.stringify({ type: 'FeatureCollection', features })}\n`);
}

function count(results: readonly JobResult[], status: JobResult['status']): number {
  return results.filter((r) => r.status === status).length;
}

async function atomicWrite(file: string, text: string): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, text);
  await rename(tmp, file);
}
