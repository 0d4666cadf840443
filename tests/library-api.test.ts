/**
 * The library API (`import { detect, openScene, indices, presets, evaluate } from 's2change'`): in-memory results
 * against GDAL's reading of the CLI's files, the packed tarball installed into a fresh project (exports, types and
 * examples work from outside), and the pure core bundled for a browser without Node built-ins.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { detect, evaluate, indices, openScene, presets, UsageError } from '../src/index.js';
import { dataDir, hasGdal, pythonJson } from './helpers/gdal.js';

const DATA = dataDir();
const FIRE = path.join(DATA, 'wildfire-calfire-s2', 'data');
const chip = (when: string) => path.join(FIRE, when, '5_INCIDENT_20240715.tif');
const tmp = mkdtempSync(path.join(os.tmpdir(), 's2change-api-'));
const CLI = path.resolve('dist/cli/main.js');
const ready = existsSync(FIRE) && existsSync(CLI);

describe('the pure catalogues', () => {
  it('indices and presets are browsable and computable', () => {
    expect(indices.names).toEqual(expect.arrayContaining(['NDVI', 'NBR', 'MNDWI', 'BSI']));
    const ndvi = indices.get('NDVI')!.compute({ B04: Float32Array.of(0.1, 0.3), B08: Float32Array.of(0.5, 0.3) });
    expect(Array.from(ndvi)).toEqual([expect.closeTo((0.5 - 0.1) / 0.6, 6), 0]);
    expect(presets.names).toEqual(expect.arrayContaining(['flood', 'wildfire', 'urban', 'vegetation', 'generic', 'water']));
    expect(() => presets.get('tornado')).toThrow(UsageError);
  });

  it('refuses bad detect() inputs with typed errors before reading anything', async () => {
    await expect(detect({ preset: 'wildfire' } as never)).rejects.toThrow(/missing "after"/);
    await expect(detect({ after: 'x.tif', preset: 'tornado' })).rejects.toThrow(/unknown preset/);
    await expect(detect({ after: 'x.tif', preset: 'flood', bbox: [10, 50, 9, 51] })).rejects.toThrow(/invalid bbox/);
  });
});

describe.skipIf(!ready || !hasGdal())('detect() on the INCIDENT fire', () => {
  const out = path.join(tmp, 'incident');
  let run: Awaited<ReturnType<typeof detect>>;
  let cliSummary: any;
  beforeAll(async () => {
    run = await detect({ before: chip('pre_fire'), after: chip('post_fire'), preset: 'wildfire', minArea: 0.5 });
    const r = spawnSync(process.execPath, [CLI, 'detect', '--before', chip('pre_fire'), '--after', chip('post_fire'), '--preset', 'wildfire', '--min-area', '0.5', '--out', out, '--json'], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    cliSummary = JSON.parse(r.stdout);
  }, 120_000);

  it('resolves to the areas and thresholds the CLI reports', () => {
    expect(run.areas.map((a) => [a.value, a.pixels])).toEqual(cliSummary.areas.map((a: any) => [a.value, a.pixels]));
    expect(run.areas.map((a) => a.hectares)).toEqual(cliSummary.areas.map((a: any) => a.hectares));
    expect(run.thresholds.map((t) => t.value)).toEqual(cliSummary.thresholds.map((t: any) => t.value));
    expect([run.grid.width, run.grid.height]).toEqual([cliSummary.grid.width, cliSummary.grid.height]);
  });

  it('its class map and index equal what GDAL reads from the CLI files', () => {
    const ref = pythonJson(`
import json, sys
from osgeo import gdal
import numpy as np
c = gdal.Open(sys.argv[1]).ReadAsArray().astype(np.int64).ravel()
d = gdal.Open(sys.argv[2]).ReadAsArray().astype(np.float64).ravel()
print(json.dumps({"classes": np.bincount(c, minlength=256).tolist(), "sum": float(np.nansum(d)), "nan": int(np.isnan(d).sum()), "first": [None if np.isnan(v) else float(v) for v in d[:50]]}))
`, [path.join(out, 'change.tif'), path.join(out, 'dnbr.tif')]) as { classes: number[]; sum: number; nan: number; first: (number | null)[] };
    const counts = new Array(256).fill(0);
    for (const c of run.classes) counts[c]++;
    expect(counts).toEqual(ref.classes);
    const d = run.index!.values;
    expect(run.index!.name).toBe('dnbr');
    let sum = 0;
    let nan = 0;
    for (const v of d) { if (Number.isNaN(v)) nan++; else sum += v; }
    expect(nan).toBe(ref.nan);
    expect(sum).toBeCloseTo(ref.sum, 2);
    expect(Array.from(d.subarray(0, 50), (v) => (Number.isNaN(v) ? null : v))).toEqual(ref.first.map((v) => (v === null ? null : expect.closeTo(v, 6))));
  });

  it('writes files only when out is given, then exactly the CLI set', async () => {
    const libOut = path.join(tmp, 'lib-out');
    const withOut = await detect({ before: chip('pre_fire'), after: chip('post_fire'), preset: 'wildfire', minArea: 0.5, out: libOut });
    expect(withOut.summary!.areas).toEqual(cliSummary.areas);
    expect(readdirSync(libOut).sort()).toEqual(readdirSync(out).sort());
    const hashes = (dir: string) => JSON.parse(readFileSync(path.join(dir, 'summary.json'), 'utf8')).outputs
      .filter((o: any) => o.name.endsWith('.tif')).map((o: any) => [o.name, o.sha256]);
    expect(hashes(libOut)).toEqual(hashes(out));
  });

  it('openScene and evaluate work from the library', async () => {
    const scene = await openScene(chip('post_fire'), { bands: ['B02', 'B03', 'B04', 'B08', 'B12'] });
    expect([...scene.bands.keys()]).toEqual(expect.arrayContaining(['B08', 'B12']));
    await scene.close();
    const ev = await evaluate({ prediction: out, truth: path.join(FIRE, 'masks', '5_INCIDENT_20240715.tif') });
    expect(ev.scores.f1).toBeGreaterThan(0.9);
  });
});

describe.skipIf(!ready)('the packed package, installed into a fresh project', () => {
  const project = path.join(tmp, 'consumer');
  beforeAll(() => {
    // npm pack (what would be published), unpacked as node_modules/s2change of a new project whose other
    // dependencies link to this repository's (tests never reach the registry).
    const packDir = path.join(tmp, 'pack');
    mkdirSync(packDir, { recursive: true });
    const name = execFileSync('npm', ['pack', '--silent', '--ignore-scripts', '--pack-destination', packDir], { encoding: 'utf8' }).trim().split('\n').at(-1)!;
    const modules = path.join(project, 'node_modules');
    mkdirSync(path.join(modules, 's2change'), { recursive: true });
    execFileSync('tar', ['-xzf', path.join(packDir, name), '-C', path.join(modules, 's2change'), '--strip-components', '1']);
    for (const dep of readdirSync('node_modules')) {
      if (dep === '.bin' || dep === 's2change') continue;
      symlinkSync(path.resolve('node_modules', dep), path.join(modules, dep));
    }
    writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'consumer', type: 'module', private: true }));
    cpSync('examples', path.join(project, 'examples'), { recursive: true });
  }, 120_000);

  it('the tarball has the entry points and types that package.json names', () => {
    const pkg = JSON.parse(readFileSync(path.join(project, 'node_modules', 's2change', 'package.json'), 'utf8'));
    for (const target of [pkg.main, pkg.types, pkg.exports['.'].import, pkg.exports['.'].types, pkg.exports['./core'].import, pkg.exports['./core'].types]) {
      expect(existsSync(path.join(project, 'node_modules', 's2change', target)), target).toBe(true);
    }
  });

  it('the examples run from the consumer project', () => {
    const run = (file: string, args: string[] = []) => spawnSync(process.execPath, [path.join('examples', file), ...args], { cwd: project, encoding: 'utf8' });
    const custom = run('custom-preset.mjs');
    expect(custom.status, custom.stderr).toBe(0);
    expect(custom.stdout).toContain('361 pixels'); // the 19 × 19 pixel site the example clears, counted by hand
    const worker = run('core-worker.mjs');
    expect(worker.status, worker.stderr).toBe(0);
    expect(worker.stdout).toContain('loss pixels 3000 of 10000'); // the first 3000 pixels lose vegetation
    if (existsSync(FIRE)) {
      const fire = run('detect-fire.mjs', [DATA]);
      expect(fire.status, fire.stderr).toBe(0);
      expect(fire.stdout).toMatch(/high severity\s+[\d.]+ ha/);
    }
  }, 60_000);

  it('the pure core bundles for a browser with no Node built-ins', async () => {
    const esbuild = await import('esbuild');
    const r = await esbuild.build({
      stdin: { contents: "import { indices, presets, otsuThreshold } from 's2change/core'; console.log(indices.names, presets.names, otsuThreshold);", resolveDir: project },
      bundle: true, platform: 'browser', format: 'esm', write: false, logLevel: 'silent',
      // random-js (under ml-random-forest, the supervised preset's forest) calls require("crypto") only when it runs
      // under Node, inside a typeof-require check; browsers take its Math.random/crypto.getRandomValues path
      external: ['crypto'],
    });
    const text = r.outputFiles[0]!.text;
    expect(text).not.toMatch(/from\s*["']node:|require\(["'](fs|path|os|child_process|worker_threads)["']\)/);
    expect(r.errors).toEqual([]);
    expect(text.length).toBeGreaterThan(1000);
  });
});
