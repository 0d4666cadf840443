/**
 * CLI start-up: defining the commands loads only commander and small modules; what a command runs on is imported
 * when it runs (see src/cli/main.ts). `detect`'s start-up is on the clock of the whole-tile benchmark (issue #4).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { PRESETS } from '../src/change/presets/index.js';
import { PRESET_NAMES } from '../src/change/presets/names.js';

const DIST = path.resolve('dist');
const CLI = path.join(DIST, 'cli', 'main.js');

/** The modules of ours that defining the commands may load: the CLI itself and small tables. */
const LIGHT = new Set([
  'errors.js', 'version.js', 'indices/registry.js', 'indices/bands.js', 'indices/normalized-difference.js', 'raster/grid.js',
  'change/presets/names.js', 'pipeline/detect-limits.js', 'pipeline/bench-methods.js', 'pipeline/datasets.js',
  'io/stac-defaults.js', 'io/tiff/sandbox-defaults.js', 'bench/bench.js',
]);

/** Every module file (ours under dist/, packages under node_modules/) that `node dist/cli/main.js ...args` loads. */
function modulesLoadedBy(args: string[]): string[] {
  const dir = mkdtempSync(path.join(os.tmpdir(), 's2change-startup-'));
  const log = path.join(dir, 'loaded.txt');
  writeFileSync(path.join(dir, 'hooks.mjs'),
    `import { appendFileSync } from 'node:fs';\nexport async function load(url, context, next) {\n  appendFileSync(${JSON.stringify(log)}, url + '\\n');\n  return next(url, context);\n}\n`);
  writeFileSync(path.join(dir, 'register.mjs'),
    `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(path.join(dir, 'hooks.mjs')).href)});\n`);
  writeFileSync(log, '');
  const r = spawnSync(process.execPath, ['--import', pathToFileURL(path.join(dir, 'register.mjs')).href, CLI, ...args], { encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  return readFileSync(log, 'utf8').split('\n').filter((u) => u.startsWith('file:'));
}

function heavyModules(args: string[]): string[] {
  const heavy: string[] = [];
  for (const url of modulesLoadedBy(args)) {
    const file = new URL(url).pathname;
    const pkg = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(file)?.[1];
    if (pkg !== undefined) {
      if (pkg !== 'commander') heavy.push(pkg);
      continue;
    }
    const rel = path.relative(DIST, file).split(path.sep).join('/');
    if (!rel.startsWith('cli/') && !LIGHT.has(rel)) heavy.push(rel);
  }
  return [...new Set(heavy)];
}

describe('CLI start-up', () => {
  it('the preset names the help lists are the presets', () => {
    expect([...PRESET_NAMES]).toEqual(PRESETS.map((p) => p.name));
  });

  it.skipIf(!existsSync(CLI))('--version, --help and detect --help load no pipeline, engine, reader or package but commander', () => {
    for (const args of [['--version'], ['--help'], ['detect', '--help'], ['bench', 'accuracy', '--help']]) {
      expect(heavyModules(args), args.join(' ')).toEqual([]);
    }
  });
});
