/**
 * The command line as a user meets it: exit codes, --json on stdout, messages on stderr, info on real and hostile
 * files, and an interrupted detect leaving nothing behind. Runs the compiled CLI (npm test builds first).
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { INDICES } from '../src/indices/registry.js';
import { VERSION } from '../src/version.js';
import { dataDir, gdalinfoJson, hasGdal } from './helpers/gdal.js';
import { validTiff } from './helpers/tiff-builder.js';

const CLI = path.resolve('dist/cli/main.js');
const DATA = dataDir();
const R29 = path.join(DATA, 's2-l2a-cog-29RKH/tests/fixtures/sentinel-cogs/sentinel-s2-l2a-cogs/29/R/KH/2020/2/S2A_29RKH_20200219_0_L2A');
const tmp = mkdtempSync(path.join(os.tmpdir(), 's2change-cli-'));

function cli(args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

describe.skipIf(!existsSync(CLI))('s2change CLI', () => {
  it('version matches package.json', () => {
    const pkg = JSON.parse(readFileSync('package.json', 'utf8'));
    expect(VERSION).toBe(pkg.version);
    expect(cli(['--version']).stdout.trim()).toBe(pkg.version);
  });

  it('usage errors exit 2 with a message on stderr', () => {
    expect(cli(['frobnicate']).code).toBe(2);
    const r = cli(['detect', '--after', 'x', '--preset', 'flood']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--out/);
    const bbox = cli(['detect', '--after', 'x', '--preset', 'flood', '--out', path.join(tmp, 'o'), '--bbox', '10,20,5']);
    expect(bbox.code).toBe(2);
    expect(bbox.stderr).toMatch(/USAGE.*--bbox.*minLon,minLat,maxLon,maxLat/);
  });

  it('indices --json lists the catalogue with formula, bands and a reference', () => {
    const r = cli(['indices', '--json']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.indices.map((i: { name: string }) => i.name)).toEqual(INDICES.map((i) => i.name));
    for (const i of j.indices) expect(i.reference).toMatch(/\d{4}/);
  });

  it.skipIf(!existsSync(R29) || !hasGdal())('info --json on a real COG agrees with gdalinfo', () => {
    const r = cli(['info', path.join(R29, 'B12.tif'), '--json']);
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    const g = gdalinfoJson(path.join(R29, 'B12.tif'));
    expect([j.tiff.width, j.tiff.height]).toEqual(g.size);
    expect(j.tiff.crs).toBe('EPSG:32629');
    expect(j.tiff.transform).toEqual(g.geoTransform);
    expect(j.tiff.overviews.length).toBe(g.bands[0].overviews.length);
    expect(j.bands[0].band).toBe('B12');
    expect(j.bands[0].radiometry.scale).toBe(1e-4);
  });

  it.skipIf(!existsSync(R29))('info on a band folder reads the baseline from the STAC item beside the files', () => {
    const j = JSON.parse(cli(['info', R29, '--json']).stdout);
    expect(j.format).toBe('band-folder');
    expect(j.bands.map((b: { band: string }) => b.band)).toEqual(expect.arrayContaining(['B02', 'B8A', 'B12', 'SCL']));
    const b04 = j.bands.find((b: { band: string }) => b.band === 'B04');
    expect(b04.radiometry.offset).toBe(0);
    expect(b04.radiometry.source).toMatch(/baseline 02\.14/);
  });

  it('info on a TIFF whose IFD points to itself fails fast with CORRUPT_TIFF and exit 1', () => {
    const { bytes, ifdOffsets, nextPtrs } = validTiff();
    const c = bytes.slice();
    new DataView(c.buffer).setUint32(nextPtrs[0]!, ifdOffsets[0]!, true);
    const f = path.join(tmp, 'loop.tif');
    writeFileSync(f, c);
    const t0 = Date.now();
    const r = cli(['info', f]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/CORRUPT_TIFF.*loop\.tif/);
    expect(Date.now() - t0).toBeLessThan(10_000);
  });

  it.skipIf(!existsSync(R29))('an interrupted detect (SIGTERM) leaves no final output and no temp files', async () => {
    const out = path.join(tmp, 'killed');
    const child = spawn(process.execPath, [CLI, 'detect', '--before', R29, '--after', R29, '--preset', 'generic', '--out', out],
      { stdio: 'ignore' });
    // Wait until the run has staged its temp folder, then interrupt it.
    const started = Date.now();
    while (!(existsSync(out) && readdirSync(out).some((n) => n.startsWith('.s2change-tmp'))) && Date.now() - started < 20_000) {
      await new Promise((r) => setTimeout(r, 5));
    }
    child.kill('SIGTERM');
    const code = await new Promise<number | null>((r) => child.on('exit', (c, sig) => r(c ?? (sig ? 143 : null))));
    expect(code).toBe(143);
    expect(existsSync(out) ? readdirSync(out) : []).toEqual([]);
  });
});
