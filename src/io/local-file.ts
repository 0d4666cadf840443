/**
 * Opening local input files without hanging and reading small JSON inputs (STAC items, --model, events files)
 * with typed errors.
 *
 * A FIFO, a character device or a socket given as an input would block `open()` (a FIFO waits for a writer) or
 * `read()` forever, on a libuv thread or a worker that no signal can then interrupt. Files are therefore opened
 * with O_NONBLOCK (which makes open() of a FIFO return at once and changes nothing for regular files) and checked
 * with fstat on the opened descriptor, so there is no window between the check and the open: anything but a
 * regular file is `InvalidInputError` before a byte is read.
 */
import { constants } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';
import { InputNotFoundError, InvalidInputError } from '../errors.js';

/** What a stat result is, in words, for messages. */
function kindOf(st: { isDirectory(): boolean; isFIFO(): boolean; isCharacterDevice(): boolean; isBlockDevice(): boolean; isSocket(): boolean }): string {
  if (st.isDirectory()) return 'a folder';
  if (st.isFIFO()) return 'a named pipe (FIFO)';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

function notRegular(path: string, what: string, kind: string): InvalidInputError {
  return new InvalidInputError('not a regular file', {
    input: path, expected: what, found: kind,
    fix: 'Give the path of an ordinary file (a pipe or device cannot be read by position and may never end)',
  });
}

function cannotOpen(path: string, what: string, err: NodeJS.ErrnoException): InputNotFoundError {
  return new InputNotFoundError(err.code === 'ENOENT' ? 'no such file' : 'cannot open file', {
    input: path, expected: what, found: err.code ?? String(err), fix: 'Check the path and its permissions', cause: err,
  });
}

/**
 * Open `path` read-only, refusing anything that is not a regular file (InvalidInputError) without blocking on it.
 * `what` says what the file should be ("a readable GeoTIFF").
 */
export async function openRegularFile(path: string, what = 'a readable file'): Promise<FileHandle> {
  let fh: FileHandle;
  try {
    fh = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    throw cannotOpen(path, what, err as NodeJS.ErrnoException);
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw notRegular(path, what, kindOf(st));
    return fh;
  } catch (err) {
    await fh.close().catch(() => undefined);
    throw err;
  }
}

/**
 * Refuse `path` unless it is a regular file (stat follows symlinks); for inputs handed by path to a library that
 * opens them itself (sharp). Prefer `openRegularFile` when the handle can be used.
 */
export async function checkRegularFile(path: string, what = 'a readable file'): Promise<void> {
  let st;
  try {
    st = await stat(path);
  } catch (err) {
    throw cannotOpen(path, what, err as NodeJS.ErrnoException);
  }
  if (!st.isFile()) throw notRegular(path, what, kindOf(st));
}

/** Largest JSON input read (a STAC item is a few KB, a trained model a few MB). */
export const MAX_JSON_BYTES = 64 * 1024 * 1024;

/**
 * Read and parse the JSON file at `path`: `what` names it in errors ("a STAC item", "the --model file").
 * Missing: InputNotFoundError; a FIFO, device or folder, larger than `maxBytes`, not UTF-8 text or not JSON:
 * InvalidInputError naming the file and, for bad JSON, the position, never the content (the file may be anything).
 */
export async function readJsonFile(path: string, what: string, maxBytes = MAX_JSON_BYTES): Promise<unknown> {
  const fh = await openRegularFile(path, what);
  let text: string;
  try {
    const { size } = await fh.stat();
    if (size > maxBytes) {
      throw new InvalidInputError('file too large for a JSON input', {
        input: path, expected: `${what} of at most ${maxBytes} bytes`, found: `${size} bytes`, fix: 'Check that this is the right file',
      });
    }
    const buf = await fh.readFile();
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(buf);
    } catch {
      throw new InvalidInputError('not a JSON file', {
        input: path, expected: `${what} (JSON text, UTF-8)`, found: 'binary data (content not shown)', fix: 'Check that this is the right file',
      });
    }
  } finally {
    await fh.close().catch(() => undefined);
  }
  try {
    return JSON.parse(text.replace(/^\uFEFF/, '')) as unknown;
  } catch (err) {
    // V8's message quotes the text ("Unexpected token 'r', "root:x:0"... is not valid JSON"): never shown.
    const pos = /position (\d+)/.exec((err as Error).message)?.[1];
    const where = text.trim() === '' ? 'an empty file' : `text that is not valid JSON${pos ? ` (error at byte ${pos})` : ''} (content not shown)`;
    throw new InvalidInputError('not valid JSON', {
      input: path, expected: `${what} (JSON)`, found: where, fix: 'Check that this is the right file, or re-create it',
    });
  }
}
