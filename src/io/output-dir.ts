/**
 * The run's output folder (`--out DIR`), written atomically (issues #4, #5).
 *
 * Every output is first written into a private temp folder inside DIR (`DIR/.s2change-tmp-<pid>-<rand>/`, same
 * filesystem, so renames are atomic). `commit()` hashes (SHA-256) and fsyncs every file, renames them to their
 * final names, and writes `summary.json` last, so a reader that sees summary.json sees complete outputs.
 * `abort()` (or SIGINT/SIGTERM with `installSignalCleanup`) removes the temp folder: a failed or interrupted run
 * leaves neither final nor temp files. `verifyOutputs` re-hashes the files listed in summary.json's `outputs` and
 * checks the summary's own integrity digest.
 *
 * Under faults (issue #19): a run holds `DIR/.s2change.lock` (O_EXCL; pid, host, start) from `open` to commit/abort,
 * so a second run into DIR is refused (OutputLockedError); a lock whose pid is gone on this host is taken over. The
 * commit writes a journal (`DIR/.s2change-commit.json`) naming the files it renames in, removes an old summary.json
 * before renaming anything, and removes the journal last, so "summary.json present means the set is complete" holds
 * at every instant; the next `open` finds a killed commit's journal and removes its half set. Temp folders of dead
 * runs (pid and host in `.s2change-owner.json`) are removed by the next run into DIR. `S2CHANGE_FAIL_AT=commit:<step>`
 * kills the process at that step (fault tests; `commitSteps`).
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, readFileSync, rmdirSync, rmSync, unlinkSync } from 'node:fs';
import { link, lstat, mkdir, open, readdir, readFile, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { endAfterInterrupt, interruptionReason } from './interrupt.js';
import path from 'node:path';
import {
  DiskFullError, InputNotFoundError, OutputExistsError, OutputIntegrityError, OutputLockedError, OutputNotWritableError,
  OutputOverInputError, S2ChangeError, UsageError,
} from '../errors.js';

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
  /**
   * The run's local inputs (files or folders). DIR equal to one of them, or an output that would replace one, is
   * refused (OutputOverInputError) even with `overwrite`.
   */
  inputs?: string[];
  /** Where recovery notes go (stale lock, temp folders, a half set removed). Default: stderr. */
  log?: (line: string) => void;
}

export interface CommitOptions {
  /**
   * Write `summary.json` (or `summaryName`) last. An object gets `outputs: manifest` added; a function receives
   * the manifest and returns the JSON value to write.
   */
  summary?: Record<string, unknown> | ((outputs: ManifestEntry[]) => unknown);
  summaryName?: string;
  /**
   * The outputs this run must deliver (e.g. the preset's); default every staged output. Recorded in the summary's
   * `integrity.expectedOutputs`; commit fails if one is not staged.
   */
  expectedOutputs?: string[];
}

