/**
 * Small helpers for tests that use GDAL and numpy as an independent oracle. GDAL tools come from PATH; Python is
 * always /usr/bin/python3 (the system one, which has numpy and osgeo).
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The Python that has numpy + osgeo. */
export const PYTHON = '/usr/bin/python3';

let gdalAvailable: boolean | null = null;

/** True if gdal_translate, gdalinfo and /usr/bin/python3 with numpy+osgeo all work. */
export function hasGdal(): boolean {
  if (gdalAvailable === null) {
    const ok = (cmd: string, args: string[]) => {
      const r = spawnSync(cmd, args, { encoding: 'utf8' });
      return r.status === 0;
    };
    gdalAvailable = ok('gdal_translate', ['--version']) && ok('gdalinfo', ['--version'])
      && ok(PYTHON, ['-c', 'import numpy, osgeo.gdal']);
  }
  return gdalAvailable;
}

/** Why GDAL tests are skipped, for `describe.skipIf(!hasGdal())` titles. */
export const GDAL_SKIP_REASON = 'GDAL (gdal_translate/gdalinfo) or /usr/bin/python3 with numpy+osgeo is not installed';

/** Run a command; return stdout; throw with stderr on a non-zero exit. */
export function run(cmd: string, args: string[], input?: string): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', input, maxBuffer: 256 * 1024 * 1024 });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}):\n${r.stderr}`);
  return r.stdout;
}

/** `gdalinfo -json` of a file, parsed. */
export function gdalinfoJson(file: string, extraArgs: string[] = []): any {
  return JSON.parse(run('gdalinfo', ['-json', ...extraArgs, file]));
}

/**
 * Run a Python script (source text) with /usr/bin/python3 and `args` (available as sys.argv[1:]);
 * the script must print one JSON document on stdout, which is returned parsed.
 */
export function pythonJson(script: string, args: string[] = []): any {
  const out = run(PYTHON, ['-c', script, ...args]);
  return JSON.parse(out);
}

/** The shared sample-data folder (read-only): $S2CHANGE_DATA or <repo>/../shared/data. */
export function dataDir(): string {
  const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
  return process.env.S2CHANGE_DATA ?? path.resolve(repo, '..', 'shared', 'data');
}
