/**
 * Whole-image decoding with the second decoders (OpenJPEG for JPEG 2000, geotiff.js for TIFFs our reader does not
 * decode) in a node:worker_threads Worker under the same time and memory budget as the TIFF decode sandbox
 * (`--decode-timeout`, `--decode-memory`): the worker is terminated when the time runs out (geotiff.js loops forever
 * on a TIFF whose IFD points to itself), its heap is capped, and the decoded size is checked against the memory
 * budget before any pixel is decoded.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { DecodeTimeoutError, InputNotFoundError } from '../../errors.js';
import { reviveError } from '../tiff/sandbox-protocol.js';
import { MIN_DECODE_MEMORY_MB, runSandboxWorker } from '../tiff/sandbox.js';
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
  // OpenJPEG prints progress: the shared runner swallows the worker's stdout/stderr
  return runSandboxWorker<DecodeReply, DecodedImage>(url, { workerData: req, transferList: transfer }, {
    memMb, timeMs,
    name: () => req.name,
    timeout: () => new DecodeTimeoutError('decoding took longer than its time budget', {
      input: req.name,
      expected: `decoding within ${timeMs} ms (--decode-timeout)`,
      found: `still decoding after ${timeMs} ms; the decoder was stopped`,
      fix: `If the file is genuine but large, raise the budget, e.g. --decode-timeout ${Math.max(2 * timeMs, 60_000)}; otherwise treat it as hostile`,
    }),
    onMessage: (msg) => (msg.ok ? { value: msg.image } : { error: reviveError(msg.error) }),
  });
}