/** The summary's self-check, written by `commit` and checked by `verifyOutputs`. */
export interface SummaryIntegrity {
  algorithm: 'sha256';
  /** The outputs the run had to deliver; each must be in `outputs`. */
  expectedOutputs: string[];
  /** SHA-256 (hex) of `JSON.stringify` of the summary without its `integrity` member. */
  digest: string;
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
/** Every file s2change keeps for itself in DIR starts with this; output names may not. */
const RESERVED_PREFIX = '.s2change';
export const SUMMARY_NAME = 'summary.json';
/** The run's lock in DIR: `{ pid, host, startedAt }`, created with O_EXCL. */
export const LOCK_NAME = '.s2change.lock';
/** The commit journal in DIR: which files a commit is renaming in, and the summary it will end with. */
export const JOURNAL_NAME = '.s2change-commit.json';
/** Owner record inside a temp folder. */
const OWNER_NAME = '.s2change-owner.json';

interface Owner {
  pid: number;
  host: string;
  startedAt: string;
}

interface Journal extends Owner {
  tmp: string;
  names: string[];
  summary: string | null;
  summarySha256: string | null;
}

function me(): Owner {
  return { pid: process.pid, host: hostname(), startedAt: new Date().toISOString() };
}

/** Whether process `pid` exists on this host (EPERM: it exists, owned by someone else). */
function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Gone for sure: recorded on this host and its pid is not alive. */
function ownerGone(o: Owner): boolean {
  return o.host === hostname() && !pidAlive(o.pid);
}

async function readJson<T>(p: string): Promise<T | null> {
  try {
    return JSON.parse(await readFile(p, 'utf8')) as T;
  } catch {
    return null;
  }
}

/**
 * The fault-injection point `step` of the commit (`S2CHANGE_FAIL_AT=commit:<step>`): the process is killed there
 * (SIGKILL, no cleanup), as a power cut or the OOM killer would. For the crash-consistency tests only.
 */
function failPoint(step: string): void {
  if (process.env.S2CHANGE_FAIL_AT === `commit:${step}`) process.kill(process.pid, 'SIGKILL');
}

/** The injected write failure `S2CHANGE_FAIL_AT=enospc:<name>` (a full disk while writing output `name`). */
function injectedWriteFailure(name: string): void {
  if (process.env.S2CHANGE_FAIL_AT === `enospc:${name}`) {
    throw Object.assign(new Error(`ENOSPC: no space left on device (injected), write '${name}'`), { code: 'ENOSPC' });
  }
}

/**
 * The commit's fault points in order, for outputs renamed in `names` order (summary last): `commit:<step>` in
 * S2CHANGE_FAIL_AT kills the process right after that step.
 */
export function commitSteps(names: string[]): string[] {
  return ['start', 'journal', 'old-summary', ...names.filter((n) => n !== SUMMARY_NAME).map((n) => `rename:${n}`), 'summary', 'journal-removed'];
}

const WRITE_CODES: Record<string, string> = {
  EACCES: 'permission denied', EPERM: 'operation not permitted', EROFS: 'a read-only filesystem', ENOTDIR: 'a path through a file',
  EISDIR: 'a folder', ENOENT: 'a path that cannot be created', EIO: 'an I/O error', EEXIST: 'an existing entry', ELOOP: 'a symbolic link loop',
  ENAMETOOLONG: 'a name too long', EINVAL: 'a filesystem that refuses this operation', EXDEV: 'another filesystem',
};

/**
 * A filesystem error while creating or writing `file` as a typed error naming it: DiskFullError for ENOSPC/EDQUOT,
 * OutputNotWritableError for the other errno codes; anything else (and typed errors) unchanged.
 */
export function outputWriteError(err: unknown, file: string, what = 'cannot write output'): unknown {
  if (err instanceof S2ChangeError) return err;
  const code = (err as NodeJS.ErrnoException | null)?.code;
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new DiskFullError('no space left on the output filesystem', {
      input: file, expected: 'room for the outputs', found: `${code} while writing this file`,
      fix: 'Free space on the filesystem of --out (or choose another --out); nothing was committed', cause: err,
    });
  }
  if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) {
    return new OutputNotWritableError(what, {
      input: file, expected: 'a folder s2change can create and write', found: `${code} (${WRITE_CODES[code] ?? 'a filesystem error'})`,
      fix: 'Choose an --out folder you can write to', cause: err,
    });
  }
  return err;
}

/**
 * Create folder `abs` and its missing parents one level at a time (not `mkdir -p`: Node's recursive mkdir spins
 * forever on /proc, where mkdir fails with ENOENT). Returns whether `abs` was created.
 */
async function makeFolder(abs: string, depth = 0): Promise<boolean> {
  try {
    await mkdir(abs);
    return true;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') {
      if ((await stat(abs)).isDirectory()) return false;
      throw outputWriteError(Object.assign(new Error('not a folder'), { code: 'ENOTDIR' }), abs, 'cannot create the output folder');
    }
    const parent = path.dirname(abs);
    if (code !== 'ENOENT' || parent === abs || depth > 64) throw outputWriteError(e, abs, 'cannot create the output folder');
    await makeFolder(parent, depth + 1);
    try {
      await mkdir(abs);
      return true;
    } catch (e2) {
      throw outputWriteError(e2, abs, 'cannot create the output folder');
    }
  }
}

