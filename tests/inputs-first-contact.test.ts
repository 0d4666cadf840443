/**
 * What a new user meets first: `info` prints the WGS84 extent (checked against gdalinfo's wgs84Extent) and the
 * acquisition date, reads a STAC item whose assets sit next to it, a --bbox typed lat,lon is named as such, and
 * `detect` warns when before and after are the same scene.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseBbox } from '../src/cli/options.js';
import { sameSceneWarning } from '../src/pipeline/detect.js';
import type { Scene } from '../src/io/scene.js';
import { dataDir, gdalinfoJson, hasGdal } from './helpers/gdal.js';

const CLI = path.resolve('dist/cli/main.js');
const DATA = dataDir();
const OSCD = path.join(DATA, 'oscd', 'Onera Satellite Change Detection dataset - Images', 'paris');
const COG = path.join(DATA, 's2-l2a-cog-29RKH/tests/fixtures/sentinel-cogs/sentinel-s2-l2a-cogs/29/R/KH/2020/2/S2A_29RKH_20200219_0_L2A');
const cli = (args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });

/** gdalinfo's WGS84 footprint polygon as [west, south, east, north]. */
function gdalExtent(file: string): number[] {
  const ring: number[][] = gdalinfoJson(file).wgs84Extent.coordinates[0];
  const xs = ring.map((p) => p[0]!);
  const ys = ring.map((p) => p[1]!);
  return [Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)];
}

describe('--bbox with latitude and longitude swapped', () => {
  it('is named as such when only the swapped reading is a valid box, with the corrected option', () => {
    expect(() => parseBbox('-8,100,-7.8,120')).toThrow(/latitude and longitude swapped.*Use --bbox 100,-8,120,-7\.8/);
    expect(() => parseBbox('10,20,5')).toThrow(/invalid --bbox/);
    expect(parseBbox('2.32,48.8,2.35,48.84')).toEqual({ minX: 2.32, minY: 48.8, maxX: 2.35, maxY: 48.84 });
  });

  it.skipIf(!existsSync(OSCD) || !existsSync(CLI))('a lat,lon box that parses but misses the scene is named as swapped by detect', () => {
    const r = cli(['detect', '--before', path.join(OSCD, 'imgs_1'), '--after', path.join(OSCD, 'imgs_2'), '--preset', 'urban',
      '--out', path.join(process.env.TMPDIR ?? '/tmp', `s2c-swap-${process.pid}`), '--bbox', '48.80,2.32,48.84,2.35']);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/NO_OVERLAP.*latitude and longitude swapped.*Use --bbox 2\.32,48\.8,2\.35,48\.84/);
  });
});

describe('same scene before and after', () => {
  const scene = (input: string, provenance: Record<string, unknown> = {}) => ({ input, provenance } as unknown as Scene);
  it('warns for the same path, the same product, or the same date and tile; not for two dates', () => {
    expect(sameSceneWarning(scene('/a/b/'), scene('/a/b'))).toMatch(/same input/);
    expect(sameSceneWarning(scene('/x/P.SAFE', { product: 'P.SAFE' }), scene('/y/P.zip', { product: 'P' }))).toMatch(/same product P/);
    expect(sameSceneWarning(scene('a.json', { datetime: '2020-02-19T11:34:25Z', tile: '29RKH' }), scene('b', { datetime: '2020-02-19T11:34:25Z', tile: '29RKH' })))
      .toMatch(/same acquisition/);
    expect(sameSceneWarning(scene('a.json', { datetime: '2020-02-19T11:34:25Z', tile: '29RKH' }), scene('b', { datetime: '2020-03-19T11:34:25Z', tile: '29RKH' }))).toBeNull();
    expect(sameSceneWarning(scene('/a'), scene('/b'))).toBeNull();
  });
});

describe.skipIf(!existsSync(CLI) || !hasGdal())('info: WGS84 extent and date', () => {
  it.skipIf(!existsSync(OSCD))('band folder: the extent gdalinfo reports (to 1e-5°), the date from the file names', () => {
    const r = cli(['info', '--json', path.join(OSCD, 'imgs_1')]);
    expect(r.status, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    const b04 = path.join(OSCD, 'imgs_1', readdirSync(path.join(OSCD, 'imgs_1')).find((n) => n.endsWith('_B04.tif'))!);
    const g = gdalExtent(b04);
    // Every band of the folder has the same footprint as B04 here (OSCD bands are resampled to one grid).
    j.extentWgs84.forEach((v: number, i: number) => expect(Math.abs(v - g[i]!)).toBeLessThan(2e-5));
    expect(j.acquired).toEqual({ date: '2016-11-30', from: expect.stringMatching(/^file name /) });
  });

  it.skipIf(!existsSync(COG))('a STAC item whose assets sit next to it: read offline, with its date and extent', () => {
    const item = path.join(COG, 'S2A_29RKH_20200219_0_L2A.json');
    const r = cli(['info', '--json', item]);
    expect(r.status, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.format).toBe('stac-item');
    expect(j.bands.find((b: any) => b.band === 'B04').file).toBe(path.join(COG, 'B04.tif'));
    expect(j.acquired.date).toMatch(/^2020-02-19T11:34:25/);
    const g = gdalExtent(path.join(COG, 'B01.tif')); // the coarsest band covers the whole tile too
    j.extentWgs84.forEach((v: number, i: number) => expect(Math.abs(v - g[i]!)).toBeLessThan(2e-5));
  });
});

describe('SAFE products and the block engine', () => {
  it('--engine blocks refuses a SAFE product with the reason and the conversion; auto then uses the whole-array engine', async () => {
    const { blockEngineRefusal } = await import('../src/engine/detect-blocks.js');
    for (const src of ['/d/S2A_MSIL2A_X.SAFE', '/d/S2A_MSIL2A_X.SAFE/', '/d/S2A_MSIL2A_X.zip']) {
      const r = blockEngineRefusal({ before: src, after: '/d/B', preset: 'flood', method: 'threshold', threshold: 0.1 } as never);
      expect(r?.message, src).toMatch(/does not read SAFE products.*gdal_translate/);
    }
    expect(blockEngineRefusal({ before: '/d/A', after: '/d/B', preset: 'flood', method: 'threshold', threshold: 0.1 } as never)).toBeNull();
  });
});
