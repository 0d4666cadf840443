// The block engine's per-pixel hot loop for two-band, two-date normalized-difference presets (vegetation, wildfire),
// in AssemblyScript compiled to WebAssembly SIMD (`npm run build:wasm` → dist/wasm/fused.wasm).
//
// Every value goes through exactly the float32 rounding steps of the TypeScript whole-array path, so results are
// bit-identical to it (tests/engine*.test.ts compare the two on real and synthetic scenes):
//   reflectance = fround((DN + offset) × scale)                  (pipeline/align.ts toPhysical)
//   index       = fround((x − y) / (x + y)), NaN where x + y = 0  (indices/normalized-difference.ts)
//   change      = fround(index_after − index_before)  (or before − after)
// Arithmetic is in f64 (as JavaScript's) and rounded to f32 where the whole-array path stores a Float32Array.
// Memory is laid out by the caller (src/engine/fused-kernel.ts); every pointer is a byte offset into `memory`.

// The NaN JavaScript stores for `NaN` (0x7fc00000), written wherever the whole-array path writes NaN, so files
// match byte for byte (x86 arithmetic would produce 0xffc00000 for 0/0).
const NAN32: f32 = reinterpret<f32>(0x7fc00000);

/** Round the two f64 lanes to f32 precision (Math.fround), keeping them as f64. */
// @ts-ignore: decorator
@inline function fround2(v: v128): v128 {
  return f64x2.promote_low_f32x4(f32x4.demote_f64x2_zero(v));
}

/**
 * Reflectance of `n` uint16 DNs at `src` into f32 at `dst`: fround((DN + offset) × scale), NaN where DN equals
 * `nodata` (a negative `nodata`: no DN is nodata). Adds the band's [negative, valid] reflectance counts into the
 * two i32 at `counts`. With `predictedRow` > 0 the DNs are still differenced along rows of that length (TIFF
 * predictor 2) and are first summed back in place, modulo 2^16 as libtiff does.
 */
export function dnToReflectance(src: usize, dst: usize, n: i32, scale: f64, offset: f64, nodata: i32, counts: usize, predictedRow: i32): void {
  if (predictedRow > 0) {
    for (let row = 0; row + predictedRow <= n; row += predictedRow) {
      let p = src + (<usize>row << 1);
      const end = p + (<usize>predictedRow << 1);
      let acc = <u32>load<u16>(p);
      for (p += 2; p < end; p += 2) {
        acc += <u32>load<u16>(p);
        store<u16>(p, <u16>acc);
      }
    }
  }
  const s = f64x2.splat(scale);
  const o = f64x2.splat(offset);
  const nd = i32x4.splat(nodata);
  const nan = f32x4.splat(NAN32);
  const zero = f32x4.splat(0);
  let negative = i32x4.splat(0);
  let invalid = i32x4.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const dn = i32x4.extend_low_i16x8_u(v128.load64_zero(src + (<usize>i << 1)));
    const lo = f32x4.demote_f64x2_zero(f64x2.mul(f64x2.add(f64x2.convert_low_i32x4_u(dn), o), s));
    const hi = f32x4.demote_f64x2_zero(f64x2.mul(f64x2.add(f64x2.convert_low_i32x4_u(i32x4.shuffle(dn, dn, 2, 3, 0, 1)), o), s));
    const bad = i32x4.eq(dn, nd);
    const r = v128.bitselect(nan, i32x4.shuffle(lo, hi, 0, 1, 4, 5), bad);
    v128.store(dst + (<usize>i << 2), r);
    // Masks are -1 per true lane: subtracting them counts. NaN < 0 is false, so nodata is never negative.
    negative = i32x4.sub(negative, f32x4.lt(r, zero));
    invalid = i32x4.sub(invalid, bad);
  }
  let neg = i32x4.extract_lane(negative, 0) + i32x4.extract_lane(negative, 1) + i32x4.extract_lane(negative, 2) + i32x4.extract_lane(negative, 3);
  let bad = i32x4.extract_lane(invalid, 0) + i32x4.extract_lane(invalid, 1) + i32x4.extract_lane(invalid, 2) + i32x4.extract_lane(invalid, 3);
  for (; i < n; i++) {
    const dn = <i32>load<u16>(src + (<usize>i << 1));
    let r: f32;
    if (dn == nodata) {
      r = NAN32;
      bad++;
    } else {
      r = <f32>((<f64>dn + offset) * scale);
      if (r < 0) neg++;
    }
    store<f32>(dst + (<usize>i << 2), r);
  }
  store<i32>(counts, load<i32>(counts) + neg);
  store<i32>(counts + 4, load<i32>(counts + 4) + n - bad);
}