/** dev:ino of an existing path, or null. */
async function identity(p: string): Promise<string | null> {
  try {
    const s = await stat(p);
    return `${s.dev}:${s.ino}`;
  } catch {
    return null;
  }
}

function overInputError(target: string, input: string, folder: boolean): OutputOverInputError {
  return new OutputOverInputError(folder ? 'the output folder is an input folder' : 'an output would replace an input file', {
    input: target, expected: 'an --out folder apart from the inputs', found: `the same ${folder ? 'folder' : 'file'} as input ${input}`,
    fix: 'Choose another --out folder (inputs are never written over, even with --overwrite)',
  });
}

/** Throw `UnsafeOutputNameError` unless `name` is one plain file name. */
export function checkOutputName(name: string): void {
  if (typeof name !== 'string' || name.length === 0) throw new UnsafeOutputNameError(String(name), 'an empty name');
  if (name === '.' || name === '..') throw new UnsafeOutputNameError(name, 'a relative folder reference');
  if (/[/\\]/.test(name)) throw new UnsafeOutputNameError(name, 'a path separator');
  if (path.isAbsolute(name) || /^[A-Za-z]:/.test(name)) throw new UnsafeOutputNameError(name, 'an absolute path');
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(name)) throw new UnsafeOutputNameError(name, 'a control character');
  if (name.startsWith(RESERVED_PREFIX)) throw new UnsafeOutputNameError(name, `the prefix ${RESERVED_PREFIX} s2change keeps for itself`);
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

