/**
 * Where block tasks run: a piscina worker pool (decode, math and encoding on every core) or, with `threads: 0`,
 * the calling thread (tests, tiny scenes). Both run the same `runTask`.
 */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import { libdeflate } from '../io/libdeflate.js';
import { reviveError } from '../io/tiff/sandbox-protocol.js';
import { openEngineContext, runTask, type EngineConfig, type EngineResult, type EngineTask, type WorkerFailure } from './block-task.js';

/** Young generation of each worker's heap, MB (V8 splits it into semi-spaces of a third each). */
const WORKER_YOUNG_GENERATION_MB = 3;

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
  tuneMalloc();
  const pool = new Piscina({
    filename: script, minThreads: threads, maxThreads: threads, workerData: config, idleTimeout: 60_000,
    // A small young generation (1 MB semi-spaces): each scavenge also frees the young ArrayBuffers that died in it,
    // and the workers allocate little else, so with the default 16 MB semi-spaces a scavenge came rarely and their
    // dead block buffers waited for it. Full l2a tile, alternating runs of `detect`: 402-418 -> 358-370 MB peak RSS,
    // no change in time (docs/BENCHMARKS.md).
    resourceLimits: { maxYoungGenerationSizeMb: WORKER_YOUNG_GENERATION_MB },
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

/**
 * Where the engine's memory goes besides its live blocks: each thread's freed megabyte-sized buffers stay in that
 * thread's glibc arena, and glibc's adaptive threshold soon serves even 4 MB buffers from the arenas. Two arenas and
 * a fixed 4 MiB mmap threshold (1024² float32 blocks and larger mapped on their own, given back when freed; 2 MB
 * tile buffers reused from the arenas) lowered the peak RSS of `detect` on a full l2a-layout tile from 546–555 to
 * 478–488 MB in alternating runs, at no measurable cost in time (docs/BENCHMARKS.md). A threshold of 1 MiB saved
 * more but cost 1–2 s (every tile buffer a fresh mapping). Process-wide, once, best before the run's first threads
 * (the decode preflight's sandbox worker, libuv's file I/O threads) make their arenas; a no-op without the native
 * binding or off glibc.
 */
let mallocTuned = false;
export function tuneMalloc(): void {
  if (mallocTuned || process.env.S2CHANGE_NO_MALLOC_TUNE === '1') return; // opt-out, for A/B measurements
  mallocTuned = true;
  libdeflate?.mallocTune?.(2, 4 * 1024 * 1024);
}
