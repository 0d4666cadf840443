/**
 * Raster values as ndarray views. Pure module.
 *
 * A `Plane` is one band on a grid: an ndarray of shape [height, width] over a Float32Array, NaN where invalid.
 * A `Mask` is a uint8 ndarray of the same shape, 1 = valid. Windows are views (`plane.hi(h, w).lo(y, x)`), not
 * copies; kernels read through `plane.data`, `plane.offset` and `plane.stride`.
 */
import ndarray from 'ndarray';
import type { NdArray } from 'ndarray';

export type Plane = NdArray<Float32Array>;
export type Mask = NdArray<Uint8Array>;

export function plane(width: number, height: number, data?: Float32Array): Plane {
  const d = data ?? new Float32Array(width * height);
  if (d.length < width * height) throw new RangeError(`plane data has ${d.length} values, need ${width * height}`);
  return ndarray(d, [height, width]);
}

export function mask(width: number, height: number, data?: Uint8Array): Mask {
  return ndarray(data ?? new Uint8Array(width * height), [height, width]);
}

/** Height and width of a 2-D view. */
export function shapeOf(a: NdArray): { width: number; height: number } {
  return { height: a.shape[0]!, width: a.shape[1]! };
}

/** True when the view is row-major with no gaps, so `data[offset + i]` walks it. */
export function isContiguous(a: NdArray): boolean {
  return a.stride[1] === 1 && a.stride[0] === a.shape[1];
}

/**
 * A contiguous copy of a view, or the view itself when it already is contiguous, starts at 0 and its data holds
 * exactly its pixels. A view of the first rows of a plane is contiguous but its data is the whole plane: it gets a
 * subarray of exactly width × height values (no copy), so `.data` never carries rows outside the view.
 */
export function contiguous<T extends Float32Array | Uint8Array>(a: NdArray<T>): NdArray<T> {
  const { width, height } = shapeOf(a);
  if (isContiguous(a)) {
    if (a.offset === 0 && a.data.length === width * height) return a;
    return ndarray(a.data.subarray(a.offset, a.offset + width * height) as T, [height, width]);
  }
  const Ctor = a.data.constructor as { new (n: number): T };
  const out = new Ctor(width * height);
  const [s0, s1] = a.stride as [number, number];
  for (let y = 0; y < height; y++) {
    let src = a.offset + y * s0;
    const row = y * width;
    for (let x = 0; x < width; x++, src += s1) out[row + x] = a.data[src]!;
  }
  return ndarray(out, [height, width]);
}

export function assertSameShape(name: string, a: NdArray, b: NdArray): void {
  if (a.shape[0] !== b.shape[0] || a.shape[1] !== b.shape[1]) {
    throw new RangeError(`${name}: shapes differ, ${a.shape.join('x')} vs ${b.shape.join('x')}`);
  }
}
