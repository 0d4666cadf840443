/**
 * The run's output folder (`--out DIR`), written atomically (issues #4, #5).
 *
 * Every output is first written into a private temp folder inside DIR (`DIR/.s2change-tmp-<pid>-<rand>/`, same
 * filesystem, so renames are atomic). `commit()` hashes (SHA-256) and fsyncs every file, renames them to their
 * final names, and writes `summary.json` last, so a reader that sees summary.json sees complete outputs.
 * `abort()` (or SIGINT/SIGTERM with `installSignalCleanup`) removes the temp folder: a failed or interrupted run
 * leaves neither final nor temp files. `verifyOutputs` re-hashes the files listed in summary.json's `outputs`.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, rmdirSync, rmSync, unlinkSync } from 'node:fs';
import { lstat, mkdir, open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { endAfterInterrupt, interruptionReason } from './interrupt.js';
import path from 'node:path';
import { InputNotFoundError, OutputExistsError, OutputIntegrityError, UsageError } from '../errors.js';

/** One committed output file. */
export interface ManifestEntry {
  name: string;
  bytes: number;
  sha256: string;
}

/** Result of `verifyOutputs` for one file; `actual` is null when the file is missing. */
export interface VerifiedFile {
  name: string;
  expected: { bytes: number; sha256: string };
  actual: { bytes: number; sha256: string } | null;
  ok: boolean;
}

export interface OpenOptions {
  /** Replace existing outputs of the same name. */
  overwrite: boolean;
  /** Final names the run will write; checked before any work. Include 'summary.json' if you will write it. */
  planned?: string[];
  /** Install SIGINT/SIGTERM cleanup right away (see `installSignalCleanup`). Default false. */
  signals?: boolean;
}

export interface CommitOptions {
  /**
   * Write `summary.json` (or `summaryName`) last. An object gets `outputs: manifest` added; a function receives
   * the manifest and returns the JSON value to write.
   */
  summary?: Record<string, unknown> | ((outputs: ManifestEntry[]) => unknown);
  summaryName?: string;
}

/** An output name that would land outside the output folder (from a STAC id, band name...). */
export class UnsafeOutputNameError extends UsageError {
  constructor(name: string, why: string) {
    super('unsafe output file name', {
      input: JSON.stringify(name),
      expected: 'a plain file name inside the output folder (no "/", "\\", "..", absolute paths or control characters)',
      found: why,
      fix: 'Rename the input (STAC id, band name) or report this as a bug',
    });
  }
}

const TMP_PREFIX = '.s2change-tmp-';
export const SUMMARY_NAME = 'summary.json';

/** Throw `UnsafeOutputNameError` unless `name` is one plain file name. */
export function checkOutputName(name: string): void {
  if (typeof name !== 'string' || name.length === 0) throw new UnsafeOutputNameError(String(name), 'an empty name');
  if (name === '.' || name === '..') throw new UnsafeOutputNameError(name, 'a relative folder reference');
  if (/[/\\]/.test(name)) throw new UnsafeOutputNameError(name, 'a path separator');
  if (path.isAbsolute(name) || /^[A-Za-z]:/.test(name)) throw new UnsafeOutputNameError(name, 'an absolute path');
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(name)) throw new UnsafeOutputNameError(name, 'a control character');
  if (name.startsWith(TMP_PREFIX)) throw new UnsafeOutputNameError(name, 'the temp-folder prefix');
  if (Buffer.byteLength(name) > 255) throw new UnsafeOutputNameError(name, `${Buffer.byteLength(name)} bytes (max 255)`);
}

async function exists(p: string): Promise<boolean> {
  try {
    await lstat(p);
    return true;
  } catch {
    return false;
  }
}

function existsError(dir: string, name: string): OutputExistsError {
  return new OutputExistsError('output already exists', {
    input: path.join(dir, name),
    expected: 'no file of that name (outputs are never replaced silently)',
    found: 'an existing file',
    fix: 'Pass --overwrite to replace it, or choose another --out folder',
  });
}

