/**
 * Caches of byte ranges fetched over HTTP, keyed by URL + validator (ETag or Last-Modified) + range, so a changed
 * remote file never serves stale bytes. Two variants: on disk (LRU by file mtime, size-capped) and in memory (tests).
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, readdir, rename, stat, unlink, utimes, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** What identifies one cached range. `validator` is the server's ETag or Last-Modified (never empty). */
export interface RangeKey {
  url: string;
  validator: string;
  offset: number;
  length: number;
}

/** A store of fetched ranges. `get` returns undefined on a miss (or a damaged entry). */
export interface RangeCache {
  get(key: RangeKey): Promise<Uint8Array | undefined>;
  put(key: RangeKey, bytes: Uint8Array): Promise<void>;
}

function keyString(k: RangeKey): string {
  return `${k.url}\n${k.validator}\n${k.offset}\n${k.length}`;
}

/** An in-memory LRU range cache holding at most `maxBytes` (default 64 MiB). */
export function memoryRangeCache(maxBytes = 64 * 1024 * 1024): RangeCache & { readonly bytes: number } {
  const map = new Map<string, Uint8Array>();
  let bytes = 0;
  return {
    get bytes() {
      return bytes;
    },
    async get(key) {
      const k = keyString(key);
      const v = map.get(k);
      if (!v) return undefined;
      map.delete(k);
      map.set(k, v); // most recently used goes last
      return v.slice();
    },
    async put(key, data) {
      if (data.length > maxBytes) return;
      const k = keyString(key);
      const old = map.get(k);
      if (old) {
        bytes -= old.length;
        map.delete(k);
      }
      map.set(k, data.slice());
      bytes += data.length;
      for (const [ek, ev] of map) {
        if (bytes <= maxBytes) break;
        map.delete(ek);
        bytes -= ev.length;
      }
    },
  };
}

/** Options of `diskRangeCache`. */
export interface DiskRangeCacheOptions {
  /** Cache folder; default `~/.cache/s2change/ranges` (or `$XDG_CACHE_HOME/s2change/ranges`). */
  dir?: string;
  /** Size cap in bytes; least recently used entries are deleted beyond it. Default 1 GiB. */
  maxBytes?: number;
}

/** The default cache folder. */
export function defaultRangeCacheDir(): string {
  const base = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(base, 's2change', 'ranges');
}

/**
 * An on-disk range cache: one file per range named by the SHA-256 of its key; reads refresh the file's mtime and
 * writes evict the oldest files once the folder exceeds `maxBytes`. Entries whose size is wrong are ignored and
 * deleted. Cache failures (full disk, permissions) never fail a read: they only cost a refetch.
 */
export function diskRangeCache(opts: DiskRangeCacheOptions = {}): RangeCache {
  const dir = opts.dir ?? defaultRangeCacheDir();
  const maxBytes = opts.maxBytes ?? 1024 * 1024 * 1024;
  let total: number | null = null; // bytes on disk, scanned lazily
  let ready: Promise<void> | null = null;
  const fileFor = (k: RangeKey): string => join(dir, createHash('sha256').update(keyString(k)).digest('hex') + '.bin');
  const ensureDir = (): Promise<void> => (ready ??= mkdir(dir, { recursive: true }).then(() => undefined));

  async function scan(): Promise<Array<{ path: string; size: number; mtime: number }>> {
    const out: Array<{ path: string; size: number; mtime: number }> = [];
    for (const name of await readdir(dir)) {
      if (!name.endsWith('.bin')) continue;
      try {
        const s = await stat(join(dir, name));
        out.push({ path: join(dir, name), size: s.size, mtime: s.mtimeMs });
      } catch {
        /* removed concurrently */
      }
    }
    return out;
  }

  async function evict(): Promise<void> {
    const entries = await scan();
    total = entries.reduce((s, e) => s + e.size, 0);
    entries.sort((a, b) => a.mtime - b.mtime);
    for (const e of entries) {
      if (total <= maxBytes) break;
      await unlink(e.path).catch(() => undefined);
      total -= e.size;
    }
  }

  return {
    async get(key) {
      const path = fileFor(key);
      try {
        const data = await readFile(path);
        if (data.length !== key.length) {
          await unlink(path).catch(() => undefined);
          return undefined;
        }
        const now = new Date();
        await utimes(path, now, now).catch(() => undefined);
        return new Uint8Array(data.buffer, data.byteOffset, data.length);
      } catch {
        return undefined;
      }
    },
    async put(key, data) {
      if (data.length !== key.length || data.length > maxBytes) return;
      try {
        await ensureDir();
        const path = fileFor(key);
        const tmp = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
        await writeFile(tmp, data);
        await rename(tmp, path);
        if (total === null) await evict();
        else total += data.length;
        if (total !== null && total > maxBytes) await evict();
      } catch {
        /* a cache that cannot write is just a slower cache */
      }
    },
  };
}
