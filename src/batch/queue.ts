/**
 * Batches over many machines on BullMQ + Redis. `batch --queue URL` enqueues every job that is not already done
 * (BullMQ job id = the hash of the job's parameters, so enqueuing again never duplicates work), waits while showing
 * progress, and writes the same batch.json/csv/geojson as a local batch. `worker --queue URL` takes jobs and runs
 * each as a `detect` child process into the shared output folder the job names.
 *
 * What BullMQ gives and we rely on: a job is locked by the worker running it and the lock is renewed while it
 * runs; a worker that dies (SIGKILL, power loss) stops renewing, and the stalled-job check of any other worker moves
 * the job back to waiting, where another worker takes it. Since `detect` commits its folder atomically, a half-run
 * job leaves no folder that verifies, so it is never seen as done. Transient errors (network, time limits) are
 * retried with exponential backoff; bad input (every other typed error) fails at once (UnrecoverableError).
 */
import { Queue, UnrecoverableError, Worker, type Job } from 'bullmq';
import { hostname } from 'node:os';
import path from 'node:path';
import { NetworkError, UsageError } from '../errors.js';
import type { BatchJob } from './jobs.js';
import { isJobDone, readSummary, runJob, summaryFacts, TRANSIENT_CODES, type JobResult } from './run-job.js';

export const QUEUE_NAME = 's2change-detect';

/** What a queued job carries: everything a worker on another machine needs. */
export interface QueuedJob {
  id: string;
  hash: string;
  options: BatchJob['options'];
  args: string[];
  /** Absolute path of the batch's output folder (shared storage). */
  outRoot: string;
  force: boolean;
}

export interface RedisTarget {
  url: string;
  connection: { host: string; port: number; db: number; username?: string; password?: string; tls?: object; maxRetriesPerRequest: null };
}

