/**
 * `release` (src/io/release.ts) gives a dead buffer's memory back at once: the process's ArrayBuffer total
 * (V8's own accounting) drops by the released bytes without a garbage collection, and the arrays are detached. Views
 * of part of a buffer, small arrays and WebAssembly memory are left alone.
 */
import { describe, expect, it } from 'vitest';
import { release } from '../src/io/release.js';

describe('release', () => {
  it('frees whole buffers now and detaches them', () => {
    const arrays = Array.from({ length: 8 }, (_, i) => new Float32Array(4 << 20).fill(i)); // 8 x 16 MiB
    const before = process.memoryUsage().arrayBuffers;
    release(...arrays, null, undefined);
    const after = process.memoryUsage().arrayBuffers;
    expect(before - after).toBeGreaterThanOrEqual(8 * 16 * 2 ** 20);
    for (const a of arrays) expect(a.length).toBe(0);
  });

  it('leaves partial views, small arrays and WebAssembly memory untouched', () => {
    const big = new Uint16Array(1 << 20).fill(7);
    const part = big.subarray(10);
    const small = new Uint8Array(1000).fill(3);
    const memory = new WebAssembly.Memory({ initial: 2 });
    const wasmView = new Uint8Array(memory.buffer);
    release(part, small, wasmView);
    expect([big.length, part.length, small.length, wasmView.length]).toEqual([1 << 20, (1 << 20) - 10, 1000, 2 * 65536]);
    expect(part[0]).toBe(7);
    expect(small[999]).toBe(3);
  });
});
