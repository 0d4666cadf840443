/**
 * A ByteSource over a local file: positional reads through one node:fs/promises FileHandle.
 */
import type { FileHandle } from 'node:fs/promises';
import { CorruptTiffError } from '../errors.js';
import type { ByteSource } from './byte-source.js';
import { openRegularFile } from './local-file.js';

/**
 * Open `path` for positional reads. The file is opened lazily on first use (a missing file is InputNotFoundError,
 * anything but a regular file InvalidInputError); `read` returns exactly `length`
 * bytes or throws CorruptTiffError naming the file (a range past the end means a truncated or corrupt file).
 */
export function fileSource(path: string): ByteSource {
  let handle: Promise<FileHandle> | null = null;
  let cachedSize: number | null = null;
  const getHandle = (): Promise<FileHandle> => {
    // A FIFO or device is refused here (InvalidInputError), without blocking in open(): see local-file.ts.
    handle ??= openRegularFile(path).catch((err: unknown) => {
      handle = null;
      throw err;
    });
    return handle;
  };
  return {
    name: path,
    freshReads: true,
    async size() {
      if (cachedSize === null) cachedSize = (await (await getHandle()).stat()).size;
      return cachedSize;
    },
    async read(offset: number, length: number) {
      const size = await this.size();
      if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > size) {
        throw new CorruptTiffError('read past the end of the file (truncated or corrupt TIFF)', {
          input: path,
          expected: `bytes ${offset}..${offset + length} within a file of ${size} bytes`,
          found: `a file of ${size} bytes`,
          fix: 'Re-download or re-create the file',
        });
      }
      const buf = new Uint8Array(length);
      const fh = await getHandle();
      let done = 0;
      while (done < length) {
        const { bytesRead } = await fh.read(buf, done, length - done, offset + done);
        if (bytesRead === 0) {
          throw new CorruptTiffError('file ended early while reading', {
            input: path,
            expected: `${length} bytes at offset ${offset}`,
            found: `${done} bytes (the file shrank while being read?)`,
          });
        }
        done += bytesRead;
      }
      return buf;
    },
    async close() {
      if (handle) {
        const h = handle;
        handle = null;
        await (await h).close();
      }
    },
  };
}