/**
 * The change of a normalized difference between two dates for `n` pixels, and its class: x1, y1 (after) and x0, y0
 * (before) are f32 reflectances (NaN = nodata), cloud1/cloud0 u8 masks (0 pointer: none). Writes per pixel
 * `change` (f32: after − before when `afterMinusBefore`, else before − after; NaN where not valid or where an index
 * is undefined) and `classes` (u8: 255 where any band is nodata, either date is cloud/shadow/snow or the change is
 * not finite, else the class the rules at `rules` give the change — see src/change/class-rules.ts; layout in
 * src/engine/fused-kernel.ts). Adds the nodata, cloud and undefined-index pixel counts into the three i32 at `counts`.
 */
export function normalizedDifferenceChange(x1: usize, y1: usize, x0: usize, y0: usize, cloud1: usize, cloud0: usize,
  change: usize, classes: usize, n: i32, afterMinusBefore: bool, rules: usize, counts: usize): void {
  const zero = f64x2.splat(0);
  const nan = f64x2.splat(<f64>NAN32);
  const forward = i64x2.splat(afterMinusBefore ? -1 : 0);
  let i = 0;
  for (; i + 2 <= n; i += 2) {
    const p = <usize>i << 2;
    const a = f64x2.promote_low_f32x4(v128.load64_zero(x1 + p));
    const b = f64x2.promote_low_f32x4(v128.load64_zero(y1 + p));
    const c = f64x2.promote_low_f32x4(v128.load64_zero(x0 + p));
    const e = f64x2.promote_low_f32x4(v128.load64_zero(y0 + p));
    const s1 = f64x2.add(a, b);
    const s0 = f64x2.add(c, e);
    const i1 = fround2(f64x2.div(f64x2.sub(a, b), s1));
    const i0 = fround2(f64x2.div(f64x2.sub(c, e), s0));
    // A zero sum has no defined index: NaN, as the whole-array path writes it (and NaN matches no class rule).
    const undefinedIndex = v128.or(f64x2.eq(s1, zero), f64x2.eq(s0, zero));
    const d = v128.bitselect(nan, fround2(v128.bitselect(f64x2.sub(i1, i0), f64x2.sub(i0, i1), forward)), undefinedIndex);
    const cls = classesByRules(d, rules);
    const d32 = f32x4.demote_f64x2_zero(d);
    // NaN inputs are nodata.
    const valid = v128.and(v128.and(f64x2.eq(a, a), f64x2.eq(b, b)), v128.and(f64x2.eq(c, c), f64x2.eq(e, e)));
    writePixel(i, i64x2.extract_lane(valid, 0) != 0, f32x4.extract_lane(d32, 0), <u8>i64x2.extract_lane(cls, 0), cloud1, cloud0, change, classes, counts);
    writePixel(i + 1, i64x2.extract_lane(valid, 1) != 0, f32x4.extract_lane(d32, 1), <u8>i64x2.extract_lane(cls, 1), cloud1, cloud0, change, classes, counts);
  }
  for (; i < n; i++) {
    const p = <usize>i << 2;
    const a = <f64>load<f32>(x1 + p), b = <f64>load<f32>(y1 + p), c = <f64>load<f32>(x0 + p), e = <f64>load<f32>(y0 + p);
    const s1 = a + b;
    const s0 = c + e;
    const i1 = <f64><f32>((a - b) / s1);
    const i0 = <f64><f32>((c - e) / s0);
    const d: f32 = s1 == 0 || s0 == 0 ? NAN32 : <f32>(afterMinusBefore ? i1 - i0 : i0 - i1);
    const cls = <u8>i64x2.extract_lane(classesByRules(f64x2.splat(<f64>d), rules), 0);
    writePixel(i, a == a && b == b && c == c && e == e, d, cls, cloud1, cloud0, change, classes, counts);
  }
}

const NODATA_CLASS: u8 = 255;

