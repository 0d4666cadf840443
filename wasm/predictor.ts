// TIFF predictors for the COG writer (src/io/cog-writer.ts), in AssemblyScript compiled to WebAssembly SIMD
// (`npm run build:wasm` → dist/wasm/predictor.wasm). Byte-identical to the TypeScript fallback in cog-writer.ts.
// Memory is laid out by the caller; every pointer is a byte offset into `memory`.

/**
 * TIFF predictor 3 (libtiff's fpDiff) on `rows` rows of `rowLen` little-endian float32 at `src`, written to `dst`
 * (not overlapping): each row's bytes are regrouped into planes, most significant byte first (all byte 3s, then all
 * byte 2s, ...), and the row's byte sequence is then differenced (each byte minus the one before it, modulo 256).
 */
export function floatPredictor(src: usize, dst: usize, rowLen: i32, rows: i32): void {
  const L = <usize>rowLen;
  const rowBytes = L << 2;
  for (let r = 0; r < rows; r++) {
    const s = src + <usize>r * rowBytes;
    const d = dst + <usize>r * rowBytes;
    // 16 floats at a time: gather each byte plane into one vector, subtract the plane shifted by one byte.
    let prev3 = i8x16.splat(0);
    let prev2 = i8x16.splat(0);
    let prev1 = i8x16.splat(0);
    let prev0 = i8x16.splat(0);
    let i: usize = 0;
    for (; i + 16 <= L; i += 16) {
      const p = s + (i << 2);
      const a = v128.load(p);
      const b = v128.load(p, 16);
      const c = v128.load(p, 32);
      const e = v128.load(p, 48);
      const abHigh = i8x16.shuffle(a, b, 3, 7, 11, 15, 19, 23, 27, 31, 2, 6, 10, 14, 18, 22, 26, 30);
      const abLow = i8x16.shuffle(a, b, 1, 5, 9, 13, 17, 21, 25, 29, 0, 4, 8, 12, 16, 20, 24, 28);
      const ceHigh = i8x16.shuffle(c, e, 3, 7, 11, 15, 19, 23, 27, 31, 2, 6, 10, 14, 18, 22, 26, 30);
      const ceLow = i8x16.shuffle(c, e, 1, 5, 9, 13, 17, 21, 25, 29, 0, 4, 8, 12, 16, 20, 24, 28);
      const plane3 = i8x16.shuffle(abHigh, ceHigh, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23);
      const plane2 = i8x16.shuffle(abHigh, ceHigh, 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
      const plane1 = i8x16.shuffle(abLow, ceLow, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23);
      const plane0 = i8x16.shuffle(abLow, ceLow, 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
      v128.store(d + i, i8x16.sub(plane3, i8x16.shuffle(prev3, plane3, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30)));
      v128.store(d + L + i, i8x16.sub(plane2, i8x16.shuffle(prev2, plane2, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30)));
      v128.store(d + 2 * L + i, i8x16.sub(plane1, i8x16.shuffle(prev1, plane1, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30)));
      v128.store(d + 3 * L + i, i8x16.sub(plane0, i8x16.shuffle(prev0, plane0, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30)));
      prev3 = plane3;
      prev2 = plane2;
      prev1 = plane1;
      prev0 = plane0;
    }
    // The rest of the row one float at a time, and the first byte of each plane, whose predecessor is the last byte
    // of the plane before it (planes 1..3) or nothing (plane 0).
    for (; i < L; i++) predictByte(s, d, L, i);
    if (L > 0) predictByte(s, d, L, 0);
  }
}

/** Predictor-3 bytes of float `i` of the row at `s` (length `L`) into the four planes at `d`. */
// @ts-ignore: decorator
@inline function predictByte(s: usize, d: usize, L: usize, i: usize): void {
  for (let k: usize = 0; k < 4; k++) {
    const here = load<u8>(s + (i << 2) + 3 - k);
    const before: u8 = i > 0 ? load<u8>(s + ((i - 1) << 2) + 3 - k) : k > 0 ? load<u8>(s + ((L - 1) << 2) + 4 - k) : 0;
    store<u8>(d + k * L + i, here - before);
  }
}
