/**
 * The files of a Sentinel-2 SAFE product, read in place: a `.SAFE` folder, or its `.zip` read with random access
 * (yauzl; nothing is unzipped to disk). Paths are relative to the `.SAFE` folder, with forward slashes.
 */
import { open, readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import yauzl from 'yauzl';
import { CorruptTiffError, InputNotFoundError, LimitExceededError } from '../../errors.js';

/** Most entries a SAFE zip may list (a full L2A product has about 150). */
const MAX_ENTRIES = 100_000;

export interface SafeContainer {
  /** What the user passed. */
  readonly input: string;
  /** The product folder's name (…​.SAFE). */
  readonly productName: string;
  /** Every file, relative to the .SAFE folder. */
  readonly files: readonly string[];
  /** The bytes of one file, at most `maxBytes` long (LimitExceededError naming it otherwise). */
  read(rel: string, maxBytes?: number): Promise<Uint8Array>;
  /** The size of one file in bytes. */
  size(rel: string): Promise<number>;
  /** The first `n` bytes of one file (fewer when it is shorter). */
  readHead(rel: string, n: number): Promise<Uint8Array>;
  /** How a file is named in messages: the folder path, or `zip!entry`. */
  label(rel: string): string;
  close(): Promise<void>;
}

const DEFAULT_MAX_FILE = 1024 * 1024 * 1024;

function tooBig(label: string, size: number, max: number): LimitExceededError {
  return new LimitExceededError('a file of the product is larger than the read limit', {
    input: label, expected: `at most ${max} bytes`, found: `${size} bytes`, fix: 'Check the product; raise --decode-memory if it is genuine',
  });
}

/** Is `src` a SAFE product: a folder named *.SAFE or holding MTD_MSIL1C/2A.xml, or a .zip? */
export async function isSafeProduct(src: string): Promise<boolean> {
  if (/\.zip$/i.test(src)) return true;
  const st = await stat(src).catch(() => null);
  if (!st?.isDirectory()) return false;
  if (/\.SAFE\/?$/i.test(src)) return true;
  return (await readdir(src)).some((n) => /^MTD_MSIL(1C|2A)\.xml$/i.test(n));
}

/** Open a .SAFE folder or a .zip holding one. */
export async function openSafeContainer(src: string): Promise<SafeContainer> {
  return /\.zip$/i.test(src) ? openZip(src) : openFolder(src);
}

/** One file as a container whose only entry is '' (for loose JPEG 2000 bands). */
export function singleFileContainer(file: string): SafeContainer {
  return {
    input: file, productName: path.basename(file), files: [''], label: () => file,
    size: async () => (await stat(file)).size,
    async read(_rel, maxBytes = DEFAULT_MAX_FILE) {
      const st = await stat(file);
      if (st.size > maxBytes) throw tooBig(file, st.size, maxBytes);
      const b = await readFile(file);
      return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
    },
    readHead: (_rel, n) => readFileHead(file, n),
    async close() {},
  };
}

async function openFolder(dir: string): Promise<SafeContainer> {
  const files: string[] = [];
  const walk = async (rel: string, depth: number): Promise<void> => {
    if (depth > 8) return;
    for (const e of await readdir(path.join(dir, rel), { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) await walk(r, depth + 1);
      else if (e.isFile()) files.push(r);
    }
  };
  await walk('', 0);
  return {
    input: dir, productName: path.basename(path.resolve(dir)), files,
    label: (rel) => path.join(dir, rel),
    async read(rel, maxBytes = DEFAULT_MAX_FILE) {
      const p = path.join(dir, rel);
      const st = await stat(p);
      if (st.size > maxBytes) throw tooBig(p, st.size, maxBytes);
      const b = await readFile(p);
      return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
    },
    size: async (rel) => (await stat(path.join(dir, rel))).size,
    readHead: (rel, n) => readFileHead(path.join(dir, rel), n),
    async close() {},
  };
}

function openZipFile(file: string): Promise<yauzl.ZipFile> {
  return new Promise((resolve, reject) => {
    yauzl.open(file, { lazyEntries: true, autoClose: false, validateEntrySizes: true, strictFileNames: false }, (err, zip) => {
      if (err || !zip) {
        reject(err?.message.includes('ENOENT')
          ? new InputNotFoundError('no such file', { input: file, expected: 'a SAFE .zip', found: 'nothing at that path' })
          : new CorruptTiffError('the zip file cannot be read', {
            input: file, expected: 'a zip archive of a Sentinel-2 .SAFE product', found: String(err?.message ?? err), fix: 'Re-download the product', cause: err,
          }));
      } else resolve(zip);
    });
  });
}

async function openZip(file: string): Promise<SafeContainer> {
  const zip = await openZipFile(file);
  const entries = new Map<string, yauzl.Entry>();
  try {
    await new Promise<void>((resolve, reject) => {
      zip.on('entry', (e: yauzl.Entry) => {
        if (entries.size >= MAX_ENTRIES) {
          reject(new LimitExceededError('the zip lists too many files', { input: file, expected: `at most ${MAX_ENTRIES} entries`, found: 'more' }));
          return;
        }
        if (!e.fileName.endsWith('/')) entries.set(e.fileName, e);
        zip.readEntry();
      });
      zip.once('end', () => resolve());
      zip.once('error', (err: Error) => reject(new CorruptTiffError('the zip file is damaged', { input: file, expected: 'a readable zip directory', found: err.message, cause: err })));
      zip.readEntry();
    });
  } catch (err) {
    zip.close();
    throw err;
  }
  // Paths relative to the (single) .SAFE folder inside the zip.
  const safeRoots = new Set([...entries.keys()].map((n) => /^(.*?\.SAFE)\//i.exec(n)?.[1]).filter((x): x is string => !!x));
  const root = safeRoots.size === 1 ? [...safeRoots][0]! : '';
  const byRel = new Map<string, yauzl.Entry>();
  for (const [name, e] of entries) {
    if (root && !name.startsWith(`${root}/`)) continue;
    byRel.set(root ? name.slice(root.length + 1) : name, e);
  }
  return {
    input: file, productName: root ? path.basename(root) : path.basename(file, '.zip'), files: [...byRel.keys()],
    label: (rel) => `${file}!${root ? `${root}/` : ''}${rel}`,
    async size(rel) {
      const e = byRel.get(rel);
      if (!e) throw new InputNotFoundError('no such file in the zip', { input: `${file}!${rel}`, expected: 'a file listed in the zip', found: 'none' });
      return e.uncompressedSize;
    },
    async readHead(rel, n) {
      const b = await readEntry(rel, DEFAULT_MAX_FILE, n);
      return b.subarray(0, Math.min(n, b.length));
    },
    read: (rel, maxBytes = DEFAULT_MAX_FILE) => readEntry(rel, maxBytes),
    async close() {
      zip.close();
    },
  };

  /** An entry's bytes; with `stopAfter`, only (at least) its first `stopAfter` bytes. */
  function readEntry(rel: string, maxBytes: number, stopAfter = Infinity): Promise<Uint8Array> {
    const e = byRel.get(rel);
    const label = `${file}!${root ? `${root}/` : ''}${rel}`;
    if (!e) return Promise.reject(new InputNotFoundError('no such file in the zip', { input: label, expected: 'a file listed in the zip', found: 'none' }));
    if (e.uncompressedSize > maxBytes) return Promise.reject(tooBig(label, e.uncompressedSize, maxBytes));
    return new Promise((resolve, reject) => {
      zip.openReadStream(e, (err, stream) => {
        if (err || !stream) {
          reject(new CorruptTiffError('a zip entry cannot be read', { input: label, expected: 'a readable entry', found: String(err?.message), cause: err }));
          return;
        }
        const out = new Uint8Array(e.uncompressedSize);
        let at = 0;
        stream.on('data', (chunk: Buffer) => {
          if (at + chunk.length > out.length) {
            stream.destroy();
            reject(new CorruptTiffError('a zip entry is longer than it says', { input: label, expected: `${out.length} bytes`, found: 'more' }));
            return;
          }
          out.set(chunk, at);
          at += chunk.length;
          if (at >= stopAfter) {
            stream.destroy();
            resolve(out.subarray(0, at));
          }
        });
        stream.once('end', () => resolve(out.subarray(0, at)));
        stream.once('error', (er: Error) => reject(new CorruptTiffError('a zip entry is damaged', { input: label, expected: 'a valid compressed entry', found: er.message, cause: er })));
      });
    });
  }
}

/** The first `n` bytes of a file (fewer when it is shorter). */
async function readFileHead(file: string, n: number): Promise<Uint8Array> {
  const fh = await open(file, 'r');
  try {
    const buf = new Uint8Array(n);
    const { bytesRead } = await fh.read(buf, 0, n, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}
