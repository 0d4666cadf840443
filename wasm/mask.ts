// The block engine's cloud mask from the SCL band (wasm/mask.ts → dist/wasm/mask.wasm, `npm run build:wasm`):
// the class lookup of `sclMask` and the square dilation of `dilate` (src/raster/scl-mask.ts, morphology.ts), with the
// same results, in WebAssembly SIMD: the JavaScript loops cost ~14 ns per pixel, a large share of a full tile's time.
// Memory is laid out by the caller (src/engine/mask-kernel.ts); every pointer is a byte offset into `memory`.

/**
 * 1 where the f32 SCL value at `scl` is NaN or a class whose byte in the 256-entry `table` is 1, else 0, for `n`
 * pixels into the u8 at `dst` (as `sclMask`: a value in [0, 256) is looked up by its integer part).
 */
export function classMask(scl: usize, n: i32, table: usize, dst: usize): void {
  for (let i = 0; i < n; i++) {
    const v = load<f32>(scl + (<usize>i << 2));
    let m: u8 = 0;
    if (v != v) m = 1;
    else if (v >= 0 && v < 256) m = load<u8>(table + <usize><i32>v);
    store<u8>(dst + <usize>i, m);
  }
}

/**
 * Dilate the 0/1 u8 mask at `src` (`width` x `height`) by a square of radius `r`: each pixel of `dst` is 1 when
 * any pixel of `src` within r rows and r columns is. Horizontal pass into `tmp`, then vertical; 16 pixels per step.
 */
export function dilateSquare(src: usize, tmp: usize, dst: usize, width: i32, height: i32, r: i32): void {
  for (let y = 0; y < height; y++) {
    const row = <usize>(y * width);
    const s = src + row;
    const t = tmp + row;
    let x = 0;
    for (; x < min(r, width); x++) store<u8>(t + <usize>x, rowOr(s, max(0, x - r), min(width - 1, x + r)));
    for (; x + 16 <= width - r; x += 16) {
      let acc = v128.load(s + <usize>(x - r));
      for (let d = 1; d <= 2 * r; d++) acc = v128.or(acc, v128.load(s + <usize>(x - r + d)));
      v128.store(t + <usize>x, acc);
    }
    for (; x < width; x++) store<u8>(t + <usize>x, rowOr(s, max(0, x - r), min(width - 1, x + r)));
  }
  for (let y = 0; y < height; y++) {
    const lo = max(0, y - r);
    const hi = min(height - 1, y + r);
    const d = dst + <usize>(y * width);
    let x = 0;
    for (; x + 16 <= width; x += 16) {
      let acc = v128.load(tmp + <usize>(lo * width + x));
      for (let yy = lo + 1; yy <= hi; yy++) acc = v128.or(acc, v128.load(tmp + <usize>(yy * width + x)));
      v128.store(d + <usize>x, acc);
    }
    for (; x < width; x++) {
      let acc: u8 = 0;
      for (let yy = lo; yy <= hi; yy++) acc |= load<u8>(tmp + <usize>(yy * width + x));
      store<u8>(d + <usize>x, acc);
    }
  }
}

/** OR of the bytes at `row` + [x0, x1]. */
// @ts-ignore: decorator
@inline function rowOr(row: usize, x0: i32, x1: i32): u8 {
  let acc: u8 = 0;
  for (let x = x0; x <= x1; x++) acc |= load<u8>(row + <usize>x);
  return acc;
}
