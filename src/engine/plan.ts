/**
 * Block planning: a run's target grid cut into square output blocks that coincide with the output COG's tiles
 * (and, for Sentinel-2 COGs read at 10 m with the same block size, with the input tiles).
 */
import type { Window } from '../raster/grid.js';

/** One output block: tile (row, col) of the output COG's full-resolution image and its window on the target grid. */
export interface Block {
  readonly index: number;
  readonly row: number;
  readonly col: number;
  readonly window: Window;
}

/** The row-major grid of blocks of size `blockSize` covering a `width` x `height` target (edge blocks are smaller). */
export function planBlocks(width: number, height: number, blockSize: number): Block[] {
  if (!(Number.isInteger(blockSize) && blockSize >= 16 && blockSize % 16 === 0)) {
    throw new RangeError(`planBlocks: block size must be a multiple of 16, got ${blockSize}`);
  }
  const across = Math.ceil(width / blockSize);
  const down = Math.ceil(height / blockSize);
  const blocks: Block[] = [];
  for (let row = 0; row < down; row++) {
    for (let col = 0; col < across; col++) {
      const x = col * blockSize;
      const y = row * blockSize;
      blocks.push({
        index: blocks.length, row, col,
        window: { x, y, width: Math.min(blockSize, width - x), height: Math.min(blockSize, height - y) },
      });
    }
  }
  return blocks;
}

/** `w` grown by `halo` pixels on every side, clipped to a `width` x `height` image. */
export function growWindow(w: Window, halo: number, width: number, height: number): Window {
  const x0 = Math.max(0, w.x - halo);
  const y0 = Math.max(0, w.y - halo);
  const x1 = Math.min(width, w.x + w.width + halo);
  const y1 = Math.min(height, w.y + w.height + halo);
  return { x: x0, y: y0, width: x1 - x0, height: y1 - y0 };
}
