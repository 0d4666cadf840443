/**
 * Cutting a raster into blocks for block-vs-whole tests: the row-major block windows of a `w` x `h` raster and the
 * values of one window, as the block engine sees them.
 */
import type { Window } from '../../src/raster/grid.js';

/** Row-major `bw` x `bh` windows covering `w` x `h` (edge windows smaller). */
export function blockWindows(w: number, h: number, bw: number, bh: number): Window[] {
  const windows: Window[] = [];
  for (let y = 0; y < h; y += bh) for (let x = 0; x < w; x += bw) windows.push({ x, y, width: Math.min(bw, w - x), height: Math.min(bh, h - y) });
  return windows;
}

/** A copy of window `win` of a row-major raster `w` pixels wide. */
export function cutWindow(values: Uint8Array, w: number, win: Window): Uint8Array {
  const out = new Uint8Array(win.width * win.height);
  for (let y = 0; y < win.height; y++) out.set(values.subarray((win.y + y) * w + win.x, (win.y + y) * w + win.x + win.width), y * win.width);
  return out;
}
