/** The 3 × 3 majority filter of binary change maps (speckle removal). Pure. */

/**
 * 3 × 3 majority filter of a class map (1 change, 0 no change, 255 invalid; width × height): a valid pixel becomes
 * change when more than half of the valid pixels of its 3 × 3 window (itself included, clipped at the edges) are
 * change, else no change (a tie is no change). Invalid pixels stay 255 and are not counted. Returns a new array.
 */
export function majorityFilter(classes: Uint8Array, width: number, height: number): Uint8Array {
  const out = new Uint8Array(classes.length);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      if (classes[i] === 255) { out[i] = 255; continue; }
      let change = 0;
      let n = 0;
      for (let yy = Math.max(0, y - 1); yy <= Math.min(height - 1, y + 1); yy++) {
        for (let xx = Math.max(0, x - 1); xx <= Math.min(width - 1, x + 1); xx++) {
          const c = classes[yy * width + xx]!;
          if (c !== 255) { n++; if (c === 1) change++; }
        }
      }
      out[i] = 2 * change > n ? 1 : 0;
    }
  }
  return out;
}