function existsError(dir: string, name: string, incomplete = false): OutputExistsError {
  return new OutputExistsError('output already exists', {
    input: path.join(dir, name),
    expected: 'no file of that name (outputs are never replaced silently)',
    found: incomplete ? `an existing file and no ${SUMMARY_NAME}: an incomplete set (a run interrupted while committing, or files put there by hand)` : 'an existing file',
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
  private readonly protectedIds: Map<string, string>;
  private readonly staged = new Set<string>();
  private readonly digests = new Map<string, { bytes: number; sha256: string }>();
  private readonly syncing = new Map<string, Promise<void>>();
  private readonly renamed: string[] = [];
  private lockHeld = true;
  private journalWritten = false;
  private state: State = 'open';
  private handlers: { sig: NodeJS.Signals; fn: () => void }[] = [];

  private constructor(dir: string, tmpDir: string, overwrite: boolean, createdDir: boolean, protectedIds: Map<string, string>) {
    this.dir = dir;
    this.tmpDir = tmpDir;
    this.overwrite = overwrite;
    this.createdDir = createdDir;
    this.protectedIds = protectedIds;
  }

  /**
   * Create `dir` if needed, take its lock, clean up after killed runs (their half-committed sets and temp folders)
   * and make a temp folder inside it. Throws, before any work: `OutputExistsError` when a planned name exists and
   * `overwrite` is false, `UnsafeOutputNameError` for a planned name that is not a plain name, `OutputLockedError`
   * when another live run holds the lock, `OutputOverInputError` when DIR or a planned output is an input,
   * `OutputNotWritableError` / `DiskFullError` when DIR cannot be created or written.
   */
  static async open(dir: string, opts: OpenOptions): Promise<OutputDir> {
    const abs = path.resolve(dir);
    const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));
    for (const name of opts.planned ?? []) checkOutputName(name);
    const protectedIds = new Map<string, string>();
    for (const input of opts.inputs ?? []) {
      const id = await identity(input);
      if (id) protectedIds.set(id, input);
    }
    const dirId = await identity(abs);
    if (dirId && protectedIds.has(dirId)) throw overInputError(abs, protectedIds.get(dirId)!, true);
    const existed = await exists(abs);
    if (existed && !(await stat(abs)).isDirectory()) {
      throw new OutputExistsError('output folder is not a folder', {
        input: abs, expected: 'a folder (or nothing)', found: 'a file', fix: 'Choose another --out folder',
      });
    }
    for (const name of opts.planned ?? []) {
      const id = await identity(path.join(abs, name));
      if (id && protectedIds.has(id)) throw overInputError(path.join(abs, name), protectedIds.get(id)!, false);
    }
    const created = await makeFolder(abs);
    // From here until the open folder's own cleanup is installed, SIGINT/SIGTERM still undo what exists so far
    // (temp folder, lock, a folder this run created): a signal in that window used to leave them behind.
    let tmp: string | null = null;
    let locked = false;
    const early: [NodeJS.Signals, () => void][] = opts.signals ? (['SIGINT', 'SIGTERM'] as const).map((sig) => [sig, () => {
      if (tmp) rmSync(tmp, { recursive: true, force: true });
      if (locked) releaseLockSync(abs);
      if (created) try { rmdirSync(abs); } catch { /* not empty */ }
      process.stderr.write(`s2change: ${interruptionReason(sig)}; removed unfinished outputs in ${abs}\n`);
      endAfterInterrupt(sig);
    }]) : [];
    for (const [sig, fn] of early) process.on(sig, fn);
    const dropEarly = (): void => { for (const [sig, fn] of early) process.off(sig, fn); };
    try {
      await acquireLock(abs, log);
      locked = true;
    } catch (err) {
      dropEarly();
      throw err;
    }
    try {
      await recoverJournal(abs, log);
      await removeStaleTemps(abs, log);
      if (!opts.overwrite) {
        const incomplete = !(await exists(path.join(abs, SUMMARY_NAME)));
        for (const name of opts.planned ?? []) if (await exists(path.join(abs, name))) throw existsError(abs, name, incomplete && name !== SUMMARY_NAME);
      }
      tmp = path.join(abs, `${TMP_PREFIX}${process.pid}-${randomBytes(4).toString('hex')}`);
      try {
        await mkdir(tmp);
        await writeFile(path.join(tmp, OWNER_NAME), JSON.stringify(me()));
      } catch (e) {
        throw outputWriteError(e, tmp, 'cannot create the temp folder in the output folder');
      }
    } catch (err) {
      if (tmp) rmSync(tmp, { recursive: true, force: true });
      releaseLockSync(abs);
      if (created) try { rmdirSync(abs); } catch { /* not empty */ }
      dropEarly();
      throw err;
    }
    const out = new OutputDir(abs, tmp, opts.overwrite, created, protectedIds);
    if (opts.signals) out.installSignalCleanup();
    dropEarly(); // the open folder's cleanup is in place (installed before this guard is dropped: no gap)
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
    try {
      injectedWriteFailure(name);
      await writeFile(p, data);
    } catch (err) {
      this.staged.delete(name);
      await rm(p, { force: true });
      throw outputWriteError(err, path.join(this.dir, name));
    }
  }

  /** Let `write` create output `name` at the temp path it is given (e.g. `writeCog`); staged until `commit`. */
  async writeWith<T>(name: string, write: (tmpPath: string) => Promise<T>): Promise<T> {
    const p = this.tempPath(name);
    this.forget(name); // (re)written: a digest or early fsync from before is stale
    await this.refuseExisting(name);
    try {
      injectedWriteFailure(name);
      const result = await write(p);
      if (!(await exists(p))) throw new Error(`writeWith(${name}): the writer did not create ${p}`);
      return result;
    } catch (err) {
      this.staged.delete(name);
      await rm(p, { force: true });
      throw outputWriteError(err, path.join(this.dir, name));
    }
  }

  private async refuseExisting(name: string): Promise<void> {
    const final = path.join(this.dir, name);
    const id = await identity(final);
    if (id && this.protectedIds.has(id)) {
      this.staged.delete(name);
      throw overInputError(final, this.protectedIds.get(id)!, false);
    }
    if (!this.overwrite && id) {
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

  /** Names of the outputs staged so far, sorted (e.g. to link them from a report before commit). */
  stagedNames(): string[] {
    return [...this.staged].sort();
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
   * Hash and fsync every staged output, write the summary (if given, with its `integrity` digest) into the temp
   * folder, then: write the journal, remove an old summary, rename the outputs to their final names and the summary
   * last, remove the journal, the temp folder, the lock and the signal handlers. Returns the manifest of the outputs
   * (the summary itself is not in it). On any failure everything is rolled back via `abort()`.
   */
  async commit(opts: CommitOptions = {}): Promise<ManifestEntry[]> {
    this.assertOpen();
    const summaryName = opts.summaryName ?? SUMMARY_NAME;
    let current = this.tmpDir;
    try {
      failPoint('start');
      if (opts.summary !== undefined) checkOutputName(summaryName);
      const manifest = (await this.manifest()).filter((e) => !(opts.summary !== undefined && e.name === summaryName));
      for (const e of manifest) {
        current = path.join(this.dir, e.name);
        await (this.syncing.get(e.name) ?? fsyncPath(path.join(this.tmpDir, e.name)));
      }
      const order = manifest.map((e) => e.name);
      let summaryText: string | null = null;
      if (opts.summary !== undefined) {
        const expected = opts.expectedOutputs ?? order;
        const missing = expected.filter((n) => !order.includes(n));
        if (missing.length) throw new Error(`internal: expected outputs not written: ${missing.join(', ')}`);
        const value = typeof opts.summary === 'function' ? opts.summary(manifest) : { ...opts.summary, outputs: manifest };
        summaryText = `${JSON.stringify(signSummary(value as Record<string, unknown>, expected), null, 2)}\n`;
        const p = this.tempPath(summaryName);
        current = path.join(this.dir, summaryName);
        await writeFile(p, summaryText);
        await fsyncPath(p);
        order.push(summaryName);
      } else if (this.staged.has(summaryName)) {
        // a summary written by the caller through writeFile still goes last
        order.splice(order.indexOf(summaryName), 1);
        order.push(summaryName);
      }
      for (const name of order) {
        const id = await identity(path.join(this.dir, name));
        if (id && this.protectedIds.has(id)) throw overInputError(path.join(this.dir, name), this.protectedIds.get(id)!, false);
        if (!this.overwrite && id) throw existsError(this.dir, name);
      }
      if (summaryText === null && this.staged.has(summaryName)) summaryText = await readFile(path.join(this.tmpDir, summaryName), 'utf8');
      this.state = 'committing';
      // The journal first: a kill from here on leaves a record of what is being renamed in.
      const journal: Journal = {
        ...me(), tmp: path.basename(this.tmpDir), names: order, summary: order.includes(summaryName) ? summaryName : null,
        summarySha256: summaryText === null ? null : createHash('sha256').update(summaryText).digest('hex'),
      };
      current = path.join(this.dir, JOURNAL_NAME);
      await writeFile(current, JSON.stringify(journal));
      this.journalWritten = true;
      await fsyncPath(current);
      await fsyncPath(this.dir);
      failPoint('journal');
      // An old summary goes before any file of the new set arrives: from now on the folder reads as incomplete.
      if (journal.summary) {
        current = path.join(this.dir, journal.summary);
        await unlink(current).catch((e: NodeJS.ErrnoException) => { if (e.code !== 'ENOENT') throw e; });
        await fsyncPath(this.dir);
      }
      failPoint('old-summary');
      for (const name of order) {
        current = path.join(this.dir, name);
        if (name === journal.summary) await fsyncPath(this.dir); // every output's rename is durable before the summary's
        await rename(path.join(this.tmpDir, name), current);
        this.renamed.push(name);
        failPoint(name === journal.summary ? 'summary' : `rename:${name}`);
      }
      await fsyncPath(this.dir);
      this.state = 'committed';
      this.removeSignalCleanup();
      current = path.join(this.dir, JOURNAL_NAME);
      await unlink(current);
      this.journalWritten = false;
      failPoint('journal-removed');
      await rm(this.tmpDir, { recursive: true, force: true });
      releaseLockSync(this.dir);
      this.lockHeld = false;
      return manifest;
    } catch (err) {
      if (this.state === 'committed') {
        // Everything is in place; only the journal or temp cleanup failed: the next run tidies up.
        releaseLockSync(this.dir);
        this.lockHeld = false;
        throw outputWriteError(err, current);
      }
      this.state = 'open';
      await this.abort();
      throw outputWriteError(err, current);
    }
  }

  /**
   * Remove every temp file (and the output folder itself if this run created it and it is empty), and the lock. If
   * called after a partial commit, the files already renamed are removed too, so no half set of outputs is left.
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
    if (this.journalWritten) {
      try {
        unlinkSync(path.join(this.dir, JOURNAL_NAME));
      } catch {
        // already gone
      }
    }
    if (this.lockHeld) releaseLockSync(this.dir);
    this.lockHeld = false;
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
 * Take `dir`'s lock (O_EXCL). A lock left by a process that is gone (same host, pid not alive) is taken over, with a
 * note; a live one, or one from another host, is OutputLockedError naming its holder.
 */
async function acquireLock(dir: string, log: (line: string) => void): Promise<void> {
  const lockPath = path.join(dir, LOCK_NAME);
  for (let attempt = 0; attempt < 20; attempt++) {
    try {
      const fh = await open(lockPath, 'wx');
      try {
        await fh.writeFile(JSON.stringify(me()));
      } finally {
        await fh.close();
      }
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw outputWriteError(e, lockPath, 'cannot create the lock of the output folder');
    }
    const holder = await readJson<Owner>(lockPath);
    if (holder && typeof holder.pid === 'number' && ownerGone(holder)) {
      if (await breakStaleLock(lockPath, holder)) log(`s2change: took over the lock ${lockPath} of a run that is gone (pid ${holder.pid} on ${holder.host}, started ${holder.startedAt})`);
      continue;
    }
    if (!holder) {
      // Vanished, or just created and not yet written: look again shortly. Unreadable for over 10 s: its run was
      // killed between creating and writing it, and it is removed.
      const age = await stat(lockPath).then((st) => Date.now() - st.mtimeMs, () => 0);
      if (age > 10_000 && await breakStaleLock(lockPath, null)) {
        log(`s2change: removed the unreadable lock ${lockPath} (${Math.round(age / 1000)} s old)`);
        continue;
      }
      await new Promise((r) => setTimeout(r, 25));
      if (attempt < 19) continue;
    }
    throw new OutputLockedError('the output folder is in use by another run', {
      input: dir, expected: 'no other s2change run writing into it',
      found: holder ? `${LOCK_NAME} held by pid ${holder.pid} on ${holder.host} since ${holder.startedAt}` : `an unreadable ${LOCK_NAME}`,
      fix: `Wait for that run to finish or choose another --out; if no run is using the folder, delete ${lockPath}`,
    });
  }
}

/**
 * Remove a stale lock whose content is `holder` (null: unreadable). It is renamed aside first and checked: if
 * another run replaced it in between (its content differs), it is put back with link() (which never replaces a
 * newer lock).
 */
async function breakStaleLock(lockPath: string, holder: Owner | null): Promise<boolean> {
  const aside = `${lockPath}.stale-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await rename(lockPath, aside);
  } catch {
    return false; // someone else took it first
  }
  const moved = await readJson<Owner>(aside);
  const same = holder === null ? moved === null
    : moved !== null && moved.pid === holder.pid && moved.startedAt === holder.startedAt && moved.host === holder.host;
  if (!same) {
    await link(aside, lockPath).catch(() => undefined);
    await unlink(aside).catch(() => undefined);
    return false;
  }
  await unlink(aside).catch(() => undefined);
  return true;
}

/** Remove this process's lock of `dir` (only if it is still ours). */
function releaseLockSync(dir: string): void {
  const lockPath = path.join(dir, LOCK_NAME);
  try {
    const holder = JSON.parse(readFileSync(lockPath, 'utf8')) as Owner;
    if (holder.pid === process.pid && holder.host === hostname()) unlinkSync(lockPath);
  } catch {
    // gone or unreadable: not ours to remove
  }
}

/**
 * A commit journal left in `dir` (the lock is held, so its run is gone): finished (its summary is in place) → the
 * journal goes; killed before its renames began (an old summary is still there) → the journal goes; otherwise the
 * half set it renamed in (no summary) is removed, with a note naming the files.
 */
async function recoverJournal(dir: string, log: (line: string) => void): Promise<void> {
  const jPath = path.join(dir, JOURNAL_NAME);
  if (!(await exists(jPath))) return;
  const j = await readJson<Journal>(jPath);
  const names = Array.isArray(j?.names) ? j!.names.filter((n) => { try { checkOutputName(n); return true; } catch { return false; } }) : [];
  // Its summary in place: the set is complete (killed after the last rename). Another summary there is the old
  // set's (an old summary is removed before the first rename): nothing was renamed in. Either way nothing goes.
  // No summary: the files it renamed in are a half set. A journal without a summary name cannot tell: kept.
  const complete = j?.summary ? await exists(path.join(dir, j.summary)) : true;
  if (!complete) {
    const removed: string[] = [];
    for (const n of names) {
      try {
        await unlink(path.join(dir, n));
        removed.push(n);
      } catch {
        // never renamed in
      }
    }
    if (j?.tmp && j.tmp.startsWith(TMP_PREFIX) && !j.tmp.includes('/')) await rm(path.join(dir, j.tmp), { recursive: true, force: true });
    log(`s2change: removed an incomplete output set in ${dir} left by a run killed during its commit${j ? ` (pid ${j.pid} on ${j.host})` : ''}: ${removed.length ? removed.join(', ') : 'no files had been renamed in'}`);
  }
  await unlink(jPath).catch(() => undefined);
  await fsyncPath(dir);
}

/** Remove temp folders of runs that are gone (pid and host in their owner file, else the pid in the name). */
async function removeStaleTemps(dir: string, log: (line: string) => void): Promise<void> {
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch {
    return;
  }
  for (const name of entries) {
    if (!name.startsWith(TMP_PREFIX)) continue;
    const p = path.join(dir, name);
    const owner = await readJson<Owner>(path.join(p, OWNER_NAME));
    // Killed between creating the folder and writing its owner file: the pid is in the name, the host is ours.
    const pid = owner?.pid ?? Number(/^\.s2change-tmp-(\d+)-/.exec(name)?.[1]);
    const host = owner?.host ?? hostname();
    if (host !== hostname()) {
      log(`s2change: kept temp folder ${p}: it belongs to pid ${pid} on another host (${host}); remove it by hand if that run is gone`);
      continue;
    }
    if (pidAlive(pid)) continue;
    const bytes = await folderBytes(p);
    await rm(p, { recursive: true, force: true });
    log(`s2change: removed stale temp folder ${p} (${bytes} bytes) left by pid ${pid}, which is gone`);
  }
}

async function folderBytes(p: string): Promise<number> {
  let total = 0;
  try {
    for (const e of await readdir(p, { withFileTypes: true })) {
      const q = path.join(p, e.name);
      total += e.isDirectory() ? await folderBytes(q) : (await lstat(q)).size;
    }
  } catch {
    // vanished
  }
  return total;
}

/** `value` with `integrity`: the expected outputs and the SHA-256 of `JSON.stringify(value without integrity)`. */
export function signSummary(value: Record<string, unknown>, expectedOutputs: string[]): Record<string, unknown> {
  const { integrity: _old, ...rest } = value;
  void _old;
  const integrity: SummaryIntegrity = { algorithm: 'sha256', expectedOutputs: [...expectedOutputs], digest: '' };
  const body = { ...rest, integrity: { ...integrity, digest: undefined } };
  integrity.digest = summaryDigest(body);
  return { ...rest, integrity };
}

/** The digest `signSummary` records: SHA-256 of the summary without `integrity.digest`. */
function summaryDigest(value: Record<string, unknown>): string {
  const integrity = value.integrity as Record<string, unknown> | undefined;
  const body = integrity ? { ...value, integrity: { ...integrity, digest: undefined } } : value;
  return createHash('sha256').update(JSON.stringify(body)).digest('hex');
}

/** What `verifyOutputs` found about summary.json itself. */
export interface SummaryCheck {
  /** The summary's content matches its integrity digest and lists every expected output. */
  ok: boolean;
  /** Why not, one line each (edited content, an expected output missing from `outputs`, no integrity record). */
  problems: string[];
}

/**
 * Re-hash the files listed under `outputs` in `dir/summary.json` and compare with the recorded size and SHA-256,
 * and check the summary itself: its content against `integrity.digest` (an edited number, a dropped manifest entry),
 * and that every name in `integrity.expectedOutputs` is in `outputs`. Missing and changed files are reported as not
 * ok; names that would escape `dir` are reported as not ok too. A summary without `integrity` (made before it was
 * recorded) fails the summary check. Throws InputNotFoundError without a summary.json and OutputIntegrityError when
 * it has no usable `outputs` list.
 */
export async function verifyOutputs(dir: string): Promise<{ ok: boolean; files: VerifiedFile[]; summary: SummaryCheck }> {
  const summaryPath = path.join(path.resolve(dir), SUMMARY_NAME);
  let text: string;
  try {
    text = await readFile(summaryPath, 'utf8');
  } catch (cause) {
    throw new InputNotFoundError('cannot read the run summary', {
      input: summaryPath, expected: 'summary.json written by s2change', found: 'no readable file', fix: 'Point verify at a finished --out folder', cause,
    });
  }
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(text) as Record<string, unknown>;
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not an object');
  } catch (cause) {
    throw new OutputIntegrityError('summary.json is not valid JSON', {
      input: summaryPath, expected: 'a JSON object', found: 'unparsable text', fix: 'Re-run the analysis to regenerate the outputs', cause,
    });
  }
  const outputs = parsed.outputs;
  const valid = (e: unknown): e is ManifestEntry =>
    typeof e === 'object' && e !== null && typeof (e as ManifestEntry).name === 'string'
    && typeof (e as ManifestEntry).bytes === 'number' && typeof (e as ManifestEntry).sha256 === 'string';
  if (!Array.isArray(outputs) || !outputs.every(valid)) {
    throw new OutputIntegrityError('summary.json has no valid outputs list', {
      input: summaryPath, expected: 'outputs: [{ name, bytes, sha256 }]', found: JSON.stringify(outputs)?.slice(0, 80) ?? 'nothing',
      fix: 'Re-run the analysis to regenerate the outputs',
    });
  }
  const problems: string[] = [];
  const integrity = parsed.integrity as Partial<SummaryIntegrity> | undefined;
  if (!integrity || typeof integrity !== 'object' || typeof integrity.digest !== 'string' || !Array.isArray(integrity.expectedOutputs)) {
    problems.push('no integrity record (integrity.digest, integrity.expectedOutputs): made by an older s2change or edited');
  } else {
    if (summaryDigest(parsed) !== integrity.digest.toLowerCase()) problems.push('content does not match its integrity digest: summary.json was edited');
    const listed = new Set(outputs.map((e) => e.name));
    const dropped = integrity.expectedOutputs.filter((n) => typeof n !== 'string' || !listed.has(n));
    if (dropped.length) problems.push(`expected outputs missing from the manifest: ${dropped.join(', ')}`);
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
  const summary = { ok: problems.length === 0, problems };
  return { ok: summary.ok && files.every((f) => f.ok), files, summary };
}
