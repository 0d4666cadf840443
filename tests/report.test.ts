import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import type { Grid } from '../src/raster/grid.js';
import { changePolygonsToGeoJSON, writeGeoJSON, type Position } from '../src/report/geojson.js';
import { trueColourPng, classOverlayPng, indexPng, stretchRange, quicklookSize } from '../src/report/quicklook.js';
import { FLOOD_PALETTE, WILDFIRE_PALETTE, paletteForClasses, rgbHex, tiffColorMap } from '../src/report/palette.js';
import { renderReport, renderReportParts, escapeHtml, type ReportModel } from '../src/report/html.js';

const PY = '/usr/bin/python3';
let dir: string;
beforeAll(() => { dir = mkdtempSync(path.join(tmpdir(), 's2change-report-')); });
afterAll(() => { rmSync(dir, { recursive: true, force: true }); });

function randomClasses(w: number, h: number, seed: number): Uint8Array {
  let s = seed >>> 0;
  return Uint8Array.from({ length: w * h }, () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    const u = s / 2 ** 32;
    return u < 0.45 ? 0 : u < 0.7 ? 1 : u < 0.85 ? 2 : u < 0.95 ? 3 : 255;
  });
}

/** Signed area of a lon/lat ring (x = lon, y = lat): positive = counter-clockwise. */
function signedArea(r: Position[]): number {
  let s = 0;
  for (let i = 0; i + 1 < r.length; i++) s += r[i]![0] * r[i + 1]![1] - r[i + 1]![0] * r[i]![1];
  return s / 2;
}

const ORACLE = String.raw`
import json, os, subprocess, sys
from osgeo import gdal, ogr, osr
gdal.UseExceptions()
gdal.PushErrorHandler('CPLQuietErrorHandler')
raw, w, h, ours, conn = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
tif = raw + '.tif'
ds = gdal.GetDriverByName('GTiff').Create(tif, w, h, 1, gdal.GDT_Byte)
ds.SetGeoTransform([500000.0, 10.0, 0.0, 4200000.0, 0.0, -10.0])
srs = osr.SpatialReference(); srs.ImportFromEPSG(32629); ds.SetProjection(srs.ExportToWkt())
ds.GetRasterBand(1).WriteRaster(0, 0, w, h, open(raw, 'rb').read())
ds = None
out = raw + '.gdal.' + conn + '.geojson'
if os.path.exists(out): os.remove(out)  # gdal_polygonize appends to an existing file
subprocess.run(['gdal_polygonize.py'] + (['-8'] if conn == '8' else []) + ['-q', tif, '-f', 'GeoJSON', out, 'p', 'DN'], check=True)
res = {'gdal': {}, 'ours': {}, 'ours_invalid': 0, 'gdal_invalid': 0}
gds = ogr.Open(out)  # keep the datasource referenced while its layer is read
for f in gds.GetLayer(0):
    v = f.GetField('DN')
    if v in (0, 255): continue
    if not f.GetGeometryRef().IsValid(): res['gdal_invalid'] += 1
    d = res['gdal'].setdefault(str(v), [0, 0.0]); d[0] += 1; d[1] += f.GetGeometryRef().GetArea()
utm = osr.SpatialReference(); utm.ImportFromEPSG(32629)
wgs = osr.SpatialReference(); wgs.ImportFromEPSG(4326); wgs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
ct = osr.CoordinateTransformation(wgs, utm)
ods = ogr.Open(ours)
for f in ods.GetLayer(0):
    g = f.GetGeometryRef().Clone()
    if not g.IsValid(): res['ours_invalid'] += 1
    g.Transform(ct)
    d = res['ours'].setdefault(str(f.GetField('class_value')), [0, 0.0]); d[0] += 1; d[1] += g.GetArea()
print(json.dumps(res))
`;

