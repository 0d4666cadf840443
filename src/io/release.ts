/**
 * Giving a dead block buffer's memory back at once. V8 frees an ArrayBuffer only when a garbage collection finds it
 * dead, and it starts one on external memory only after ~64 MB more of it since the last: the engine allocates
 * megabytes of typed arrays per block (decoded tiles, the resampled SCL) and almost nothing else, so each thread of
 * a run carried up to ~64 MB of dead buffers, which the process's peak RSS held. An ArrayBuffer transferred into a
 * closed MessagePort is detached and its message dropped, which frees the memory there and then (the transfer
 * itself copies nothing). Measured on a full l2a-layout tile: docs/BENCHMARKS.md.
 *
 * Only for arrays the caller alone owns and never touches again: a released array is detached (length 0).
 */
import { MessageChannel, type MessagePort } from 'node:worker_threads';

let sink: MessagePort | null = null;

/** Arrays smaller than this are left to the garbage collector (Node's Buffer pool slabs are 8 KB). */
const MIN_BYTES = 64 * 1024;

/**
 * Free the memory of `arrays` now. Skipped (left to the collector): arrays under 64 KB, views of part of a buffer
 * (a pool slab, a shared strip), and buffers that cannot be transferred (WebAssembly memory, shared memory).
 */
export function release(...arrays: (ArrayBufferView | null | undefined)[]): void {
  for (const a of arrays) {
    if (!a || !(a.buffer instanceof ArrayBuffer) || a.byteLength < MIN_BYTES) continue;
    if (a.byteOffset !== 0 || a.byteLength !== a.buffer.byteLength) continue;
    if (!sink) {
      const { port1, port2 } = new MessageChannel();
      port2.close();
      port1.close();
      sink = port1;
    }
    try {
      sink.postMessage(null, [a.buffer]);
    } catch {
      // not transferable: the garbage collector frees it
    }
  }
}
