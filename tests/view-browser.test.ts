/**
 * `s2change view` in headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core) on a real run: the
 * CAL FIRE INCIDENT chip (107×226 px), detect run by the test into a temp dir, then `view --no-open` started.
 * Oracles: the run's own files read by GDAL (`gdallocationinfo -wgs84`) for the inspector, and a second
 * `detect --threshold X` run for the hectares the slider shows. Pictures are judged by their pixels (sharp).
 *
 * S2CHANGE_FIGURES=1 also writes the screenshot into docs/figures/viewer-incident.png (the README's picture).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser, type Page } from 'playwright-core';
import { dataDir, hasGdal, run } from './helpers/gdal.js';

const CLI = path.resolve('dist/cli/main.js');
const CHROMIUM = '/usr/bin/chromium';
const FIRE = path.join(dataDir(), 'wildfire-calfire-s2', 'data');
const BEFORE = path.join(FIRE, 'pre_fire', '5_INCIDENT_20240715.tif');
const AFTER = path.join(FIRE, 'post_fire', '5_INCIDENT_20240715.tif');
const ready = existsSync(CLI) && existsSync(BEFORE) && existsSync(CHROMIUM) && existsSync(path.resolve('dist/viewer/index.html')) && hasGdal();

interface Raw { data: Buffer; width: number; height: number; channels: number }

async function raw(png: Buffer): Promise<Raw> {
  const { data, info } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height, channels: info.channels };
}

/** Mean absolute difference of two pictures over columns [x0, x1) (fractions of the narrower width). */
function meanDiff(a: Raw, b: Raw, x0: number, x1: number): number {
  let s = 0, n = 0;
  const w = Math.min(a.width, b.width); // side-by-side maps may differ by a border's width
  for (let y = 0; y < Math.min(a.height, b.height); y++) {
    for (let x = Math.floor(w * x0); x < Math.floor(w * x1); x++) {
      const i = (y * a.width + x) * a.channels;
      const j = (y * b.width + x) * b.channels;
      for (let c = 0; c < 3; c++) s += Math.abs(a.data[i + c]! - b.data[j + c]!);
      n += 3;
    }
  }
  return s / n;
}

function distinctColours(a: Raw): number {
  const set = new Set<number>();
  for (let i = 0; i < a.data.length; i += a.channels) set.add((a.data[i]! << 16) | (a.data[i + 1]! << 8) | a.data[i + 2]!);
  return set.size;
}

/** Pixels drawn in the threshold layer's colour (0, 229, 255 at 85 % over the map's light grey). */
function cyanPixels(a: Raw): number {
  let n = 0;
  for (let i = 0; i < a.data.length; i += a.channels) if (a.data[i]! < 90 && a.data[i + 1]! > 190 && a.data[i + 2]! > 215) n++;
  return n;
}

