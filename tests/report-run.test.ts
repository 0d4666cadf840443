/**
 * The report's new parts: the histogram drawing, scale bar, masked hatch and sanity warnings by hand, and on real
 * runs the accuracy (numpy confusion of change.tif against the labels), the WGS84 extent (GDAL's), the dates, the
 * links to every output and the masked pixels drawn in change.png where change.tif says 255.
 */
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import type { IndexHistogram } from '../src/change/index-histogram.js';
import { histogramSvg, niceStep, scaleBarHtml } from '../src/report/report-svg.js';
import { classOverlayPng } from '../src/report/quicklook.js';
import { MASKED_HATCH, VEGETATION_PALETTE } from '../src/report/palette.js';
import { sanityWarnings, seasonalDistanceDays } from '../src/pipeline/sanity-warnings.js';
import { runDetect, type RunDetectOptions } from '../src/pipeline/run-detect.js';
import { dataDir, GDAL_SKIP_REASON, gdalinfoJson, hasGdal, pythonJson } from './helpers/gdal.js';

const hist = (over: Partial<IndexHistogram> = {}): IndexHistogram => ({
  product: 'dndvi', description: 'NDVI after − before', binWidth: 0.001, min: -0.5, max: 0.5, counts: Array.from({ length: 1000 }, (_, k) => 1 + (k % 7)),
  below: 0, above: 0, pixels: 0, pixelAreaM2: 100, pixelAreaVaries: false,
  thresholds: [{ name: '|ΔNDVI|', value: 0.2, kind: 'fixed', source: 'conventional' }],
  classRules: [{ op: '<=', bound: -0.2, class: 1 }, { op: '>=', bound: 0.2, class: 2 }], ...over,
});

describe('report drawings (pure)', () => {
  it('histogram: bars left of −t are class 1\'s colour, right of t class 2\'s, between grey; lines at ±t', () => {
    const svg = histogramSvg(hist(), { 1: '#ff0000', 2: '#00ff00' })!;
    const lines = [...svg.matchAll(/<line x1="([\d.]+)" y1="12" x2="[\d.]+" y2="[\d.]+" stroke="#d00"/g)].map((m) => Number(m[1]));
    expect(lines.length).toBe(2);
    const [xLoss, xGain] = lines.sort((a, b) => a - b);
    const rects = [...svg.matchAll(/<rect x="([\d.]+)" y="[\d.]+" width="([\d.]+)" height="[\d.]+" fill="(#[0-9a-f]+)"/g)]
      .map((m) => ({ x: Number(m[1]), w: Number(m[2]), fill: m[3] }));
    expect(rects.length).toBeGreaterThan(100);
    for (const r of rects) {
      const mid = r.x + r.w / 2;
      if (r.fill === '#ff0000') expect(mid).toBeLessThan(xLoss! + 0.1);
      else if (r.fill === '#00ff00') expect(mid).toBeGreaterThan(xGain! - 0.1);
      else { expect(r.fill).toBe('#c8c8c8'); expect(mid).toBeGreaterThan(xLoss! - 6); expect(mid).toBeLessThan(xGain! + 6); }
    }
    expect(svg).toContain('≤ -0.2 → class 1 (fixed)');
    expect(svg).not.toMatch(/<script/i);
    expect(histogramSvg(hist({ counts: [] }))).toBeNull();
  });

  it('histogram without class rules: grey bars and the threshold line', () => {
    const svg = histogramSvg(hist({ classRules: null, thresholds: [{ name: 't', value: 0.1, kind: 'otsu', source: 'Otsu' }] }))!;
    expect(new Set([...svg.matchAll(/<rect [^>]*fill="(#[0-9a-f]+)"/g)].map((m) => m[1]))).toEqual(new Set(['#8a8a8a']));
    expect(svg).toContain('threshold 0.1 (Otsu)');
  });

  it('scale bar: a 1-2-5 length about a fifth of the ground width, as that share of the picture', () => {
    expect(niceStep(1000)).toBe(200);
    expect(scaleBarHtml(1000)).toContain('width:20.000%');
    expect(scaleBarHtml(1000)).toContain('>200 m<');
    expect(scaleBarHtml(12_345)).toContain('width:16.201%'); // 2 km of 12.345 km
    expect(scaleBarHtml(12_345)).toContain('>2 km<');
    expect(scaleBarHtml(0)).toBeNull();
  });

  it('change picture: masked pixels in opaque stripes of the hatch colours, no change transparent', async () => {
    const classes = new Uint8Array(12 * 12).fill(255);
    classes.fill(0, 0, 12);
    classes[20] = 1;
    const png = await classOverlayPng(classes, 12, 12, VEGETATION_PALETTE, { maskedHatch: MASKED_HATCH });
    const { data } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
    const px = (i: number) => [...data.subarray(4 * i, 4 * i + 4)];
    expect(px(0)[3]).toBe(0);
    expect(px(20)).toEqual([...VEGETATION_PALETTE.classes[0]!.colour, 255]);
    const seen = new Set<string>();
    for (let i = 12; i < 144; i++) if (i !== 20) seen.add(px(i).join(','));
    expect(seen).toEqual(new Set([[...MASKED_HATCH[0], 255].join(','), [...MASKED_HATCH[1], 255].join(',')]));
  });
});