// @ts-ignore: decorator
@inline function writePixel(i: i32, valid: bool, d: f32, cls: u8, cloud1: usize, cloud0: usize, change: usize,
  classes: usize, counts: usize): void {
  if (!valid) {
    store<i32>(counts, load<i32>(counts) + 1);
    store<f32>(change + (<usize>i << 2), NAN32);
    store<u8>(classes + i, NODATA_CLASS);
  } else if ((cloud1 != 0 && load<u8>(cloud1 + i) != 0) || (cloud0 != 0 && load<u8>(cloud0 + i) != 0)) {
    store<i32>(counts + 4, load<i32>(counts + 4) + 1);
    store<f32>(change + (<usize>i << 2), NAN32);
    store<u8>(classes + i, NODATA_CLASS);
  } else if (d - d != 0) {
    // No finite index (x + y = 0 on a date, or an overflow): invalid like nodata, counted apart (issue #19).
    store<i32>(counts + 8, load<i32>(counts + 8) + 1);
    store<f32>(change + (<usize>i << 2), NAN32);
    store<u8>(classes + i, NODATA_CLASS);
  } else {
    store<f32>(change + (<usize>i << 2), d);
    store<u8>(classes + i, cls);
  }
}

/**
 * The classes (i64 lanes) of two values under the rules at `rules`: i32 count, i32 otherwise, then per rule i32
 * comparison (0 <, 1 <=, 2 >=, 3 >), i32 class, f64 bound. The first rule that holds gives the class (NaN holds
 * none): applied from the last rule to the first, each rule that holds overwrites the class.
 */
// @ts-ignore: decorator
@inline function classesByRules(d: v128, rules: usize): v128 {
  let cls = i64x2.splat(<i64>load<i32>(rules + 4));
  for (let k = load<i32>(rules) - 1; k >= 0; k--) {
    const r = rules + 8 + (<usize>k << 4);
    const op = load<i32>(r);
    const bound = f64x2.splat(load<f64>(r + 8));
    const holds = op == 0 ? f64x2.lt(d, bound) : op == 1 ? f64x2.le(d, bound) : op == 2 ? f64x2.ge(d, bound) : f64x2.gt(d, bound);
    cls = v128.bitselect(i64x2.splat(<i64>load<i32>(r + 4)), cls, holds);
  }
  return cls;
}

/**
 * Quicklook cells of one block: for the f x f cells of a reduced grid that the `width` x `height` f32 values touch
 * (the block starts `offX`, `offY` pixels into its first cell), add each cell's sum of finite values (f64) and
 * their count (u32) into `sums` and `counts`, row-major with `cw` cells per row.
 */
export function cellSums(values: usize, width: i32, height: i32, f: i32, offX: i32, offY: i32, cw: i32, sums: usize, counts: usize): void {
  for (let y = 0; y < height; y++) {
    const cell = (<usize>(((y + offY) / f) * cw));
    const row = values + (<usize>(y * width) << 2);
    for (let i = 0; i < cw; i++) {
      const xs = max(0, i * f - offX);
      const xe = min(width, (i + 1) * f - offX);
      let sum: f64 = 0;
      let n: u32 = 0;
      for (let x = xs; x < xe; x++) {
        const v = <f64>load<f32>(row + (<usize>x << 2));
        if (v - v == 0) { // finite
          sum += v;
          n++;
        }
      }
      const o = cell + <usize>i;
      store<f64>(sums + (o << 3), load<f64>(sums + (o << 3)) + sum);
      store<u32>(counts + (o << 2), load<u32>(counts + (o << 2)) + n);
    }
  }
}

/**
 * Add the number of pixels of each value of the `n` u8 classes at `classes` into the 256 u32 at `counts`. Four
 * interleaved histograms (at `scratch`, 4 x 256 u32, zeroed here) keep runs of one class from chaining every
 * increment on the last one.
 */
export function classCounts(classes: usize, n: i32, counts: usize, scratch: usize): void {
  memory.fill(scratch, 0, 4 * 256 * 4);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const w = load<u32>(classes + <usize>i);
    const a = scratch + ((<usize>(w & 0xff)) << 2);
    const b = scratch + 1024 + ((<usize>((w >> 8) & 0xff)) << 2);
    const c = scratch + 2048 + ((<usize>((w >> 16) & 0xff)) << 2);
    const d = scratch + 3072 + ((<usize>(w >> 24)) << 2);
    store<u32>(a, load<u32>(a) + 1);
    store<u32>(b, load<u32>(b) + 1);
    store<u32>(c, load<u32>(c) + 1);
    store<u32>(d, load<u32>(d) + 1);
  }
  for (; i < n; i++) {
    const a = scratch + ((<usize>load<u8>(classes + <usize>i)) << 2);
    store<u32>(a, load<u32>(a) + 1);
  }
  for (let v: usize = 0; v < 256; v++) {
    const o = v << 2;
    store<u32>(counts + o, load<u32>(counts + o) + load<u32>(scratch + o) + load<u32>(scratch + 1024 + o) + load<u32>(scratch + 2048 + o) + load<u32>(scratch + 3072 + o));
  }
}
