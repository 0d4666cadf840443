/**
 * s2change's folder in the user's cache: $S2CHANGE_CACHE, else $XDG_CACHE_HOME/s2change, else ~/.cache/s2change
 * (the XDG base directory rule): where `detect --preset urban` looks for `urban-model.json`. (The HTTP range cache
 * has its own default, `defaultRangeCacheDir` in range-cache.ts, and `--cache-dir`.)
 */
import os from 'node:os';
import path from 'node:path';

export function userCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.S2CHANGE_CACHE) return path.resolve(env.S2CHANGE_CACHE);
  if (env.XDG_CACHE_HOME) return path.resolve(env.XDG_CACHE_HOME, 's2change');
  return path.join(os.homedir(), '.cache', 's2change');
}
