/**
 * Whole-image decoding with the second decoders (OpenJPEG for JPEG 2000, geotiff.js for TIFFs our reader does not
 * decode) in a node:worker_threads Worker under the same time and memory budget as the TIFF decode sandbox
 * (`--decode-timeout`, `--decode-memory`): the worker is terminated when the time runs out (geotiff.js loops forever
 * on a TIFF whose IFD points to itself), its heap is capped, and the decoded size is checked against the memory
 * budget before any pixel is decoded.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { DecodeTimeoutError, InputNotFoundError } from '../../errors.js';
import { reviveError } from '../tiff/sandbox-protocol.js';
import { sandboxFailure, MIN_DECODE_MEMORY_MB } from '../tiff/sandbox.js';
import { DEFAULT_DECODE_MEMORY_MB, DEFAULT_DECODE_TIMEOUT_MS } from '../tiff/sandbox-defaults.js';
import type { DecodedImage, DecodeReply, DecodeRequest } from './protocol.js';

export type { DecodedImage, GeotiffTags } from './protocol.js';

/** Time (ms) and heap (MB) budget of one whole-image decode. */
export interface DecodeBudgetOptions {
  timeMs?: number;
  memoryMb?: number;
}

/** The compiled worker: next to this module (dist/), else dist/io/decode/ of the repo (tests from src/). */
export function decodeWorkerUrl(): URL | null {
  for (const rel of ['./decode-worker.js', '../../../dist/io/decode/decode-worker.js']) {
    const url = new URL(rel, import.meta.url);
    if (existsSync(fileURLToPath(url))) return url;
  }
  return null;
}

/**
 * Decode one image in the sandbox. Typed errors from the worker (CorruptTiffError, UnsupportedCompressionError,
 * LimitExceededError …) come back as the same classes; DecodeTimeoutError when the time budget runs out.
 */
export async function decodeSandboxed(req: DecodeRequest, budget: DecodeBudgetOptions = {}): Promise<DecodedImage> {
  const timeMs = budget.timeMs ?? DEFAULT_DECODE_TIMEOUT_MS;
  const memMb = Math.max(MIN_DECODE_MEMORY_MB, budget.memoryMb ?? DEFAULT_DECODE_MEMORY_MB);
  const url = decodeWorkerUrl();
  if (url === null) {
    throw new InputNotFoundError('the decode sandbox worker script is missing', {
      input: fileURLToPath(new URL('./decode-worker.js', import.meta.url)),
      expected: 'the compiled worker dist/io/decode/decode-worker.js', found: 'no such file', fix: 'Build the package first: npm run build',
    });
  }
  const transfer = req.op === 'jp2' && req.bytes.byteOffset === 0 && req.bytes.byteLength === req.bytes.buffer.byteLength
    ? [req.bytes.buffer as ArrayBuffer] : [];
  const worker = new Worker(url, {
    workerData: req, transferList: transfer, resourceLimits: { maxOldGenerationSizeMb: memMb }, stdout: true, stderr: true,
  });
  worker.stdout.resume(); // OpenJPEG prints progress; a hostile file must not write into our output
  worker.stderr.resume();
  return new Promise((resolve, reject) => {
    let done = false;
    const finish = (fn: () => void) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      fn();
      void worker.terminate().catch(() => undefined);
    };
    const timer = setTimeout(() => finish(() => reject(new DecodeTimeoutError('decoding took longer than its time budget', {
      input: req.name,
      expected: `decoding within ${timeMs} ms (--decode-timeout)`,
      found: `still decoding after ${timeMs} ms; the decoder was stopped`,
      fix: `If the file is genuine but large, raise the budget, e.g. --decode-timeout ${Math.max(2 * timeMs, 60_000)}; otherwise treat it as hostile`,
    }))), timeMs);
    worker.once('message', (msg: DecodeReply) => finish(() => (msg.ok ? resolve(msg.image) : reject(reviveError(msg.error)))));
    worker.once('error', (err: Error) => finish(() => reject(sandboxFailure(err, req.name, memMb))));
    worker.once('exit', (code) => finish(() => reject(new Error(`${req.name}: the decode sandbox worker exited (code ${code}) without a reply`))));
  });
}
