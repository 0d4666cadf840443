/**
 * The piscina worker of the block engine: opens the run's scenes once (from `workerData`, an `EngineConfig`)
 * and runs block and tile tasks (`block-task.ts`). Results are moved, not copied: their encoded tiles and pieces
 * own their memory, so the worker transfers those ArrayBuffers to the main thread.
 */
import { move, transferableSymbol, valueSymbol, workerData } from 'piscina';
import { serializeError } from '../io/tiff/sandbox-protocol.js';
import { openEngineContext, runTask, type EngineConfig, type EngineContext, type EngineResult, type EngineTask, type WorkerFailure } from './block-task.js';

let context: Promise<EngineContext> | null = null;

/** Piscina entry point: one task in, one result out. */
export default async function handle(task: EngineTask): Promise<EngineResult | WorkerFailure> {
  let result: EngineResult;
  try {
    context ??= openEngineContext(workerData as EngineConfig);
    result = await runTask(await context, task);
  } catch (err) {
    // Typed errors (a corrupt tile, a limit) keep their class and code across the thread boundary.
    return { kind: 'failure', error: serializeError(err) };
  }
  const buffers = transferable(result);
  if (!buffers.length) return result;
  return move({ [transferableSymbol]: buffers, [valueSymbol]: result }) as unknown as EngineResult;
}

/**
 * The ArrayBuffers of the result's typed arrays that are safe to transfer: plain ArrayBuffers larger than Node's
 * Buffer pool (a pooled slab may back other Buffers), each once.
 */
function transferable(result: EngineResult): ArrayBuffer[] {
  if (result.kind === 'hash') return [];
  const views: (ArrayBufferView | null | undefined)[] = result.kind === 'tile' ? [result.bytes, result.piece]
    : result.kind === 'overview-rgb' ? [result.values]
    : [result.classBytes, result.productBytes, result.classPiece, result.productPiece, result.histogram, result.indexHistogram, result.indexHistogramM2, result.classPixels, result.classM2];
  const out = new Set<ArrayBuffer>();
  for (const v of views) {
    if (v && v.buffer instanceof ArrayBuffer && v.buffer.byteLength > 8192) out.add(v.buffer);
  }
  return [...out];
}
