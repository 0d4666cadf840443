/**
 * A ByteSource over bytes already in memory (tests, small downloads).
 */
import { CorruptTiffError } from '../errors.js';
import type { ByteSource } from './byte-source.js';

/** Wrap `bytes` as a ByteSource called `name`; reads past the end throw CorruptTiffError naming it. */
export function memorySource(bytes: Uint8Array, name: string): ByteSource {
  return {
    name,
    async size() {
      return bytes.length;
    },
    async read(offset: number, length: number) {
      if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > bytes.length) {
        throw new CorruptTiffError('read past the end of the data (truncated or corrupt TIFF)', {
          input: name,
          expected: `bytes ${offset}..${offset + length} within ${bytes.length} bytes`,
          found: `${bytes.length} bytes`,
          fix: 'Re-download or re-create the file',
        });
      }
      return bytes.slice(offset, offset + length);
    },
  };
}
