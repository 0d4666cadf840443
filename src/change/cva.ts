/**
 * Change vector analysis (CVA). Pure.
 *
 * For each pixel the change vector is d = after − before over the bands; its Euclidean length is the change
 * magnitude (Malila 1980). The direction of d says what kind of change it is (Johnson & Kasischke 1998).
 * Two direction codings are offered:
 * - `'signs'` (any number of bands ≤ 7): bit i is set when band i increased (d_i > 0), codes 0 … 2^p − 1;
 * - `'sectors'` (exactly 2 bands): the angle θ = atan2(d₂, d₁) in [0, 2π) cut into `sectors` equal sectors,
 *   counter-clockwise from the +band-1 axis; with 4 sectors, sector 0 = both increased, 1 = band 1 fell and
 *   band 2 rose, 2 = both fell, 3 = band 1 rose and band 2 fell.
 * A zero change vector gets code 0 in both codings. Invalid pixels get NaN magnitude and direction 255.
 */
import { MissingBandError, UsageError } from '../errors.js';

export interface CvaOptions {
  /** 1 = valid; pixels with 0 here, or NaN in any band, are invalid. */
  valid?: Uint8Array;
  /** Direction coding; default `'none'` (magnitude only). */
  direction?: 'none' | 'signs' | 'sectors';
  /** Number of sectors for `'sectors'` (2 bands only), 2–254; default 4. */
  sectors?: number;
}

export interface CvaResult {
  /** ‖after − before‖₂ per pixel, NaN where invalid. */
  magnitude: Float32Array;
  /** Direction code per pixel (see module doc), 255 where invalid; present unless direction is `'none'`. */
  direction?: Uint8Array;
}

/** Check that both dates have the same number of bands of `n` pixels each. */
export function checkBandStacks(before: readonly Float32Array[], after: readonly Float32Array[], n: number, what: string): void {
  if (before.length === 0 || before.length !== after.length) {
    throw new MissingBandError(`the two dates need the same, non-zero number of bands`, {
      input: what,
      expected: `as many bands after as before (≥ 1)`,
      found: `${before.length} before, ${after.length} after`,
      fix: 'Pass the same band list for both dates',
    });
  }
  for (const [name, stack] of [['before', before], ['after', after]] as const) {
    stack.forEach((b, i) => {
      if (b.length !== n) {
        throw new RangeError(`${what}: ${name} band ${i} has ${b.length} pixels, expected ${n}`);
      }
    });
  }
}

/**
 * Change vector analysis of two co-registered band stacks of `n` pixels each.
 *
 * @example
 * changeVector([new Float32Array([0.1])], [new Float32Array([0.4])], 1).magnitude // Float32Array [0.3]
 */
export function changeVector(
  before: readonly Float32Array[],
  after: readonly Float32Array[],
  n: number,
  opts: CvaOptions = {},
): CvaResult {
  checkBandStacks(before, after, n, 'CVA');
  const p = before.length;
  const mode = opts.direction ?? 'none';
  const sectors = opts.sectors ?? 4;
  if (mode === 'signs' && p > 7) {
    throw new UsageError('too many bands for the sign-pattern direction code', {
      input: 'CVA direction',
      expected: '≤ 7 bands (2^p codes must fit below 255)',
      found: `${p} bands`,
      fix: "Use direction: 'none', or select ≤ 7 bands",
    });
  }
  if (mode === 'sectors' && (p !== 2 || !Number.isInteger(sectors) || sectors < 2 || sectors > 254)) {
    throw new UsageError('sector directions need exactly 2 bands and 2–254 sectors', {
      input: 'CVA direction',
      expected: '2 bands, integer sectors in 2–254',
      found: `${p} bands, ${sectors} sectors`,
      fix: "Use direction: 'signs' for more bands",
    });
  }
  const magnitude = new Float32Array(n);
  const direction = mode === 'none' ? undefined : new Uint8Array(n);
  const valid = opts.valid;
  const sectorWidth = (2 * Math.PI) / sectors;
  for (let i = 0; i < n; i++) {
    let ss = 0;
    let code = 0;
    let ok = !valid || valid[i] === 1;
    for (let b = 0; b < p && ok; b++) {
      const d = after[b]![i]! - before[b]![i]!;
      if (d !== d) ok = false;
      ss += d * d;
      if (d > 0) code |= 1 << b;
    }
    if (!ok) {
      magnitude[i] = NaN;
      if (direction) direction[i] = 255;
      continue;
    }
    magnitude[i] = Math.sqrt(ss);
    if (!direction) continue;
    if (mode === 'signs') direction[i] = code;
    else {
      const d1 = after[0]![i]! - before[0]![i]!;
      const d2 = after[1]![i]! - before[1]![i]!;
      let theta = Math.atan2(d2, d1);
      if (theta < 0) theta += 2 * Math.PI;
      direction[i] = Math.min(sectors - 1, Math.floor(theta / sectorWidth));
    }
  }
  return direction ? { magnitude, direction } : { magnitude };
}