describe('sanity warnings', () => {
  const base = { preset: 'vegetation', twoDates: true, beforeInput: 'a.tif', afterInput: 'b.tif', changePixels: 10, validPixels: 100, histogram: null };
  it('seasons, by hand', () => {
    expect(seasonalDistanceDays('2017-07-03', '2019-07-23')).toBe(20);
    expect(seasonalDistanceDays('2020-12-20', '2021-01-10')).toBe(21);
    expect(seasonalDistanceDays('2015-01-10', '2015-07-10')).toBe(181);
    expect(seasonalDistanceDays('2016-02-29', '2015-03-01')).toBe(1);
    expect(sanityWarnings({ ...base, beforeDate: '2017-07-03', afterDate: '2019-07-23' })).toEqual([]);
    expect(sanityWarnings({ ...base, beforeDate: '2015-01-10', afterDate: '2015-07-10' })[0]).toMatch(/181 days apart.*phenology/);
    expect(sanityWarnings({ ...base, preset: 'flood', beforeDate: '2015-01-10', afterDate: '2015-07-10' })).toEqual([]);
  });
  it('the same input twice, identical dates, and an implausible share of change', () => {
    expect(sanityWarnings({ ...base, beforeInput: 'b.tif' })[0]).toMatch(/same input/);
    const zero = hist({ min: 0, max: 0.001, counts: [100], pixels: 100 });
    expect(sanityWarnings({ ...base, histogram: zero })[0]).toMatch(/identical on every valid pixel/);
    expect(sanityWarnings({ ...base, histogram: hist({ pixels: 4000 }) })).toEqual([]);
    expect(sanityWarnings({ ...base, changePixels: 51 })[0]).toMatch(/51 % of the valid area/);
    expect(sanityWarnings({ ...base, preset: 'wildfire', regrowthPixels: 3 })[0]).toMatch(/3\.0 % .*enhanced regrowth.*water/);
    expect(sanityWarnings({ ...base, preset: 'wildfire', regrowthPixels: 2 })).toEqual([]);
  });
});

const DATA = dataDir();
const FIRE = path.join(DATA, 'wildfire-calfire-s2', 'data');
const BARB = path.join(DATA, 'sen2r-barbellino', 'inst', 'extdata', 'out');
const ready = existsSync(FIRE) && existsSync(BARB) && hasGdal();
const tmp = mkdtempSync(path.join(os.tmpdir(), 's2change-report-run-'));