function cli(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe.skipIf(!ready)('s2change view in Chromium', () => {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 's2change-view-browser-'));
  const out = path.join(tmp, 'incident');
  let server: ChildProcess;
  let url = '';
  let browser: Browser;
  let page: Page;
  const consoleErrors: string[] = [];
  let summary: any;

  /** Do `action`, then wait for a frame of the map drawn after it with no tile loading. */
  async function settle(action: () => Promise<unknown>): Promise<void> {
    const n = Number(await page.locator('body').getAttribute('data-frames') ?? '0');
    await action();
    await page.waitForFunction((k) => Number(document.body.dataset.frames ?? '0') > k && document.body.dataset.loading !== 'true', n, { timeout: 5_000 })
      .catch(() => undefined); // a change that draws nothing new: go on
    await page.waitForTimeout(50);
  }
  async function shot(): Promise<Raw> {
    return raw(await page.locator('#map').screenshot());
  }
  async function onlyLayers(names: string[]): Promise<void> {
    for (const box of await page.locator('#layers input[type=checkbox]').all()) {
      const want = names.includes((await box.getAttribute('data-layer'))!);
      if ((await box.isChecked()) !== want) {
        await settle(() => box.setChecked(want));
      }
    }
  }

  beforeAll(async () => {
    const r = cli(['detect', '--before', BEFORE, '--after', AFTER, '--preset', 'wildfire', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    summary = JSON.parse(readFileSync(path.join(out, 'summary.json'), 'utf8'));
    server = spawn(process.execPath, [CLI, 'view', out, '--no-open'], { stdio: ['ignore', 'pipe', 'pipe'] });
    url = await new Promise<string>((resolve, reject) => {
      let buf = '';
      server.stdout!.on('data', (d: Buffer) => { buf += d.toString(); const m = /http:\/\/127\.0\.0\.1:\d+\//.exec(buf); if (m) resolve(m[0]); });
      server.on('exit', (code) => reject(new Error(`view exited with ${code}`)));
    });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--enable-unsafe-swiftshader', '--use-angle=swiftshader', '--no-sandbox'] });
    page = await browser.newPage({ viewport: { width: 900, height: 560 } });
    page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
    page.on('pageerror', (e) => consoleErrors.push(e.message));
    await page.goto(url);
    await page.waitForSelector('body[data-ready="true"]', { timeout: 20_000 });
    await page.waitForFunction(() => Number(document.body.dataset.frames ?? '0') > 0 && document.body.dataset.loading !== 'true', null, { timeout: 20_000 });
  });

  afterAll(async () => {
    await browser?.close();
    server?.kill('SIGTERM');
  });

  it('loads with no console errors and every layer draws something', async () => {
    expect(consoleErrors).toEqual([]);
    expect(await page.locator('#errors').textContent()).toBe('');
    const labels = await page.locator('#layers label').allTextContents();
    for (const name of ['Before', 'After', 'Change classes', 'Index difference', 'Past the threshold', 'Polygons']) {
      expect(labels.some((l) => l.includes(name)), name).toBe(true);
    }
    await onlyLayers([]);
    const empty = await shot(); // background, controls and their text only
    for (const layer of ['before', 'after', 'change', 'index', 'polygons']) {
      await onlyLayers([layer]);
      const pic = await shot();
      expect(meanDiff(pic, empty, 0, 1), layer).toBeGreaterThan(1);
      if (layer === 'before' || layer === 'after' || layer === 'index') expect(distinctColours(pic), layer).toBeGreaterThan(distinctColours(empty) + 500);
    }
    expect(consoleErrors).toEqual([]);
  });

  it('dragging the swipe shows before left of the divider and after right of it', async () => {
    await onlyLayers(['before']);
    const beforeOnly = await shot();
    await onlyLayers(['before', 'after']);
    const swipe = page.getByRole('slider', { name: 'Swipe' });
    const map = (await page.locator('#map').boundingBox())!;
    const drag = async (fraction: number) => {
      const box = (await swipe.boundingBox())!;
      await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
      await page.mouse.down();
      await settle(() => page.mouse.move(map.x + map.width * fraction, box.y + box.height / 2, { steps: 3 }));
      await page.mouse.up();
    };
    await drag(0.5);
    const mid = await shot();
    // left half: before; right half: after (differs from before where the fire burned)
    const leftSame = meanDiff(mid, beforeOnly, 0.05, 0.45);
    const rightDiff = meanDiff(mid, beforeOnly, 0.55, 0.95);
    expect(leftSame).toBeLessThan(1.5);
    expect(rightDiff).toBeGreaterThan(3 * leftSame + 1);
    await drag(0.97);
    expect(Number(await swipe.getAttribute('aria-valuenow'))).toBeGreaterThan(90);
    const right = await shot();
    expect(meanDiff(right, beforeOnly, 0.55, 0.9)).toBeLessThan(1.5); // the right side now shows before too
    await drag(0.03);
    const left = await shot();
    expect(meanDiff(left, beforeOnly, 0.1, 0.45)).toBeGreaterThan(3 * leftSame + 1); // and the left side shows after

    // hovering a polygon names its class and hectares: the map's centre is the chip's centre, a class-2 pixel
    await onlyLayers(['before', 'after', 'polygons']);
    await page.mouse.move(map.x + map.width / 2, map.y + map.height / 2);
    await page.mouse.move(map.x + map.width / 2 + 1, map.y + map.height / 2);
    await expect.poll(() => page.locator('#tooltip').isVisible(), { timeout: 5_000 }).toBe(true);
    const tip = /^(.+) — (\d+\.\d\d) ha$/.exec((await page.locator('#tooltip').textContent()) ?? '');
    expect(tip).not.toBeNull();
    const features = JSON.parse(readFileSync(path.join(out, 'change.geojson'), 'utf8')).features as any[];
    expect(features.some((f) => f.properties.class === tip![1] && f.properties.area_ha.toFixed(2) === tip![2])).toBe(true);

    // side by side: two maps on one view, before on the left, after on the right
    await onlyLayers(['before', 'after']);
    await settle(() => page.getByRole('checkbox', { name: 'Side by side' }).check());
    expect(await page.locator('#map2').isVisible()).toBe(true);
    expect(await swipe.isVisible()).toBe(false);
    await page.waitForTimeout(300);
    const leftMap = await shot();
    const rightMap = await raw(await page.locator('#map2').screenshot());
    expect(Math.abs(leftMap.width - rightMap.width)).toBeLessThan(4);
    expect(meanDiff(leftMap, rightMap, 0.3, 0.7)).toBeGreaterThan(3);
    await settle(() => page.getByRole('checkbox', { name: 'Side by side' }).uncheck());
    await drag(0.5);
  });

  it('the threshold slider re-colours the map and its hectares match detect --threshold', async () => {
    await onlyLayers(['threshold']);
    const slider = page.getByLabel('Threshold', { exact: true });
    const runX = Number(await slider.getAttribute('data-threshold'));
    expect(runX).toBeCloseTo(summary.thresholds[0].value, 6);
    const runHa = summary.areas.filter((a: any) => [1, 2, 3, 4].includes(a.value)).reduce((s: number, a: any) => s + a.hectares, 0);
    const haAtRun = Number(await page.locator('#area').getAttribute('data-hectares'));
    expect(Math.abs(haAtRun - runHa) / runHa).toBeLessThan(0.01);
    // A layer just made visible draws once its tiles have loaded, which can be a frame or more after the toggle
    let cyanAtRun = cyanPixels(await shot());
    for (let i = 0; i < 50 && cyanAtRun <= 1000; i++) {
      await page.waitForTimeout(100);
      cyanAtRun = cyanPixels(await shot());
    }
    expect(cyanAtRun).toBeGreaterThan(1000);

    await slider.focus();
    await settle(async () => { // each PageUp: a tenth of the slider's range
      await page.keyboard.press('PageUp');
      await page.keyboard.press('PageUp');
    });
    const x = Number(await slider.getAttribute('data-threshold'));
    expect(x).toBeGreaterThan(runX + 0.1);
    const ha = Number(await page.locator('#area').getAttribute('data-hectares'));
    const cyan = cyanPixels(await shot());
    expect(ha).toBeLessThan(haAtRun);
    expect(cyan).toBeLessThan(cyanAtRun * 0.95);
    // the coloured area shrinks as the hectares do (screen pixels are a fixed multiple of ground pixels at this zoom)
    expect(cyan / cyanAtRun).toBeCloseTo(ha / haAtRun, 1);

    const again = path.join(tmp, 'at-x');
    const r = cli(['detect', '--before', BEFORE, '--after', AFTER, '--preset', 'wildfire', '--threshold', String(x), '--out', again, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const s2 = JSON.parse(r.stdout);
    const detectHa = s2.areas.filter((a: any) => [1, 2, 3, 4].includes(a.value)).reduce((s: number, a: any) => s + a.hectares, 0);
    expect(detectHa).toBeGreaterThan(0);
    expect(Math.abs(ha - detectHa) / detectHa).toBeLessThan(0.01);
  });

  it('the inspector at #inspect=LON,LAT shows what gdallocationinfo reads from the same files', async () => {
    // the centre of pixel (col 69, row 116) of the run's grid
    const [x0, rx, , y0, , ry] = summary.grid.transform as number[];
    const lon = x0! + 69.5 * rx!;
    const lat = y0! + 116.5 * ry!;
    // the page reads the hash on load and on every change (one code path); changing it spares a reload
    await page.evaluate((h) => { location.hash = h; }, `#inspect=${lon},${lat}`);
    await page.waitForSelector('#inspector[data-ready="true"]', { timeout: 15_000 });
    const status = page.getByRole('status');
    expect(await status.textContent()).toContain('B08');
    // gdallocationinfo without -b prints every band's value, one per line
    const memo = new Map<string, number[]>();
    const gdal = (file: string, band: number) => {
      if (!memo.has(file)) memo.set(file, run('gdallocationinfo', ['-valonly', '-wgs84', file, String(lon), String(lat)]).trim().split('\n').map(Number));
      return memo.get(file)![band - 1]!;
    };
    const order = ['B02', 'B03', 'B04', 'B08', 'B12'];
    for (const [role, file] of [['before', BEFORE], ['after', AFTER]] as const) {
      for (const [i, band] of order.entries()) {
        const cell = status.locator(`td[data-role="${role}"][data-band="${band}"]`);
        expect(Number(await cell.getAttribute('data-dn')), `${role} ${band}`).toBe(gdal(file, i + 1));
        expect(Number(await cell.getAttribute('data-reflectance'))).toBeCloseTo(gdal(file, i + 1) * 1e-4, 8);
      }
    }
    const dnbr = gdal(path.join(out, 'dnbr.tif'), 1);
    expect(Number(await status.locator('[data-index-difference]').getAttribute('data-index-difference'))).toBeCloseTo(dnbr, 6);
    expect(Number(await status.locator('[data-class]').getAttribute('data-class'))).toBe(gdal(path.join(out, 'change.tif'), 1));
    // NBR per date from the same reflectances; their difference is the run's dNBR at that pixel
    const nbrBefore = Number(await status.locator('[data-index="NBR-before"]').getAttribute('data-value'));
    const nbrAfter = Number(await status.locator('[data-index="NBR-after"]').getAttribute('data-value'));
    expect(nbrBefore - nbrAfter).toBeCloseTo(dnbr, 5);
    expect(consoleErrors).toEqual([]);

    // the README's picture: before | after across the swipe, the run's polygons over both
    await onlyLayers(['before', 'after', 'polygons']);
    const png = path.join(tmp, 'viewer-incident.png');
    await page.setViewportSize({ width: 1200, height: 720 });
    await page.locator('#panel').evaluate((el) => { el.scrollTop = el.scrollHeight; }); // the inspector in view
    await settle(() => page.evaluate(() => window.dispatchEvent(new Event('resize'))));
    await settle(() => page.locator('.ol-zoom-in').first().click());
    await page.waitForTimeout(400); // the zoom animation
    await page.screenshot({ path: png });
    if (process.env.S2CHANGE_FIGURES === '1') copyFileSync(png, path.resolve('docs/figures/viewer-incident.png'));
  });
});
