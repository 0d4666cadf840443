/**
 * The size an .xz stream (LZMA-compressed TIFF tiles) says it decodes to, read from its index. Pure.
 */

/**
 * The uncompressed size an .xz stream declares in its index (liblzma checks the data against it while decoding),
 * so a decompression bomb is refused before anything is decoded. Throws on a stream without a valid footer.
 */
export function xzDeclaredSize(b: Uint8Array): number {
  const n = b.length;
  if (n < 24 || b[n - 2] !== 0x59 || b[n - 1] !== 0x5a) throw new Error('LZMA data has no .xz stream footer');
  const backward = ((b[n - 8]! | (b[n - 7]! << 8) | (b[n - 6]! << 16)) + b[n - 5]! * 2 ** 24 + 1) * 4;
  let p = n - 12 - backward;
  if (p < 12 || b[p] !== 0) throw new Error('LZMA data has no valid .xz index');
  p++;
  const varint = (): number => {
    let v = 0;
    for (let i = 0; i < 9; i++) {
      if (p >= n - 12) throw new Error('LZMA .xz index is truncated');
      const byte = b[p++]!;
      v += (byte & 0x7f) * 2 ** (7 * i);
      if ((byte & 0x80) === 0) return v;
    }
    throw new Error('LZMA .xz index has an overlong number');
  };
  const records = varint();
  let total = 0;
  for (let r = 0; r < records; r++) {
    varint(); // unpadded size
    total += varint();
  }
  return total;
}