describe('changePolygonsToGeoJSON', () => {
  const grid: Grid = { crs: { epsg: 32629 }, transform: [500000, 10, 0, 4200000, 0, -10], width: 60, height: 40 };
  const classes = randomClasses(grid.width, grid.height, 7);
  const names = { 1: 'new water', 2: 'receded water', 3: 'permanent water' };

  for (const [connectivity, decimals, tol] of [[8, 7, 1e-4], [4, 7, 1e-4], [8, 11, 1e-8]] as const) {
    it(`matches gdal_polygonize${connectivity === 8 ? ' -8' : ''} per class (feature count, area) and OGR reads it as valid (${decimals} decimals)`, () => {
      const fc = changePolygonsToGeoJSON(classes, grid, { classNames: names, connectivity, decimals });
      const file = path.join(dir, `ours-${connectivity}-${decimals}.geojson`);
      writeFileSync(file, JSON.stringify(fc));
      const raw = path.join(dir, 'classes.raw');
      writeFileSync(raw, classes);
      const res = JSON.parse(execFileSync(PY, ['-c', ORACLE, raw, String(grid.width), String(grid.height), file, String(connectivity)], { encoding: 'utf8' })) as
        { gdal: Record<string, [number, number]>; ours: Record<string, [number, number]>; ours_invalid: number; gdal_invalid: number };
      expect(Object.keys(res.ours).sort()).toEqual(['1', '2', '3']);
      for (const v of ['1', '2', '3']) {
        expect(res.ours[v]![0]).toBe(res.gdal[v]![0]); // one feature per connected region, like GDAL
        // Rounding to 1e-7° moves vertices by up to ~5 mm: on this very ragged raster (~2.5 edges of 10 m per pixel)
        // that is ~1e-5 of the area; with 11 decimals only the reprojection round trip remains.
        expect(Math.abs(res.ours[v]![1] - res.gdal[v]![1]) / res.gdal[v]![1]).toBeLessThan(tol);
        // area_ha from pixel counts: 100 m² per pixel, counted by hand here.
        const pixels = classes.filter((c) => c === Number(v)).length;
        const ha = fc.features.filter((f) => f.properties.class_value === Number(v)).reduce((a, f) => a + f.properties.area_ha, 0);
        expect(ha).toBeCloseTo(pixels * 100 / 1e4, 6);
        expect(Math.abs(res.gdal[v]![1] - pixels * 100)).toBeLessThan(1e-3);
      }
      expect(res.ours_invalid).toBe(0); // OGC-valid (GEOS IsValid) ...
      if (connectivity === 8) expect(res.gdal_invalid).toBeGreaterThan(0); // ... unlike GDAL's self-touching rings
      // RFC 7946 right-hand rule in lon/lat.
      for (const f of fc.features) {
        const polys = f.geometry.coordinates;
        for (const [outer, ...holes] of polys) {
          expect(signedArea(outer!)).toBeGreaterThan(0);
          for (const hole of holes) expect(signedArea(hole)).toBeLessThan(0);
        }
      }
    });
  }

  it('ogrinfo opens the written file; features, properties and the dropped-feature count are right', async () => {
    const fc = changePolygonsToGeoJSON(classes, grid, { classNames: names, maxFeatures: 5 });
    const file = path.join(dir, 'capped.geojson');
    await writeGeoJSON(file, fc);
    const info = execFileSync('ogrinfo', ['-ro', '-al', '-so', file], { encoding: 'utf8' });
    expect(info).toMatch(/Feature Count: 5/);
    expect(info).toMatch(/Geometry: Multi Polygon\n/); // one geometry type, not "Unknown (any)"
    expect(fc.features.every((f) => f.geometry.type === 'MultiPolygon')).toBe(true);
    const back = JSON.parse(readFileSync(file, 'utf8'));
    expect(back).toEqual(JSON.parse(JSON.stringify(fc)));
    const all = changePolygonsToGeoJSON(classes, grid, { classNames: names });
    expect(fc.s2change.regions).toBe(all.features.length);
    expect(fc.s2change.dropped_features).toBe(all.features.length - 5);
    const sizes = all.features.map((f) => f.properties.pixels).sort((a, b) => b - a);
    expect(fc.features.map((f) => f.properties.pixels).sort((a, b) => b - a)).toEqual(sizes.slice(0, 5));
    expect(fc.s2change.dropped_pixels).toBe(sizes.slice(5).reduce((a, b) => a + b, 0));
    expect(fc.s2change.total_area_ha).toBeCloseTo(all.features.reduce((a, f) => a + f.properties.area_ha, 0), 6);
    expect(fc.features[0]!.properties.class).toBe(names[fc.features[0]!.properties.class_value as 1 | 2 | 3]);
    const empty = path.join(dir, 'empty.geojson');
    await writeGeoJSON(empty, changePolygonsToGeoJSON(new Uint8Array(grid.width * grid.height), grid, { classNames: names }));
    expect(JSON.parse(readFileSync(empty, 'utf8')).features).toEqual([]);
    expect(execFileSync('ogrinfo', ['-ro', '-al', '-so', empty], { encoding: 'utf8' })).toMatch(/Feature Count: 0/);
  });

  it('passes EPSG:4326 coordinates through, counter-clockwise, with ellipsoidal area', () => {
    const g: Grid = { crs: { epsg: 4326 }, transform: [10, 0.001, 0, 50, 0, -0.001], width: 2, height: 1 };
    const fc = changePolygonsToGeoJSON(Uint8Array.from([1, 0]), g, { classNames: { 1: 'change' } });
    expect(fc.features[0]!.geometry).toEqual({ type: 'MultiPolygon', coordinates: [[[[10, 50], [10, 49.999], [10.001, 49.999], [10.001, 50], [10, 50]]]] });
    // 0.001° x 0.001° at 50°N: ~111.2 m (lat) x ~71.7 m (lon) ≈ 0.797 ha.
    expect(fc.features[0]!.properties.area_ha).toBeGreaterThan(0.79);
    expect(fc.features[0]!.properties.area_ha).toBeLessThan(0.80);
  });

  it('--min-area: regions of one class smaller than the unit are left out and counted (ogrinfo agrees)', async () => {
    // 10 m pixels (100 m²): a 3-pixel region of class 1 touching a 6-pixel region of class 2 (a 9-pixel patch,
    // which the class map's filter keeps as a whole), and a lone 5-pixel region of class 1.
    const g: Grid = { crs: { epsg: 32629 }, transform: [500000, 10, 0, 4200000, 0, -10], width: 10, height: 2 };
    const cls = Uint8Array.from([1, 1, 1, 2, 2, 2, 0, 1, 1, 1,
      0, 0, 0, 2, 2, 2, 0, 1, 1, 0]);
    const fc = changePolygonsToGeoJSON(cls, g, { classNames: { 1: 'a', 2: 'b' }, minAreaM2: 500 });
    expect(fc.features.map((f) => [f.properties.class_value, f.properties.pixels]).sort()).toEqual([[1, 5], [2, 6]]);
    expect(fc.s2change).toMatchObject({ min_area_ha: 0.05, below_min_area_features: 1, below_min_area_ha: 0.03, total_area_ha: 0.14 });
    const file = path.join(dir, 'mmu.geojson');
    await writeGeoJSON(file, fc);
    const info = execFileSync('ogrinfo', ['-ro', '-al', '-so', file], { encoding: 'utf8' });
    expect(info).toMatch(/Feature Count: 2\n/);
    expect(info).toMatch(/Geometry: Multi Polygon\n/);
  });

  it('keeps the right-hand rule for a south-up grid (positive pixel height)', () => {
    const g: Grid = { crs: { epsg: 4326 }, transform: [10, 0.001, 0, 50, 0, 0.001], width: 1, height: 1 };
    const ring = changePolygonsToGeoJSON(Uint8Array.from([2]), g, { classNames: {} }).features[0]!.geometry.coordinates[0]![0]!;
    expect(signedArea(ring)).toBeGreaterThan(0);
  });
});

