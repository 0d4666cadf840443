/**
 * The piscina worker of the block engine: opens the run's scenes once (from `workerData`, an `EngineConfig`)
 * and runs block and tile tasks (`block-task.ts`).
 */
import { workerData } from 'piscina';
import { openEngineContext, runTask, type BlockResult, type EngineConfig, type EngineContext, type EngineTask, type TileResult } from './block-task.js';

let context: Promise<EngineContext> | null = null;

/** Piscina entry point: one task in, one result out. */
export default async function handle(task: EngineTask): Promise<BlockResult | TileResult> {
  context ??= openEngineContext(workerData as EngineConfig);
  return runTask(await context, task);
}