/** Parse `redis://[user:pass@]HOST:PORT[/DB]` (or rediss:// for TLS). */
export function parseQueueUrl(text: string): RedisTarget {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw badQueue(text, 'not a URL');
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw badQueue(text, `scheme ${u.protocol}`);
  if (!u.hostname) throw badQueue(text, 'no host');
  const dbText = u.pathname.replace(/^\//, '');
  if (dbText !== '' && !/^\d{1,2}$/.test(dbText)) throw badQueue(text, `database "${dbText}"`);
  const port = u.port ? Number(u.port) : 6379;
  return {
    url: `${u.protocol}//${u.hostname}:${port}/${dbText || 0}`,
    connection: {
      host: u.hostname.replace(/^\[|\]$/g, ''), port, db: dbText ? Number(dbText) : 0,
      ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
      ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
      ...(u.protocol === 'rediss:' ? { tls: {} } : {}),
      maxRetriesPerRequest: null,
    },
  };
}

function badQueue(text: string, found: string): UsageError {
  return new UsageError('bad --queue URL', { input: '--queue', expected: 'redis://HOST:PORT[/DB] (or rediss:// for TLS)', found: `${JSON.stringify(text)}: ${found}`, fix: 'Example: --queue redis://127.0.0.1:6379/0' });
}

/** Fail fast, with the URL in the message, when Redis cannot be reached (instead of BullMQ retrying forever). */
export async function checkRedis(target: RedisTarget, timeoutMs = 5000): Promise<void> {
  const { Redis } = await import('ioredis');
  const client = new Redis({ ...target.connection, lazyConnect: true, connectTimeout: timeoutMs, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });
  client.on('error', () => { /* reported by connect() below */ });
  try {
    await client.connect();
    await client.ping();
  } catch (cause) {
    throw new NetworkError('cannot reach the Redis server of --queue', {
      input: target.url, expected: 'a Redis server (5.0 or later) answering at this address', found: (cause as Error).message,
      fix: 'Start Redis (e.g. redis-server --port 6379) or correct --queue; every batch and worker must see the same Redis', cause,
    });
  } finally {
    client.disconnect();
  }
}

export interface QueueBatchOptions {
  target: RedisTarget;
  outRoot: string;
  force: boolean;
  argsOf: (job: BatchJob) => string[];
  onResult: (r: JobResult) => void;
  /** How often to poll the jobs' states (ms). */
  pollMs?: number;
}

/** Enqueue the batch, wait until every job has completed or failed, and return one result per job (in order). */
export async function runQueuedBatch(jobs: readonly BatchJob[], opts: QueueBatchOptions): Promise<JobResult[]> {
  await checkRedis(opts.target);
  const queue = new Queue<QueuedJob, JobResult>(QUEUE_NAME, { connection: opts.target.connection });
  const results: (JobResult | undefined)[] = new Array(jobs.length);
  const queueIds: string[] = [];
  try {
    for (const [i, job] of jobs.entries()) {
      const queueId = opts.force ? `${job.hash}-${Date.now()}` : job.hash;
      queueIds.push(queueId);
      if (!opts.force && (await isJobDone(opts.outRoot, job))) {
        results[i] = { id: job.id, preset: String(job.options.preset), status: 'skipped', seconds: 0, ...summaryFacts(await readSummary(path.join(opts.outRoot, job.id))) };
        opts.onResult(results[i]!);
        continue;
      }
      const existing = await queue.getJob(queueId);
      if (existing) {
        const state = await existing.getState();
        // A finished job whose folder does not verify (deleted, edited) or a failed one is run again; a waiting or
        // active one (another batch enqueued it) is only waited for.
        if (state === 'completed' || state === 'failed') await existing.remove();
        else continue;
      }
      await queue.add(job.id, { id: job.id, hash: job.hash, options: job.options, args: opts.argsOf(job), outRoot: opts.outRoot, force: opts.force }, {
        jobId: queueId, attempts: 3, backoff: { type: 'exponential', delay: 5000 }, removeOnComplete: false, removeOnFail: false,
      });
    }
    for (;;) {
      let pending = 0;
      for (const [i, job] of jobs.entries()) {
        if (results[i]) continue;
        const q = await queue.getJob(queueIds[i]!);
        const state = q ? await q.getState() : 'unknown';
        if (state === 'completed') results[i] = { ...(q!.returnvalue as JobResult), id: job.id };
        else if (state === 'failed') {
          const ret = q!.failedReason ?? 'failed';
          const m = /^\[([A-Z_]+)\] ([\s\S]*)$/.exec(ret);
          results[i] = { id: job.id, preset: String(job.options.preset), status: 'failed', seconds: 0, hectares: {}, validPercent: null, bytesFetched: null, error: m?.[2] ?? ret, errorCode: m?.[1] ?? 'FAILED' };
        } else { pending++; continue; }
        opts.onResult(results[i]!);
      }
      if (pending === 0) break;
      await new Promise((r) => setTimeout(r, opts.pollMs ?? 500));
    }
  } finally {
    await queue.close();
  }
  return results as JobResult[];
}

export interface WorkerOptions {
  target: RedisTarget;
  concurrency: number;
  /** Seconds after which a job whose worker stopped renewing its lock is handed to another worker. */
  stalledAfterSeconds: number;
  log: (line: string) => void;
}

/** Take jobs until `signal` aborts; resolves when the worker has closed (the running jobs finished). */
export async function runWorker(opts: WorkerOptions, signal: AbortSignal): Promise<void> {
  await checkRedis(opts.target);
  const me = `${hostname()}:${process.pid}`;
  const threads = Math.max(1, Math.floor((await import('node:os')).availableParallelism() / opts.concurrency));
  const lockMs = Math.max(2000, opts.stalledAfterSeconds * 1000);
  const worker = new Worker<QueuedJob, JobResult>(QUEUE_NAME, async (job: Job<QueuedJob, JobResult>) => {
    const d = job.data;
    opts.log(`${d.id}: started (attempt ${job.attemptsMade + 1})`);
    const r = await runJob(d.outRoot, { id: d.id, hash: d.hash, options: d.options }, { args: d.args, force: d.force && job.attemptsMade === 0, threads });
    opts.log(`${d.id}: ${r.status}${r.error ? `: [${r.errorCode}] ${r.error}` : ''} (${r.seconds.toFixed(1)} s)`);
    if (r.status === 'failed') {
      const text = `[${r.errorCode}] ${r.error}`;
      if (TRANSIENT_CODES.includes(r.errorCode ?? '') || r.errorCode === 'CRASH') throw new Error(text);
      throw new UnrecoverableError(text);
    }
    return { ...r, ranBy: me };
  }, {
    connection: opts.target.connection, concurrency: opts.concurrency,
    lockDuration: lockMs, stalledInterval: lockMs, maxStalledCount: 2,
  });
  worker.on('error', (err) => opts.log(`worker: ${err.message}`));
  opts.log(`worker ${me}: waiting for jobs on ${opts.target.url} (concurrency ${opts.concurrency})`);
  await new Promise<void>((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });
  await worker.close();
}