describe.skipIf(!ready)(`report of real runs — ${GDAL_SKIP_REASON}`, () => {
  let fire: string;
  let veg: string;
  beforeAll(async () => {
    const common = { overwrite: true, threads: 0, progress: false, decodeBudget: null };
    fire = path.join(tmp, 'fire');
    await runDetect({
      before: `${FIRE}/pre_fire/5_INCIDENT_20240715.tif`, after: `${FIRE}/post_fire/5_INCIDENT_20240715.tif`, preset: 'wildfire', out: fire,
      truth: { path: `${FIRE}/masks/5_INCIDENT_20240715.tif`, change: [1], noChange: [0] }, ...common,
    } as RunDetectOptions);
    veg = path.join(tmp, 'veg');
    await runDetect({
      before: `${BARB}/S2A2A_20170703_022_Barbellino_BOA_10.tif`, after: `${BARB}/S2A2A_20190723_022_Barbellino_BOA_10.tif`,
      beforeScl: `${BARB}/S2A2A_20170703_022_Barbellino_SCL_10.tif`, afterScl: `${BARB}/S2A2A_20190723_022_Barbellino_SCL_10.tif`,
      bands: 'B1,B2,B3,B4,B5,B6,B7,B8,B9,B11,B12'.split(','), preset: 'vegetation', out: veg, engine: 'blocks', ...common,
    } as RunDetectOptions);
  }, 120_000);
  const summary = (dir: string) => JSON.parse(readFileSync(path.join(dir, 'summary.json'), 'utf8'));
  const html = (dir: string) => readFileSync(path.join(dir, 'report.html'), 'utf8');

  it('accuracy in summary.json equals numpy\'s confusion of change.tif against the labels, and the report shows it', () => {
    const r = pythonJson(`
import sys, json, numpy as np
from osgeo import gdal
p = gdal.Open(sys.argv[1]).ReadAsArray(); t = gdal.Open(sys.argv[2]).ReadAsArray()
ok = (p != 255) & np.isin(t, [0, 1]); pc = np.isin(p, [1, 2, 3, 4]); tc = t == 1
print(json.dumps({"tp": int((ok & pc & tc).sum()), "fp": int((ok & pc & ~tc).sum()), "fn": int((ok & ~pc & tc).sum()), "tn": int((ok & ~pc & ~tc).sum())}))
`, [path.join(fire, 'change.tif'), `${FIRE}/masks/5_INCIDENT_20240715.tif`]);
    const acc = summary(fire).accuracy;
    expect(acc.confusion).toEqual(r);
    expect(acc.scores.f1).toBeCloseTo((2 * r.tp) / (2 * r.tp + r.fp + r.fn), 12);
    expect(html(fire)).toContain('Accuracy against reference labels');
    expect(html(fire)).toContain(`<td class="num">${acc.scores.f1.toFixed(3)}</td>`);
    expect(summary(veg).accuracy).toBeUndefined();
  });

  it('the WGS84 extent is GDAL\'s, and the dates come first', () => {
    for (const dir of [fire, veg]) {
      const ring: number[][] = gdalinfoJson(path.join(dir, 'change.tif')).wgs84Extent.coordinates[0];
      const lons = ring.map((p) => p[0]!), lats = ring.map((p) => p[1]!);
      const m = /longitude (-?[\d.]+) to (-?[\d.]+), latitude (-?[\d.]+) to (-?[\d.]+)/.exec(html(dir))!;
      expect(Number(m[1])).toBeCloseTo(Math.min(...lons), 4);
      expect(Number(m[2])).toBeCloseTo(Math.max(...lons), 4);
      expect(Number(m[3])).toBeCloseTo(Math.min(...lats), 4);
      expect(Number(m[4])).toBeCloseTo(Math.max(...lats), 4);
    }
    const page = html(veg);
    expect(page).toMatch(/<strong>before<\/strong>: 2017-07-03 <small>\(sen2r file name S2A2A_20170703/);
    expect(page.indexOf('2019-07-23')).toBeLessThan(page.indexOf('<h2>Pictures</h2>'));
    expect(page.indexOf('<details>')).toBeGreaterThan(page.indexOf('<h2>Pictures</h2>'));
  });

  it('links every output of the manifest (and summary.json), nothing else', () => {
    for (const dir of [fire, veg]) {
      const hrefs = [...html(dir).matchAll(/href="([^"]*)"/g)].map((m) => decodeURIComponent(m[1]!)).sort();
      const names = [...summary(dir).outputs.map((o: any) => o.name), 'summary.json'].sort();
      expect(hrefs).toEqual(names);
    }
  });

  it('masked pixels: counted in the legend and drawn hatched in change.png exactly where change.tif is 255', async () => {
    const s = summary(veg);
    expect(s.pixels.masked).toBeGreaterThan(0);
    expect(html(veg)).toMatch(new RegExp(`masked \\(not analysed\\)<br><small>${s.pixels.maskedCloudShadowSnow} cloud, shadow or snow; ${s.pixels.maskedNodata} no data`));
    const classes = pythonJson(`
import sys, json
from osgeo import gdal
print(json.dumps(gdal.Open(sys.argv[1]).ReadAsArray().ravel().tolist()))
`, [path.join(veg, 'change.tif')]) as number[];
    const { data, info } = await sharp(path.join(veg, 'change.png')).raw().toBuffer({ resolveWithObject: true });
    expect(info.width * info.height).toBe(classes.length);
    const hatch = new Set(MASKED_HATCH.map((c) => c.join(',')));
    classes.forEach((c, i) => {
      const rgb = [...data.subarray(i * info.channels, i * info.channels + 3)].join(',');
      if (c === 255) expect(hatch.has(rgb)).toBe(true);
    });
  });

  it('the histogram of the index is drawn with the run\'s threshold; the page names no URL and runs no script', () => {
    for (const dir of [fire, veg]) {
      expect(html(dir)).not.toMatch(/https?:\/\//);
      expect(html(dir)).not.toMatch(/<script/i);
    }
    expect(html(veg)).toContain('<svg class="histogram"');
    expect(html(veg)).toContain('≥ 0.2 → class 2 (fixed)');
  });
});

describe.skipIf(!ready || !existsSync('dist/cli/main.js'))('detect --truth (compiled CLI)', () => {
  it('records the accuracy; a missing label file fails before any work, leaving nothing', async () => {
    const { spawnSync } = await import('node:child_process');
    const cli = (args: string[]) => spawnSync(process.execPath, ['dist/cli/main.js', 'detect', ...args], { encoding: 'utf8' });
    const io = ['--before', `${FIRE}/pre_fire/5_INCIDENT_20240715.tif`, '--after', `${FIRE}/post_fire/5_INCIDENT_20240715.tif`, '--preset', 'wildfire'];
    const ok = cli([...io, '--out', path.join(tmp, 'cli'), '--truth', `${FIRE}/masks/5_INCIDENT_20240715.tif`, '--truth-change', '1', '--json']);
    expect(ok.status).toBe(0);
    expect(JSON.parse(ok.stdout).accuracy.pixels).toBe(JSON.parse(ok.stdout).pixels.valid);
    const bad = cli([...io, '--out', path.join(tmp, 'cli-bad'), '--truth', path.join(tmp, 'no-such-labels.tif')]);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/INPUT_NOT_FOUND.*no-such-labels\.tif.*--truth/);
    expect(existsSync(path.join(tmp, 'cli-bad'))).toBe(false);
  }, 60_000);
});
