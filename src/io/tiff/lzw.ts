/**
 * TIFF LZW decoder (MSB-first codes, 9..12 bits, "early change" as libtiff writes it) with a hard output cap.
 */

const CLEAR = 256;
const EOI = 257;

/** Thrown when the compressed data is malformed or decodes past `maxOut` bytes. */
export class LzwError extends Error {}

/**
 * Decode TIFF LZW `input` into at most `maxOut` bytes. Returns the decoded bytes (a view of one buffer of
 * `maxOut` bytes). Missing EOI at the end of the data is tolerated, as libtiff does.
 */
export function lzwDecode(input: Uint8Array, maxOut: number): Uint8Array {
  const out = new Uint8Array(maxOut);
  const prefix = new Uint16Array(4096);
  const suffix = new Uint8Array(4096);
  const first = new Uint8Array(4096);
  const length = new Uint16Array(4096);
  for (let i = 0; i < 256; i++) {
    suffix[i] = i;
    first[i] = i;
    length[i] = 1;
  }
  const nbits = input.length * 8;
  let bitPos = 0;
  let width = 9;
  let next = 258;
  let old = -1;
  let op = 0;
  while (bitPos + width <= nbits) {
    // read `width` bits MSB-first
    const byte = bitPos >>> 3;
    const chunk = ((input[byte] << 16) | ((input[byte + 1] ?? 0) << 8) | (input[byte + 2] ?? 0)) >>> 0;
    const code = (chunk >>> (24 - (bitPos & 7) - width)) & ((1 << width) - 1);
    bitPos += width;
    if (code === EOI) break;
    if (code === CLEAR) {
      width = 9;
      next = 258;
      old = -1;
      continue;
    }
    let len: number;
    let firstByte: number;
    if (code < next && (code < 256 || code >= 258)) {
      len = length[code];
      if (op + len > maxOut) throw new LzwError(`LZW data decodes past ${maxOut} bytes`);
      let c = code;
      for (let k = op + len - 1; k >= op; k--) {
        out[k] = suffix[c];
        c = prefix[c];
      }
      firstByte = first[code];
      op += len;
    } else if (code === next && old >= 0) {
      len = length[old] + 1;
      if (op + len > maxOut) throw new LzwError(`LZW data decodes past ${maxOut} bytes`);
      let c = old;
      for (let k = op + len - 2; k >= op; k--) {
        out[k] = suffix[c];
        c = prefix[c];
      }
      firstByte = first[old];
      out[op + len - 1] = firstByte;
      op += len;
    } else {
      throw new LzwError(`invalid LZW code ${code} (next free code ${next})`);
    }
    if (old >= 0 && next < 4096) {
      prefix[next] = old;
      suffix[next] = firstByte;
      first[next] = first[old];
      length[next] = length[old] + 1;
      next++;
    }
    old = code;
    if (next + 1 >= 1 << width && width < 12) width++;
  }
  return out.subarray(0, op);
}
