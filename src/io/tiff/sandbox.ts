/**
 * Decode untrusted TIFFs in a node:worker_threads Worker with a time and memory budget. The in-process reader
 * already bounds memory per tile and per window; the sandbox adds what it cannot: a CPU-time budget (a valid but
 * enormous LZW strip, a slow codec) and a hard heap cap. The worker is terminated when either is exceeded.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { DecodeTimeoutError, InputNotFoundError, LimitExceededError, UsageError } from '../../errors.js';
import { DEFAULT_LIMITS } from './reader.js';
import {
  reviveError, type ProbedArea, type SandboxProbe, type SandboxProgress, type SandboxReply, type SandboxRequest,
} from './sandbox-protocol.js';
import type { Window } from '../../raster/grid.js';
import type { ReaderLimits } from './types.js';
import { DEFAULT_DECODE_MEMORY_MB, DEFAULT_DECODE_TIMEOUT_MS } from './sandbox-defaults.js';

export type { FullOrProbe, ProbedArea, SandboxProbe } from './sandbox-protocol.js';
export { DEFAULT_DECODE_MEMORY_MB, DEFAULT_DECODE_TIMEOUT_MS } from './sandbox-defaults.js';
/**
 * Smallest heap budget accepted. A single V8 allocation larger than what is left of a worker's heap aborts the
 * whole process instead of the worker (nodejs/node#47224); the reader's largest single heap allocation is one
 * text tag (at most 64 MiB), so the budget must leave room for it.
 */
export const MIN_DECODE_MEMORY_MB = 256;
/** Default probe: the top-left 256 x 256 pixels of the full-resolution image, all bands. */
export const DEFAULT_PROBE: Readonly<Window> = Object.freeze({ x: 0, y: 0, width: 256, height: 256 });

export interface SandboxOptions {
  /** Wall-clock budget for opening, describing and decoding the probe, in ms (`--decode-timeout`). */
  timeMs?: number;
  /**
   * Heap budget of the worker in MB (`--decode-memory`), passed as `resourceLimits.maxOldGenerationSizeMb`.
   * Pixel buffers live outside the V8 heap, so unless `limits` says otherwise the reader's maxTileBytes and
   * maxWindowBytes are capped at the same budget.
   */
  maxOldGenerationMb?: number;
  /** Reader limits inside the worker. */
  limits?: Partial<ReaderLimits>;
  /** What to decode (default DEFAULT_PROBE; windows are clipped to the image). */
  probe?: SandboxProbe;
}

/** What a sandboxed inspection found. */
export interface SandboxedInspection {
  /** `describeTiff` of the file, as computed in the worker. */
  description: Record<string, unknown>;
  /** The areas that were decoded without error. */
  probed: ProbedArea[];
}

/**
 * The compiled worker script: next to this module when running from dist/, else dist/io/tiff/ of the repo when
 * running from src/ (tests); null when neither exists (run `npm run build`).
 */
export function sandboxWorkerUrl(): URL | null {
  for (const rel of ['./sandbox-worker.js', '../../../dist/io/tiff/sandbox-worker.js']) {
    const url = new URL(rel, import.meta.url);
    if (existsSync(fileURLToPath(url))) return url;
  }
  return null;
}

function atLeast(v: number, min: number, option: string, what: string): number {
  if (!(Number.isFinite(v) && v >= min)) {
    throw new UsageError(`invalid ${what}`, { input: option, expected: `a number >= ${min}`, found: String(v) });
  }
  return v;
}

/**
 * The error to report when the sandbox worker fails with `err` (its 'error' event): running out of heap
 * (ERR_WORKER_OUT_OF_MEMORY, or an ArrayBuffer allocation failure) becomes LimitExceededError naming `path` and the
 * budget; anything else (a bug in the reader) is returned unchanged.
 */
export function sandboxFailure(err: Error, path: string, memMb: number): Error {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ERR_WORKER_OUT_OF_MEMORY' || (err instanceof RangeError && /allocation failed/i.test(err.message))) {
    return new LimitExceededError('decoding needed more memory than its budget', {
      input: path,
      expected: `at most ${memMb} MB of heap (maxOldGenerationMb, --decode-memory)`,
      found: 'the decoder ran out of memory and was stopped',
      fix: `If the file is genuine, raise the budget, e.g. --decode-memory ${2 * memMb}; otherwise treat it as hostile`,
      cause: err,
    });
  }
  return err;
}

/**
 * Open `path`, describe it and decode `probe` in a Worker limited to `timeMs` and `maxOldGenerationMb`.
 * Reader errors come back as the same typed S2ChangeError subclasses (CorruptTiffError, NotATiffError, ...).
 * Throws DecodeTimeoutError when the budget runs out and LimitExceededError when the worker runs out of heap
 * (ERR_WORKER_OUT_OF_MEMORY); the worker is terminated in both cases. The heap budget is best-effort: see
 * MIN_DECODE_MEMORY_MB.
 */
export async function inspectTiffSandboxed(path: string, opts: SandboxOptions = {}): Promise<SandboxedInspection> {
  const reply = await runSandbox(path, undefined, opts);
  return { description: reply.description, probed: reply.probed };
}