/** SHA-256 (hex) and size of a file, streamed. */
export async function hashFile(file: string): Promise<{ bytes: number; sha256: string }> {
  const h = createHash('sha256');
  let bytes = 0;
  for await (const chunk of createReadStream(file)) {
    h.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { bytes, sha256: h.digest('hex') };
}

async function fsyncPath(p: string): Promise<void> {
  const fh = await open(p, 'r');
  try {
    await fh.sync();
  } catch {
    // some filesystems refuse fsync on read-only handles or directories; durability is best effort there
  } finally {
    await fh.close();
  }
}

type State = 'open' | 'committing' | 'committed' | 'aborted';

/** An output folder being written by one run. */
export class OutputDir {
  /** The final folder. */
  readonly dir: string;
  /** The private temp folder inside `dir`. */
  readonly tmpDir: string;
  private readonly overwrite: boolean;
  private readonly createdDir: boolean;
  private readonly staged = new Set<string>();
  private readonly digests = new Map<string, { bytes: number; sha256: string }>();
  private readonly syncing = new Map<string, Promise<void>>();
  private readonly renamed: string[] = [];
  private state: State = 'open';
  private handlers: { sig: NodeJS.Signals; fn: () => void }[] = [];

  private constructor(dir: string, tmpDir: string, overwrite: boolean, createdDir: boolean) {
    this.dir = dir;
    this.tmpDir = tmpDir;
    this.overwrite = overwrite;
    this.createdDir = createdDir;
  }

  /**
   * Create `dir` if needed and a temp folder inside it. Throws `OutputExistsError` (before any work) when a planned
   * name exists and `overwrite` is false, and `UnsafeOutputNameError` for a planned name that is not a plain name.
   */
  static async open(dir: string, opts: OpenOptions): Promise<OutputDir> {
    const abs = path.resolve(dir);
    for (const name of opts.planned ?? []) checkOutputName(name);
    const existed = await exists(abs);
    if (existed && !(await stat(abs)).isDirectory()) {
      throw new OutputExistsError('output folder is not a folder', {
        input: abs, expected: 'a folder (or nothing)', found: 'a file', fix: 'Choose another --out folder',
      });
    }
    if (!opts.overwrite) {
      for (const name of opts.planned ?? []) if (await exists(path.join(abs, name))) throw existsError(abs, name);
    }
    await mkdir(abs, { recursive: true });
    const tmp = path.join(abs, `${TMP_PREFIX}${process.pid}-${randomBytes(4).toString('hex')}`);
    await mkdir(tmp);
    const out = new OutputDir(abs, tmp, opts.overwrite, !existed);
    if (opts.signals) out.installSignalCleanup();
    return out;
  }

  private assertOpen(): void {
    if (this.state !== 'open') throw new Error(`OutputDir ${this.dir} is already ${this.state}`);
  }

  /**
   * The temp path where output `name` is written before commit. Validates the name and refuses (OutputExistsError)
   * a final name that already exists when overwrite is off.
   */
  tempPath(name: string): string {
    this.assertOpen();
    checkOutputName(name);
    this.staged.add(name);
    return path.join(this.tmpDir, name);
  }

  /** Write output `name` (staged until `commit`): text, bytes, or consecutive pieces of text written in order. */
  async writeFile(name: string, data: string | Uint8Array | Iterable<string>): Promise<void> {
    const p = this.tempPath(name);
    this.forget(name); // (re)written: a digest or early fsync from before is stale
    await this.refuseExisting(name);
    await writeFile(p, data);
  }

  /** Let `write` create output `name` at the temp path it is given (e.g. `writeCog`); staged until `commit`. */
  async writeWith<T>(name: string, write: (tmpPath: string) => Promise<T>): Promise<T> {
    const p = this.tempPath(name);
    this.forget(name); // (re)written: a digest or early fsync from before is stale
    await this.refuseExisting(name);
    try {
      const result = await write(p);
      if (!(await exists(p))) throw new Error(`writeWith(${name}): the writer did not create ${p}`);
      return result;
    } catch (err) {
      this.staged.delete(name);
      await rm(p, { force: true });
      throw err;
    }
  }

  private async refuseExisting(name: string): Promise<void> {
    if (!this.overwrite && (await exists(path.join(this.dir, name)))) {
      this.staged.delete(name);
      throw existsError(this.dir, name);
    }
  }

  /**
   * The SHA-256 and size of staged output `name` as its writer computed them while writing (a writer that streams
   * a large file, e.g. the block engine's COGs): `manifest` then uses them instead of reading the file again, once
   * it has checked that the file still has that size.
   */
  recordDigest(name: string, digest: { bytes: number; sha256: string }): void {
    if (!this.staged.has(name)) throw new Error(`recordDigest(${name}): no such staged output`);
    this.digests.set(name, { bytes: digest.bytes, sha256: digest.sha256 });
  }

  /**
   * Start flushing staged output `name` to disk now, in the background, so that `commit` need not wait for a large
   * file's fsync at the end. Commit waits for it (and fails if it failed).
   */
  syncEarly(name: string): void {
    if (!this.staged.has(name)) throw new Error(`syncEarly(${name}): no such staged output`);
    const p = fsyncPath(path.join(this.tmpDir, name));
    p.catch(() => undefined); // awaited (and reported) by commit
    this.syncing.set(name, p);
  }

  private forget(name: string): void {
    this.digests.delete(name);
    this.syncing.delete(name);
  }

  /** SHA-256 and size of every staged output so far (e.g. to put in a report before commit). */
  async manifest(): Promise<ManifestEntry[]> {
    const out: ManifestEntry[] = [];
    for (const name of [...this.staged].sort()) {
      const file = path.join(this.tmpDir, name);
      const known = this.digests.get(name);
      out.push({ name, ...(known && (await stat(file)).size === known.bytes ? known : await hashFile(file)) });
    }
    return out;
  }

  /**
   * Hash and fsync every staged output, write the summary (if given) into the temp folder, rename the outputs to
   * their final names and the summary last, then remove the temp folder and signal handlers. Returns the manifest
   * of the outputs (the summary itself is not in it). On any failure everything is rolled back via `abort()`.
   */
  async commit(opts: CommitOptions = {}): Promise<ManifestEntry[]> {
    this.assertOpen();
    const summaryName = opts.summaryName ?? SUMMARY_NAME;
    try {
      if (opts.summary !== undefined) checkOutputName(summaryName);
      const manifest = (await this.manifest()).filter((e) => !(opts.summary !== undefined && e.name === summaryName));
      for (const e of manifest) await (this.syncing.get(e.name) ?? fsyncPath(path.join(this.tmpDir, e.name)));
      const order = manifest.map((e) => e.name);
      if (opts.summary !== undefined) {
        const value = typeof opts.summary === 'function' ? opts.summary(manifest) : { ...opts.summary, outputs: manifest };
        const p = this.tempPath(summaryName);
        await writeFile(p, `${JSON.stringify(value, null, 2)}\n`);
        await fsyncPath(p);
        order.push(summaryName);
      } else if (this.staged.has(summaryName)) {
        // a summary written by the caller through writeFile still goes last
        order.splice(order.indexOf(summaryName), 1);
        order.push(summaryName);
      }
      if (!this.overwrite) for (const name of order) if (await exists(path.join(this.dir, name))) throw existsError(this.dir, name);
      this.state = 'committing';
      for (const name of order) {
        await rename(path.join(this.tmpDir, name), path.join(this.dir, name));
        this.renamed.push(name);
      }
      await fsyncPath(this.dir);
      this.state = 'committed';
      this.removeSignalCleanup();
      await rm(this.tmpDir, { recursive: true, force: true });
      return manifest;
    } catch (err) {
      this.state = 'open';
      await this.abort();
      throw err;
    }
  }

  /**
   * Remove every temp file (and the output folder itself if this run created it and it is empty). If called after
   * a partial commit, the files already renamed are removed too, so no half set of outputs is left.
   */
  async abort(): Promise<void> {
    if (this.state === 'committed' || this.state === 'aborted') return;
    this.cleanupSync();
    this.removeSignalCleanup();
  }

  private cleanupSync(): void {
    this.state = 'aborted';
    rmSync(this.tmpDir, { recursive: true, force: true });
    for (const name of this.renamed) {
      try {
        unlinkSync(path.join(this.dir, name));
      } catch {
        // already gone
      }
    }
    if (this.createdDir) {
      try {
        rmdirSync(this.dir);
      } catch {
        // not empty or already gone: leave it
      }
    }
  }

  /**
   * On SIGINT/SIGTERM while the run is open: remove temp files (and partially renamed outputs), print one line to
   * stderr and exit 130 (SIGINT) or 143 (SIGTERM). Handlers are removed on commit/abort; returns a remover too.
   */
  installSignalCleanup(): () => void {
    if (this.handlers.length) return () => this.removeSignalCleanup();
    for (const [sig, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
      const fn = () => {
        this.cleanupSync();
        process.stderr.write(`s2change: ${interruptionReason(sig)}; removed unfinished outputs in ${this.dir}\n`);
        void code;
        endAfterInterrupt(sig); // re-raises the signal (exit status 130/143 in a shell), or exits 1 after --max-time
      };
      process.on(sig, fn);
      this.handlers.push({ sig, fn });
    }
    return () => this.removeSignalCleanup();
  }

  private removeSignalCleanup(): void {
    for (const { sig, fn } of this.handlers) process.off(sig, fn);
    this.handlers = [];
  }
}

/**
 * Re-hash the files listed under `outputs` in `dir/summary.json` and compare with the recorded size and SHA-256.
 * Missing and changed files are reported as not ok; names that would escape `dir` are reported as not ok too.
 * Throws InputNotFoundError without a summary.json and OutputIntegrityError when it has no usable `outputs` list.
 */
export async function verifyOutputs(dir: string): Promise<{ ok: boolean; files: VerifiedFile[] }> {
  const summaryPath = path.join(path.resolve(dir), SUMMARY_NAME);
  let text: string;
  try {
    text = await readFile(summaryPath, 'utf8');
  } catch (cause) {
    throw new InputNotFoundError('cannot read the run summary', {
      input: summaryPath, expected: 'summary.json written by s2change', found: 'no readable file', fix: 'Point verify at a finished --out folder', cause,
    });
  }
  let outputs: unknown;
  try {
    outputs = (JSON.parse(text) as { outputs?: unknown }).outputs;
  } catch (cause) {
    throw new OutputIntegrityError('summary.json is not valid JSON', {
      input: summaryPath, expected: 'JSON', found: 'unparsable text', fix: 'Re-run the analysis to regenerate the outputs', cause,
    });
  }
  const valid = (e: unknown): e is ManifestEntry =>
    typeof e === 'object' && e !== null && typeof (e as ManifestEntry).name === 'string'
    && typeof (e as ManifestEntry).bytes === 'number' && typeof (e as ManifestEntry).sha256 === 'string';
  if (!Array.isArray(outputs) || !outputs.every(valid)) {
    throw new OutputIntegrityError('summary.json has no valid outputs list', {
      input: summaryPath, expected: 'outputs: [{ name, bytes, sha256 }]', found: JSON.stringify(outputs)?.slice(0, 80) ?? 'nothing',
      fix: 'Re-run the analysis to regenerate the outputs',
    });
  }
  const files: VerifiedFile[] = [];
  for (const e of outputs) {
    const expected = { bytes: e.bytes, sha256: e.sha256 };
    let actual: VerifiedFile['actual'] = null;
    try {
      checkOutputName(e.name);
      actual = await hashFile(path.join(path.resolve(dir), e.name));
    } catch {
      actual = null;
    }
    const ok = actual !== null && actual.bytes === expected.bytes && actual.sha256 === expected.sha256.toLowerCase();
    files.push({ name: e.name, expected, actual, ok });
  }
  return { ok: files.every((f) => f.ok), files };
}