async function rawPixels(png: Buffer): Promise<{ data: Buffer; width: number; height: number; channels: number }> {
  const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height, channels: info.channels };
}

describe('quicklooks', () => {
  it('joint 2-98 % stretch maps p2 to 0 and p98 to 255 (hand-computed)', async () => {
    // 17 pixels x 3 bands = 51 pooled values 0.00..0.50; numpy-linear p2 = value #1 = 0.01, p98 = value #49 = 0.49.
    const red = Float32Array.from({ length: 17 }, (_, k) => k / 100);
    const green = Float32Array.from({ length: 17 }, (_, k) => (17 + k) / 100);
    const blue = Float32Array.from({ length: 17 }, (_, k) => (34 + k) / 100);
    const [lo, hi] = stretchRange([red, green, blue]);
    expect(lo).toBeCloseTo(0.01, 6);
    expect(hi).toBeCloseTo(0.49, 6);
    const png = await trueColourPng(red, green, blue, 17, 1);
    const px = await rawPixels(png);
    expect([px.width, px.height, px.channels]).toEqual([17, 1, 4]);
    const at = (k: number): number[] => [...px.data.subarray(4 * k, 4 * k + 4)];
    expect(at(0)).toEqual([0, 85, 175, 255]); // r 0 clamps; g (0.17-0.01)/0.48*255 = 85; b 0.33/0.48*255 = 175.3
    expect(at(1)).toEqual([0, 90, 181, 255]); // g 0.17/0.48*255 = 90.3; b 0.34/0.48*255 = 180.6
    expect(at(16)).toEqual([80, 170, 255, 255]); // r 0.15/0.48*255 = 79.7; g (0.33-0.01)/0.48*255 = 170; b 0.50 clamps
  });

  it('a fixed range, gamma and NaN -> transparent', async () => {
    const b = Float32Array.from([0, 0.1, 0.2, NaN]);
    const px = await rawPixels(await trueColourPng(b, b, b, 4, 1, { range: [0, 0.2], gamma: 2 }));
    // 0.1 -> t = 0.5 -> 0.5^(1/2) * 255 = 180.3
    expect([...px.data]).toEqual([0, 0, 0, 255, 180, 180, 180, 255, 255, 255, 255, 255, 0, 0, 0, 0]);
  });

  it('downsamples to maxSize with a NaN-aware block mean', async () => {
    expect(quicklookSize(10980, 10980)).toEqual({ width: 1830, height: 1830, factor: 6 });
    const big = new Float32Array(5000 * 10).fill(0.1);
    const meta = await sharp(await trueColourPng(big, big, big, 5000, 10, { maxSize: 2048 })).metadata();
    expect([meta.width, meta.height, meta.format]).toEqual([1667, 4, 'png']);
    // 4x2 -> 2x1 blocks of 2x2: block 0 = mean(0, 0.2, NaN, 0.1) = 0.1; block 1 all NaN -> transparent.
    const v = Float32Array.from([0, 0.2, NaN, NaN, NaN, 0.1, NaN, NaN]);
    const px = await rawPixels(await trueColourPng(v, v, v, 4, 2, { maxSize: 2, range: [0, 0.2] }));
    expect([px.width, px.height]).toEqual([2, 1]);
    expect([...px.data]).toEqual([128, 128, 128, 255, 0, 0, 0, 0]);
  });

  it('class overlay: palette colours, nearest neighbour when reduced, transparent no-change', async () => {
    // 6x6 -> factor 3 -> 2x2; each block's centre pixel is (1,1), (4,1), (1,4), (4,4).
    const c = new Uint8Array(36).fill(3);
    c[1 * 6 + 1] = 1; c[1 * 6 + 4] = 2; c[4 * 6 + 1] = 0; c[4 * 6 + 4] = 255;
    const px = await rawPixels(await classOverlayPng(c, 6, 6, FLOOD_PALETTE, { maxSize: 2 }));
    expect([px.width, px.height]).toEqual([2, 2]);
    expect([...px.data]).toEqual([0, 112, 255, 255, 230, 152, 0, 255, 0, 0, 0, 0, 0, 0, 0, 0]);
    // Over a grey background at 50 %: (0,112,255)*0.5 + (100,100,100)*0.5.
    const grey = await sharp({ create: { width: 2, height: 2, channels: 4, background: { r: 100, g: 100, b: 100, alpha: 1 } } }).png().toBuffer();
    const over = await rawPixels(await classOverlayPng(c, 6, 6, FLOOD_PALETTE, { maxSize: 2, background: grey, alpha: 0.5, showNodata: true }));
    expect([...over.data.subarray(0, 4)]).toEqual([50, 106, 178, 255]);
    expect([...over.data.subarray(8, 12)]).toEqual([100, 100, 100, 255]); // no change: background
    expect([...over.data.subarray(12, 16)]).toEqual([114, 114, 114, 255]); // nodata grey 128 at 50 %
  });

  it('index picture: min -> first colour, max -> last, exact stops in between, NaN transparent or grey', async () => {
    const v = Float32Array.from([-1, 0, 85, 255, 300, NaN]);
    const px = await rawPixels(await indexPng(v, 6, 1, { min: 0, max: 255, colormap: 'dnbr' }));
    const at = (k: number): number[] => [...px.data.subarray(4 * k, 4 * k + 4)];
    expect(at(0)).toEqual([0x7a, 0x87, 0x37, 255]);
    expect(at(1)).toEqual([0x7a, 0x87, 0x37, 255]);
    expect(at(2)).toEqual([0x0a, 0xe0, 0x42, 255]); // 85/255 * 6 = stop 2, unburned green
    expect(at(3)).toEqual([0xa4, 0x1f, 0xd6, 255]);
    expect(at(4)).toEqual([0xa4, 0x1f, 0xd6, 255]);
    expect(at(5)).toEqual([0, 0, 0, 0]);
    const grey = await rawPixels(await indexPng(v, 6, 1, { min: 0, max: 255, colormap: 'blues', nodata: 'grey' }));
    expect([...grey.data.subarray(20, 24)]).toEqual([128, 128, 128, 255]);
    expect([...grey.data.subarray(0, 4)]).toEqual([0xf7, 0xfb, 0xff, 255]);
    await expect(indexPng(v, 6, 1, { min: 1, max: 1, colormap: 'rdylgn' })).rejects.toThrow(/greater than min/);
  });
});