/**
 * `inspectTiffSandboxed` for several files in ONE worker, in order, with one time and heap budget for all of
 * them; the first failing file stops the inspection and its typed error names it (a time-out or an out-of-heap
 * names the file being decoded at that moment). Resolves one inspection per file.
 */
export async function inspectTiffsSandboxed(paths: string[], opts: SandboxOptions = {}): Promise<(SandboxedInspection & { path: string })[]> {
  if (paths.length === 0) return [];
  const reply = await runSandbox(paths[0]!, paths, opts);
  return (reply.files ?? []).map((f) => ({ path: f.path, description: f.description, probed: f.probed }));
}

async function runSandbox(path: string, paths: string[] | undefined, opts: SandboxOptions): Promise<Extract<SandboxReply, { ok: true }>> {
  const timeMs = atLeast(opts.timeMs ?? DEFAULT_DECODE_TIMEOUT_MS, 1, '--decode-timeout', 'decode time budget (ms)');
  const memMb = atLeast(opts.maxOldGenerationMb ?? DEFAULT_DECODE_MEMORY_MB, MIN_DECODE_MEMORY_MB, '--decode-memory', 'decode memory budget (MB)');
  const url = sandboxWorkerUrl();
  if (url === null) {
    throw new InputNotFoundError('the decode sandbox worker script is missing', {
      input: fileURLToPath(new URL('./sandbox-worker.js', import.meta.url)),
      expected: 'the compiled worker dist/io/tiff/sandbox-worker.js', found: 'no such file',
      fix: 'Build the package first: npm run build',
    });
  }
  const budgetBytes = memMb * 1024 * 1024;
  const limits: Partial<ReaderLimits> = {
    maxTileBytes: Math.min(DEFAULT_LIMITS.maxTileBytes, budgetBytes),
    maxWindowBytes: Math.min(DEFAULT_LIMITS.maxWindowBytes, budgetBytes),
    ...opts.limits,
  };
  const request: SandboxRequest = { path, ...(paths ? { paths } : {}), limits, probe: opts.probe ?? { ...DEFAULT_PROBE } };
  let current = path; // the file being decoded (list workers say so before each file)
  return runSandboxWorker<SandboxReply | SandboxProgress, Extract<SandboxReply, { ok: true }>>(url, { workerData: request }, {
    memMb, timeMs,
    name: () => current,
    timeout: () => new DecodeTimeoutError('decoding took longer than its time budget', {
      input: current,
      expected: `open, describe and decode ${paths && paths.length > 1 ? `these ${paths.length} files` : 'it'} within ${timeMs} ms (--decode-timeout)`,
      found: `still decoding after ${timeMs} ms; the decoder was stopped`,
      fix: `If the file is genuine but large or slow to decode, raise the budget, e.g. --decode-timeout ${Math.max(2 * timeMs, 60_000)}; `
        + 'otherwise treat it as hostile (a huge strip or a decompression bomb)',
    }),
    onMessage: (msg) => {
      if ('progress' in msg) {
        current = msg.progress;
        return undefined;
      }
      return msg.ok ? { value: msg } : { error: reviveError(msg.error) };
    },
  });
}

/**
 * One sandboxed decode: a worker thread with a heap limit (`memMb`) and a deadline (`timeMs`) after which it is
 * terminated; its stdout/stderr are swallowed (a hostile file must not print into our output). `onMessage` turns a
 * message into the result (`{ value }`), a failure (`{ error }`) or nothing yet (progress). A worker that dies, runs
 * out of heap or exits without a reply is a typed failure naming `name()`. Used by the TIFF sandbox and by the
 * second decoders' sandbox (JPEG 2000, geotiff.js).
 */
export function runSandboxWorker<M, T>(
  url: URL, init: { workerData: unknown; transferList?: ArrayBuffer[] },
  opts: { memMb: number; timeMs: number; name: () => string; timeout: () => Error; onMessage: (msg: M) => { value: T } | { error: Error } | undefined },
): Promise<T> {
  const worker = new Worker(url, {
    workerData: init.workerData, transferList: init.transferList ?? [],
    resourceLimits: { maxOldGenerationSizeMb: opts.memMb },
    stdout: true, // a hostile file must not be able to make the worker print into our output
    stderr: true,
  });
  worker.stdout.resume();
  worker.stderr.resume();
  return new Promise<T>((resolve, reject) => {
    let done = false;
    const finish = (fn: () => void) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      fn();
      void worker.terminate().catch(() => undefined);
    };
    const timer = setTimeout(() => finish(() => reject(opts.timeout())), opts.timeMs);
    worker.on('message', (msg: M) => {
      const r = opts.onMessage(msg);
      if (r) finish(() => ('error' in r ? reject(r.error) : resolve(r.value)));
    });
    worker.once('error', (err: Error) => finish(() => reject(sandboxFailure(err, opts.name(), opts.memMb))));
    worker.once('exit', (code) => finish(() => reject(new Error(`${opts.name()}: the decode sandbox worker exited (code ${code}) without a reply`))));
  });
}
