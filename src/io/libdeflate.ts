/**
 * The optional native libdeflate binding (native/libdeflate, built by `npm run build` when the system has
 * libdeflate-dev): inflate of input tiles ~1.5x faster than node:zlib, float tiles deflated ~12 % faster and ~2 %
 * smaller. Null when it was not built (or S2CHANGE_NO_LIBDEFLATE=1): callers then use node:zlib, with the same
 * decoded values and valid, slightly different compressed bytes.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

export interface Libdeflate {
  /** Inflate the zlib stream `src` into `dst`: bytes written, or -1 when it would not fit (a decompression bomb). Throws on corrupt data. */
  inflate(src: Uint8Array, dst: Uint8Array): number;
  /** Deflate `src` as a zlib stream into `dst` at `level` (0..12): bytes written, 0 when `dst` is too small. */
  deflate(src: Uint8Array, dst: Uint8Array, level: number): number;
  /** The largest zlib stream `n` bytes can deflate into at `level`. */
  deflateBound(n: number, level: number): number;
  /**
   * Linux `fallocate(FALLOC_FL_COLLAPSE_RANGE)` on the open file `fd`: remove bytes [offset, offset + length), moving
   * the rest down without copying (ext4, xfs; block-aligned). 0 on success, else the errno. Absent from older builds.
   */
  collapseRange?(fd: number, offset: number, length: number): number;
  /**
   * glibc `mallopt`: at most `arenaMax` malloc arenas for threads created afterwards, and blocks of `mmapThreshold`
   * bytes or more mapped on their own (returned to the system when freed). 1 when both took, 0 when one did not, -1
   * off glibc. Absent from older builds.
   */
  mallocTune?(arenaMax: number, mmapThreshold: number): number;
}

const ADDON = '../../native/libdeflate/build/Release/s2deflate.node'; // from dist/io/ and src/io/ alike

function load(): Libdeflate | null {
  if (process.env.S2CHANGE_NO_LIBDEFLATE === '1') return null;
  const file = fileURLToPath(new URL(ADDON, import.meta.url));
  if (!existsSync(file)) return null;
  try {
    return createRequire(import.meta.url)(file) as Libdeflate;
  } catch {
    return null; // built against another Node ABI, or libdeflate.so missing: node:zlib it is
  }
}

export const libdeflate: Libdeflate | null = load();