describe('palette', () => {
  it('uses the UN-SPIDER dNBR severity colours and writes a TIFF ColorMap', () => {
    expect([WILDFIRE_PALETTE.noChange, ...WILDFIRE_PALETTE.classes].map((c) => rgbHex(c.colour))).toEqual(
      ['#0ae042', '#fff70b', '#ffaf38', '#ff641b', '#a41fd6', '#acbe4d', '#7a8737']);
    const map = tiffColorMap(FLOOD_PALETTE);
    expect([map[1], map[256 + 1], map[512 + 1]]).toEqual([0, 112 * 257, 65535]);
    expect([map[255], map[256 + 255], map[512 + 255]]).toEqual([128 * 257, 128 * 257, 128 * 257]);
    const p = paletteForClasses('flood', [{ value: 0, name: 'dry' }, { value: 1, name: 'flooded' }, { value: 9, name: 'odd' }]);
    expect(p.classes.map((c) => [c.value, c.name])).toEqual([[1, 'flooded'], [9, 'odd']]);
    expect(p.classes[0]!.colour).toEqual([0, 112, 255]);
    expect(p.noChange.name).toBe('dry');
  });
});

describe('renderReport', () => {
  const evil = '<script>alert("x")</script>';
  const png = Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex');
  const model: ReportModel = {
    title: `Flood ${evil}`,
    inputs: [
      { role: 'before', name: `before${evil}.tif`, date: '2024-01-02', provenance: 'S2B_MSIL2A <b>bold</b>' },
      { role: 'after', name: 'after.tif', date: '2024-01-12' },
    ],
    preset: 'flood', method: 'otsu', formula: 'MNDWI = (B3 - B11) / (B3 + B11)', explanation: 'Water where MNDWI > t & after.',
    thresholds: [{ name: 'water (MNDWI)', value: 0.0123456789, source: 'Otsu (1979) on the valid pixels' }],
    classes: [
      { value: 1, name: `new ${evil}`, colour: [0, 112, 255], pixels: 12345, hectares: 123.456, percent: 1.2345 },
      { value: 2, name: 'receded water', colour: 'red;background:url(http://x)', pixels: 7, hectares: 0.07, percent: 0.0007 },
    ],
    images: [{ title: 'Change', caption: `cap ${evil}`, png, legend: { colormap: 'blues', min: -1, max: 1, label: 'MNDWI' } }],
    warnings: [`Cloud ${evil}`], validPixels: 750, maskedPixels: 250, generatedAt: new Date('2024-02-03T04:05:06Z'), toolVersion: '0.1.0',
    details: ['Minimum mapping unit: 0.5 ha'],
  };
  const html = renderReport(model);

  it('escapes every input string and contains no script or external request', () => {
    expect(html).not.toMatch(/<script/i);
    expect(html).toContain(escapeHtml(evil));
    expect(escapeHtml(evil)).toBe('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;');
    expect(html).toContain('S2B_MSIL2A &lt;b&gt;bold&lt;/b&gt;');
    expect(html).toContain('MNDWI &gt; t &amp; after.');
    expect(html).not.toMatch(/https?:\/\//);
    expect(html).not.toMatch(/\b(href|src)="(?!data:)/);
  });

  it('links outputs by plain encoded file names only (no scheme, no path), escaped', () => {
    const page = renderReport({ ...model, outputs: [{ name: 'change.tif', what: 'map' }, { name: `../x"><script>y.tif`, what: evil }] });
    const hrefs = [...page.matchAll(/href="([^"]*)"/g)].map((m) => m[1]);
    expect(hrefs).toEqual(['change.tif', '..%2Fx%22%3E%3Cscript%3Ey.tif']);
    expect(page).not.toMatch(/<script/i);
  });

  it('embeds the images as base64 PNG data URIs', () => {
    const m = html.match(/src="data:image\/png;base64,([A-Za-z0-9+/=]+)"/);
    expect(m).not.toBeNull();
    expect(Buffer.from(m![1]!, 'base64').equals(png)).toBe(true);
    expect(html).toContain('linear-gradient(to right,#f7fbff');
  });

  it('written in pieces: the same page, and pictures larger than a base64 piece decode to their bytes', () => {
    expect([...renderReportParts(model)].join('')).toBe(html);
    // 7.5 MB of bytes: three pieces of 3 MiB raw, each a whole number of base64 quanta.
    const big = Buffer.alloc(7_500_001);
    for (let i = 0; i < big.length; i++) big[i] = (i * 2654435761) >>> 24;
    const page = [...renderReportParts({ ...model, images: [model.images[0]!, { title: 'Big', png: big }] })];
    const text = page.join('');
    const uris = [...text.matchAll(/src="data:image\/png;base64,([A-Za-z0-9+/=]+)"/g)].map((m) => Buffer.from(m[1]!, 'base64'));
    expect(uris.length).toBe(2);
    expect(uris[0]!.equals(png)).toBe(true);
    expect(uris[1]!.equals(big)).toBe(true);
    expect(Math.max(...page.map((p) => p.length))).toBeLessThan(4.3e6); // no piece holds the whole picture
  });

  it('shows the area table, valid/masked shares, thresholds and dates', () => {
    expect(html).toMatch(/<td class="num">12,345<\/td><td class="num">123\.46<\/td><td class="num">1\.23<\/td>/);
    expect(html).toContain('background:#0070ff');
    expect(html).toContain('background:#808080'); // invalid colour string refused
    expect(html).toContain('750 (75.00 %)');
    expect(html).toContain('250 (25.00 %)');
    expect(html).toContain('0.0123457');
    expect(html).toContain('Otsu (1979) on the valid pixels');
    expect(html).toContain('2024-01-12');
    expect(html).toContain('2024-02-03T04:05:06.000Z');
    expect(html).toContain('Minimum mapping unit: 0.5 ha');
  });
});
