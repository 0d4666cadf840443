/**
 * Where block tasks run: a piscina worker pool (decode, math and encoding on every core) or, with `threads: 0`,
 * the calling thread (tests, tiny scenes). Both run the same `runTask`.
 */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import { reviveError } from '../io/tiff/sandbox-protocol.js';
import { openEngineContext, runTask, type EngineConfig, type EngineResult, type EngineTask, type WorkerFailure } from './block-task.js';

/** Runs engine tasks; `close()` ends the workers. */
export interface TaskRunner {
  readonly threads: number;
  run(task: EngineTask): Promise<EngineResult>;
  close(): Promise<void>;
}

/** The compiled worker script beside this module (dist/engine/block-worker.js), or null when running from sources. */
export function workerScript(): string | null {
  const p = fileURLToPath(new URL('./block-worker.js', import.meta.url));
  return existsSync(p) ? p : null;
}

/**
 * A task runner for `config`: `threads` workers (default: one per core), or in-process when `threads` is 0 or no
 * compiled worker script exists.
 */
export async function createTaskRunner(config: EngineConfig, threads = availableParallelism()): Promise<TaskRunner> {
  const script = threads > 0 ? workerScript() : null;
  if (!script) {
    const ctx = await openEngineContext(config);
    return { threads: 0, run: (task) => runTask(ctx, task), close: () => ctx.close() };
  }
  const pool = new Piscina({
    filename: script, minThreads: threads, maxThreads: threads, workerData: config, idleTimeout: 60_000,
    // A second task queued in each worker: it starts the moment the first ends (no round trip through this thread),
    // and its reads overlap the first one's compute. Tasks share nothing mutable across their awaits. Blocks larger
    // than 512² are few and long enough for the round trip not to matter, and a second one would cost memory.
    concurrentTasksPerWorker: (config.classesHeader.blockSize ?? 512) > 512 ? 1 : 2,
  });
  return {
    threads,
    run: async (task) => {
      const r = await pool.run(task) as EngineResult | WorkerFailure;
      if (r.kind === 'failure') throw reviveError(r.error);
      return r;
    },
    close: () => pool.destroy(),
  };
}
