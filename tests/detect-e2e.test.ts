/**
 * `s2change detect` end to end on the real sample data, through the compiled CLI (npm test builds first),
 * with GDAL/numpy as the independent oracle and the datasets' own labels as truth.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync, copyFileSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { dataDir, gdalinfoJson, GDAL_SKIP_REASON, hasGdal, pythonJson, run } from './helpers/gdal.js';

const CLI = path.resolve('dist/cli/main.js');
const DATA = dataDir();
const tmp = mkdtempSync(path.join(os.tmpdir(), 's2change-e2e-'));
const OSCD = path.join(DATA, 'oscd', 'Onera Satellite Change Detection dataset - Images');
const FIRE = path.join(DATA, 'wildfire-calfire-s2', 'data');
const OMBRIA = path.join(DATA, 'ombria-flood', '2021', 'ALBANIA', 'Sentinel2');

function cli(args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

function detectJson(args: string[]): any {
  const r = cli(['detect', ...args, '--json']);
  if (r.code !== 0) throw new Error(`detect failed (${r.code}): ${r.stderr}`);
  return JSON.parse(r.stdout);
}

const ready = existsSync(CLI) && existsSync(DATA);

describe.skipIf(!ready)('detect on real samples', () => {
  beforeAll(() => {
    expect(existsSync(CLI), 'run `npm run build` first').toBe(true);
  });

  describe.skipIf(!hasGdal())(`wildfire (CAL FIRE INCIDENT) — ${GDAL_SKIP_REASON}`, () => {
    const out = path.join(tmp, 'incident');
    let summary: any;
    beforeAll(() => {
      summary = detectJson(['--before', `${FIRE}/pre_fire/5_INCIDENT_20240715.tif`, '--after', `${FIRE}/post_fire/5_INCIDENT_20240715.tif`,
        '--preset', 'wildfire', '--out', out]);
    });

    it('writes every output and lists it with its SHA-256', () => {
      for (const f of ['change.tif', 'dnbr.tif', 'change.geojson', 'before.png', 'after.png', 'change.png', 'report.html', 'summary.json']) {
        expect(existsSync(path.join(out, f)), f).toBe(true);
      }
      const names = summary.outputs.map((o: any) => o.name);
      expect(names).toEqual(expect.arrayContaining(['change.tif', 'dnbr.tif', 'report.html']));
      expect(readdirSync(out).some((n) => n.startsWith('.s2change-tmp'))).toBe(false);
      expect(cli(['verify', out]).code).toBe(0);
    });

    it('dNBR equals a numpy computation from the inputs to 1e-6', () => {
      const r = pythonJson(`
import sys, json, numpy as np
from osgeo import gdal
pre = gdal.Open(sys.argv[1]).ReadAsArray().astype(np.float64) / 10000
post = gdal.Open(sys.argv[2]).ReadAsArray().astype(np.float64) / 10000
nbr = lambda a: (a[3] - a[4]) / (a[3] + a[4])
ref = nbr(pre) - nbr(post)
ours = gdal.Open(sys.argv[3]).ReadAsArray().astype(np.float64)
both = np.isfinite(ref) & np.isfinite(ours)
print(json.dumps({"maxdiff": float(np.max(np.abs(ref[both] - ours[both]))), "n": int(both.sum()),
  "nanMismatch": int((np.isfinite(ref) != np.isfinite(ours)).sum())}))
`, [`${FIRE}/pre_fire/5_INCIDENT_20240715.tif`, `${FIRE}/post_fire/5_INCIDENT_20240715.tif`, path.join(out, 'dnbr.tif')]);
      expect(r.n).toBeGreaterThan(20000);
      expect(r.maxdiff).toBeLessThan(1e-6);
      expect(r.nanMismatch).toBe(0);
    });

    it('change.tif is a tiled DEFLATE GeoTIFF on the input grid that GDAL reads with the right CRS and nodata', () => {
      const info = gdalinfoJson(path.join(out, 'change.tif'));
      const src = gdalinfoJson(`${FIRE}/pre_fire/5_INCIDENT_20240715.tif`);
      expect(info.size).toEqual(src.size);
      info.geoTransform.forEach((v: number, i: number) => expect(v).toBeCloseTo(src.geoTransform[i], 12));
      expect(info.coordinateSystem.wkt).toMatch(/WGS 84/);
      expect(JSON.stringify(info.stac?.['proj:epsg'] ?? info.coordinateSystem)).toMatch(/4326/);
      expect(info.bands[0].type).toBe('Byte');
      expect(info.bands[0].noDataValue).toBe(255);
      expect(info.metadata?.IMAGE_STRUCTURE?.COMPRESSION).toBe('DEFLATE');
      expect(info.bands[0].block[0]).toBeLessThan(info.size[0] + 512);
      const dn = gdalinfoJson(path.join(out, 'dnbr.tif'));
      expect(dn.bands[0].type).toBe('Float32');
      expect(String(dn.bands[0].noDataValue)).toBe('NaN');
    });

    it('finds most of the CAL FIRE perimeter (burned = severity classes 1–4)', () => {
      const r = pythonJson(`
import sys, json, numpy as np
from osgeo import gdal
c = gdal.Open(sys.argv[1]).ReadAsArray(); m = gdal.Open(sys.argv[2]).ReadAsArray()
burned = (c >= 1) & (c <= 4)
print(json.dumps({"recall": float((burned & (m == 1)).sum() / (m == 1).sum()), "falseRate": float((burned & (m == 0)).sum() / (m == 0).sum())}))
`, [path.join(out, 'change.tif'), `${FIRE}/masks/5_INCIDENT_20240715.tif`]);
      expect(r.recall).toBeGreaterThan(0.8);
      expect(r.falseRate).toBeLessThan(0.05);
    });

    it('polygons: ogrinfo reads them and their hectares add up to the class areas', () => {
      const txt = run('ogrinfo', ['-so', '-al', path.join(out, 'change.geojson')]);
      expect(txt).toMatch(/Feature Count: [1-9]/);
      const fc = JSON.parse(readFileSync(path.join(out, 'change.geojson'), 'utf8'));
      const burnedHa = summary.areas.filter((a: any) => a.value >= 1 && a.value <= 4).reduce((s: number, a: any) => s + a.hectares, 0);
      const polyHa = fc.features.reduce((s: number, f: any) => s + f.properties.area_ha, 0);
      expect(Math.abs(polyHa - burnedHa) / burnedHa).toBeLessThan(1e-3);
      const [lon, lat] = fc.features[0].geometry.coordinates[0][0][0];
      expect(lon).toBeGreaterThan(-120); expect(lon).toBeLessThan(-119.5);
      expect(lat).toBeGreaterThan(35.6); expect(lat).toBeLessThan(35.9);
    });

    it('hectares are metric: the total area matches GDAL/numpy ellipsoidal cell areas', () => {
      const total = summary.areas.reduce((s: number, a: any) => s + a.hectares, 0) + 0;
      const r = pythonJson(`
import sys, json, math
from osgeo import gdal
ds = gdal.Open(sys.argv[1]); gt = ds.GetGeoTransform(); W, H = ds.RasterXSize, ds.RasterYSize
a = 6378137.0; f = 1/298.257223563; e2 = f*(2-f); e = math.sqrt(e2); b2 = (a*(1-f))**2
def q(lat):
  s = math.sin(math.radians(lat)); return s/(1-e2*s*s) + (1/(2*e))*math.log((1+e*s)/(1-e*s))
tot = 0.0
for r in range(H):
  lat0 = gt[3] + r*gt[5]; lat1 = lat0 + gt[5]
  tot += abs(b2/2*(q(lat1)-q(lat0))) * math.radians(abs(gt[1])) * W
print(json.dumps({"ha": tot/1e4}))
`, [`${FIRE}/pre_fire/5_INCIDENT_20240715.tif`]);
      const valid = summary.pixels.valid / summary.pixels.total;
      expect(Math.abs(total - r.ha * valid) / r.ha).toBeLessThan(0.01);
    });
  });

  it('flood (OMBRIA Albania): more new water inside the EMS flood mask than outside', () => {
    const out = path.join(tmp, 'albania');
    const s = detectJson(['--before', `${OMBRIA}/BEFORE/imbefore_10.png`, '--after', `${OMBRIA}/AFTER/imafter_10.png`,
      '--bands', 'B11,B08,B03', '--preset', 'flood', '--out', out]);
    expect(s.grid.georeferenced).toBe(false);
    expect(s.warnings.join(' ')).toMatch(/not reflectance/);
    expect(existsSync(path.join(out, 'change.geojson'))).toBe(false);
    const r = cli(['eval', '--pred', out, '--truth', `${OMBRIA}/MASK/gt_10.png`, '--truth-change', '255', '--truth-nochange', '0', '--json']);
    expect(r.code).toBe(0);
    const ev = JSON.parse(r.stdout);
    const { tp, fp, fn, tn } = ev.confusion;
    expect(tp / (tp + fn)).toBeGreaterThan(3 * (fp / (fp + tn))); // share of flood pixels found ≫ share of dry pixels flagged
    expect(ev.scores.f1).toBeGreaterThan(0.6);
  });

  it('water (Sen1Floods11 Spain, single date) agrees with the hand label', () => {
    const out = path.join(tmp, 'spain');
    detectJson(['--after', path.join(DATA, 'sen1floods11-sample/sample/S2/Spain_7370579_S2Hand.tif'), '--preset', 'water', '--out', out]);
    const r = cli(['eval', '--pred', out, '--truth', path.join(DATA, 'sen1floods11-sample/sample/Labels/Spain_7370579_LabelHand.tif'),
      '--truth-change', '1', '--truth-nochange', '0', '--truth-ignore', '-1', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).scores.f1).toBeGreaterThan(0.75);
  });

  it('urban (OSCD Abu Dhabi): dates on different grids are resampled onto the first date\'s 10 m grid', () => {
    const out = path.join(tmp, 'abudhabi');
    const s = detectJson(['--before', `${OSCD}/abudhabi/imgs_1`, '--after', `${OSCD}/abudhabi/imgs_2`, '--preset', 'urban', '--out', out]);
    const b02 = readdirSync(`${OSCD}/abudhabi/imgs_1`).find((n) => /B02\.tif$/.test(n))!;
    const ref = gdalinfoJson(`${OSCD}/abudhabi/imgs_1/${b02}`);
    // The overlap is clipped to what imgs_2 covers (it is 3–4 px smaller), on imgs_1's pixel lattice.
    expect(s.grid.width).toBeLessThanOrEqual(ref.size[0]);
    expect(s.grid.width).toBeGreaterThan(ref.size[0] - 10);
    expect(s.grid.transform[1]).toBeCloseTo(ref.geoTransform[1], 12);
    expect(s.pixels.validPercent).toBeGreaterThan(95);
  });

  it('generic (sen2r Barbellino) masks clouds and shadows from SCL', () => {
    const dir = path.join(DATA, 'sen2r-barbellino/inst/extdata/out');
    const s = detectJson(['--before', `${dir}/S2A2A_20170703_022_Barbellino_BOA_10.tif`, '--after', `${dir}/S2A2A_20190723_022_Barbellino_BOA_10.tif`,
      '--before-scl', `${dir}/S2A2A_20170703_022_Barbellino_SCL_10.tif`, '--after-scl', `${dir}/S2A2A_20190723_022_Barbellino_SCL_10.tif`,
      '--bands', 'B1,B2,B3,B4,B5,B6,B7,B8,B9,B11,B12', '--preset', 'generic', '--out', path.join(tmp, 'barbellino')]);
    expect(s.pixels.maskedCloudShadowSnow).toBeGreaterThan(0);
    expect(s.pixels.valid + s.pixels.masked).toBe(s.pixels.total);
  });
});

const R29 = path.join(DATA, 's2-l2a-cog-29RKH/tests/fixtures/sentinel-cogs/sentinel-s2-l2a-cogs/29/R/KH/2020/2/S2A_29RKH_20200219_0_L2A');

describe.skipIf(!ready || !existsSync(R29))('detect on the 29RKH L2A COG tile', () => {
  it('a local STAC item with relative hrefs is read through its assets, with the baseline from the item', () => {
    const dir = path.join(tmp, 'stac-local');
    mkdirSync(dir, { recursive: true });
    const item = JSON.parse(readFileSync(path.join(R29, 'S2A_29RKH_20200219_0_L2A.json'), 'utf8'));
    const keep: Record<string, string> = { B04: 'red', B08: 'nir', SCL: 'scl' };
    const assets: Record<string, unknown> = {};
    for (const [file, key] of Object.entries(keep)) {
      copyFileSync(path.join(R29, `${file}.tif`), path.join(dir, `${file}.tif`));
      const old = item.assets[key] ?? item.assets[file] ?? {};
      assets[key] = { ...old, href: `./${file}.tif` };
    }
    item.assets = assets;
    item.links = [];
    writeFileSync(path.join(dir, 'item.json'), JSON.stringify(item));
    const s = detectJson(['--before', path.join(dir, 'item.json'), '--after', path.join(dir, 'item.json'), '--preset', 'vegetation',
      '--out', path.join(tmp, 'stac-local-out')]);
    expect(s.inputs[0].format).toBe('stac-item');
    expect(s.inputs[0].radiometry.B04).toMatch(/02\.14|offset 0|baseline/i);
    expect(s.grid.crs).toBe('EPSG:32629');
    expect(s.areas.find((a: any) => a.value !== 0 && a.pixels > 0)).toBeUndefined(); // a scene against itself
    expect(s.pixels.maskedCloudShadowSnow).toBeGreaterThan(0); // SCL cirrus/cloud in this tile
  });

  it('--bbox clips to the AOI on the 10 m (here 100 m) grid', () => {
    // AOI in WGS84 inside the tile (lon −11.98…−10.87, lat 24.30…25.30)
    const s = detectJson(['--before', R29, '--after', R29, '--preset', 'vegetation', '--bbox', '-11.6,24.6,-11.4,24.8', '--out', path.join(tmp, 'bbox')]);
    const r = pythonJson(`
import sys, json
from osgeo import osr
src = osr.SpatialReference(); src.ImportFromEPSG(4326); src.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
dst = osr.SpatialReference(); dst.ImportFromEPSG(32629)
t = osr.CoordinateTransformation(src, dst)
b = t.TransformBounds(-11.6, 24.6, -11.4, 24.8, 21)
print(json.dumps(list(b)))
`);
    const [minX, , maxX, maxY] = r;
    const x0 = Math.floor((minX - 199980) / 100);
    const x1 = Math.ceil((maxX - 199980) / 100);
    const y0 = Math.floor((2800020 - maxY) / 100);
    expect(s.grid.width).toBe(x1 - x0);
    expect(s.grid.transform[0]).toBe(199980 + 100 * x0);
    expect(s.grid.transform[3]).toBe(2800020 - 100 * y0);
  });

  it.skipIf(!hasGdal())('an after scene in another UTM zone is warped onto the before grid (gdalwarp copy: almost no change)', () => {
    const dir = path.join(tmp, 'utm28');
    mkdirSync(dir, { recursive: true });
    for (const b of ['B04', 'B08']) {
      run('gdalwarp', ['-q', '-t_srs', 'EPSG:32628', '-tr', '100', '100', '-r', 'bilinear', '-srcnodata', '0', '-dstnodata', '0',
        path.join(R29, `${b}.tif`), path.join(dir, `${b}.tif`)]);
    }
    const s = detectJson(['--before', R29, '--after', dir, '--preset', 'vegetation', '--out', path.join(tmp, 'utm-out')]);
    expect(s.grid.crs).toBe('EPSG:32629');
    // The warped copy is a rotated square inside its own extent: its nodata corners are masked.
    expect(s.pixels.validPercent).toBeGreaterThan(90);
    const changed = s.areas.filter((a: any) => a.value !== 0).reduce((n: number, a: any) => n + a.pixels, 0);
    expect(changed / s.pixels.valid).toBeLessThan(0.001);
  });
});

describe.skipIf(!ready || !hasGdal())('--no-index', () => {
  it('writes no float product, the same change.tif as a run with it, and says so in the report', () => {
    const args = ['--before', `${FIRE}/pre_fire/5_INCIDENT_20240715.tif`, '--after', `${FIRE}/post_fire/5_INCIDENT_20240715.tif`, '--preset', 'wildfire'];
    const withIndex = path.join(tmp, 'with-index');
    const without = path.join(tmp, 'no-index');
    detectJson([...args, '--out', withIndex]);
    const s = detectJson([...args, '--out', without, '--no-index']);
    expect(existsSync(path.join(withIndex, 'dnbr.tif'))).toBe(true);
    expect(readdirSync(without)).not.toContain('dnbr.tif');
    expect(s.outputs.map((o: any) => o.name ?? o.path)).not.toContain('dnbr.tif');
    // change.tif pixels equal (numpy), the report still draws dNBR but names no file.
    const same = pythonJson(`
import sys, json, numpy as np
from osgeo import gdal
print(json.dumps(bool(np.array_equal(gdal.Open(sys.argv[1]).ReadAsArray(), gdal.Open(sys.argv[2]).ReadAsArray()))))`,
      [path.join(withIndex, 'change.tif'), path.join(without, 'change.tif')]);
    expect(same).toBe(true);
    const html = readFileSync(path.join(without, 'report.html'), 'utf8');
    expect(html).toContain('dnbr (not written: --no-index)');
    expect(html).not.toContain('dnbr.tif');
  });
});

describe.skipIf(!ready)('minimum mapping unit', () => {
  it('--min-area removes small patches; the polygons follow the filtered map', () => {
    const out = path.join(tmp, 'mmu');
    const s = detectJson(['--before', `${FIRE}/pre_fire/5_INCIDENT_20240715.tif`, '--after', `${FIRE}/post_fire/5_INCIDENT_20240715.tif`,
      '--preset', 'wildfire', '--min-area', '1', '--out', out]);
    expect(s.minMappingUnit.pixelsRemoved).toBeGreaterThan(0);
    // Polygons are per class, so a severity island inside a kept scar may be smaller than 1 ha (the patch, its
    // group's touching polygons together, is what reaches it); per class they still add up to the filtered map.
    const fc = JSON.parse(readFileSync(path.join(out, 'change.geojson'), 'utf8'));
    for (const a of s.areas.filter((x: any) => x.value !== 0 && x.pixels > 0)) {
      const polys = fc.features.filter((f: any) => f.properties.class_value === a.value);
      expect(polys.reduce((t: number, f: any) => t + f.properties.pixels, 0), a.name).toBe(a.pixels);
    }
  });

  it.skipIf(!hasGdal())('INCIDENT, --min-area 0.5: patches are the union of the burn severities (scipy + OSR areas as the oracle)', () => {
    const pre = `${FIRE}/pre_fire/5_INCIDENT_20240715.tif`;
    const post = `${FIRE}/post_fire/5_INCIDENT_20240715.tif`;
    const raw = path.join(tmp, 'mmu-raw');
    const filtered = path.join(tmp, 'mmu-half');
    const s0 = detectJson(['--before', pre, '--after', post, '--preset', 'wildfire', '--out', raw]);
    const s1 = detectJson(['--before', pre, '--after', post, '--preset', 'wildfire', '--min-area', '0.5', '--out', filtered]);
    const high = (s: any) => s.areas.find((a: any) => a.value === 4);
    // The bug this guards against: per-class patches turned 70 high-severity pixels inside the scar into "unburned".
    expect(high(s0).pixels).toBe(105);
    expect(high(s1).pixels).toBe(high(s0).pixels);
    // Oracle: scipy labels the unfiltered map's patch groups (severities 1-4 together, regrowth 5-6 together),
    // 8-connected; each pixel's ground area is its corner polygon projected by OSR to a local equal-area CRS.
    const r = pythonJson(`
import sys, json, numpy as np
from osgeo import gdal, osr
from scipy import ndimage
ds = gdal.Open(sys.argv[1]); raw = ds.ReadAsArray(); got = gdal.Open(sys.argv[2]).ReadAsArray()
gt = ds.GetGeoTransform(); h, w = raw.shape
src = osr.SpatialReference(); src.ImportFromEPSG(4326); src.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
lon0 = gt[0] + gt[1] * w / 2; lat0 = gt[3] + gt[5] * h / 2
dst = osr.SpatialReference(); dst.SetLAEA(lat0, lon0, 0, 0); dst.SetWellKnownGeogCS('WGS84')
ct = osr.CoordinateTransformation(src, dst)
def area(row):
    pts = [ct.TransformPoint(gt[0] + gt[1] * c, gt[3] + gt[5] * r)[:2] for c, r in ((0, row), (1, row), (1, row + 1), (0, row + 1))]
    return abs(sum(pts[i][0] * pts[(i + 1) % 4][1] - pts[(i + 1) % 4][0] * pts[i][1] for i in range(4))) / 2
row_area = np.array([area(r) for r in range(h)])
expected = raw.copy(); removed = 0; near = 0
for group in ((1, 2, 3, 4), (5, 6)):
    lab, n = ndimage.label(np.isin(raw, group), structure=np.ones((3, 3)))
    for k in range(1, n + 1):
        rows = np.nonzero(lab == k)[0]
        a = row_area[rows].sum()
        if abs(a - 5000) < 5: near += 1
        if a < 5000:
            expected[lab == k] = 0; removed += len(rows)
print(json.dumps({"equal": bool(np.array_equal(expected, got)), "removed": int(removed), "near": near,
  "high": int((got == 4).sum())}))`, [path.join(raw, 'change.tif'), path.join(filtered, 'change.tif')]);
    expect(r.near).toBe(0); // no patch within 5 m² of the minimum: the oracle's areas decide as ours do
    expect(r.equal).toBe(true);
    expect(r.removed).toBe(s1.minMappingUnit.pixelsRemoved);
    expect(r.high).toBe(105);
  });
});

describe.skipIf(!ready)('bad input: typed errors, non-zero exit, nothing partial', () => {
  const fire = `${FIRE}/pre_fire/5_INCIDENT_20240715.tif`;
  const expectCleanFailure = (args: string[], code: number, pattern: RegExp, out: string) => {
    const r = cli(['detect', ...args, '--out', out]);
    expect(r.code, r.stderr).toBe(code);
    expect(r.stderr).toMatch(pattern);
    expect(existsSync(out) ? readdirSync(out) : []).toEqual([]);
  };

  it('unknown preset → exit 2', () => {
    expectCleanFailure(['--before', fire, '--after', fire, '--preset', 'volcano'], 2, /UNKNOWN_PRESET.*flood \| wildfire/, path.join(tmp, 'bad1'));
  });

  it('missing bands for the preset → MISSING_BAND naming what is there', () => {
    const d = path.join(tmp, 'two-bands');
    mkdirSync(d, { recursive: true });
    const src = readdirSync(`${OSCD}/bercy/imgs_1`);
    for (const b of ['B02', 'B03']) copyFileSync(`${OSCD}/bercy/imgs_1/${src.find((n) => n.endsWith(`${b}.tif`))}`, path.join(d, `${b}.tif`));
    expectCleanFailure(['--before', d, '--after', d, '--preset', 'wildfire'], 1, /MISSING_BAND.*B08\+B12.*found B02,B03/, path.join(tmp, 'bad2'));
  });

  it('scenes that do not overlap → NO_OVERLAP', () => {
    expectCleanFailure(['--before', `${OSCD}/bercy/imgs_1`, '--after', `${OSCD}/aguasclaras/imgs_2`, '--preset', 'urban'], 1, /NO_OVERLAP/, path.join(tmp, 'bad3'));
  });

  it('a file that is not a TIFF → NOT_A_TIFF naming what it looks like', () => {
    const f = path.join(tmp, 'fake.tif');
    writeFileSync(f, '<html><body>404</body></html>');
    expectCleanFailure(['--before', f, '--after', f, '--preset', 'wildfire', '--bands', 'B2'], 1, /NOT_A_TIFF.*HTML/i, path.join(tmp, 'bad4'));
  });

  it('--bands that does not match the band count → BAND_MAP_MISMATCH', () => {
    expectCleanFailure(['--before', fire, '--after', fire, '--preset', 'wildfire', '--bands', 'B2,B3,B4'], 1, /BAND_MAP_MISMATCH.*5 band names/, path.join(tmp, 'bad5'));
  });

  it('a run with nothing valid left (clouds grown over everything) says so: NOTHING_VALID', () => {
    const dir = path.join(DATA, 'sen2r-barbellino/inst/extdata/out');
    expectCleanFailure(['--before', `${dir}/S2A2A_20170703_022_Barbellino_BOA_10.tif`, '--after', `${dir}/S2A2A_20190723_022_Barbellino_BOA_10.tif`,
      '--before-scl', `${dir}/S2A2A_20170703_022_Barbellino_SCL_10.tif`, '--after-scl', `${dir}/S2A2A_20190723_022_Barbellino_SCL_10.tif`,
      '--bands', 'B1,B2,B3,B4,B5,B6,B7,B8,B9,B11,B12', '--preset', 'vegetation', '--cloud-buffer', '60'],
    1, /NOTHING_VALID.*cloud/, path.join(tmp, 'bad6'));
  });

  it('existing outputs are kept unless --overwrite', () => {
    const out = path.join(tmp, 'keep');
    const args = ['detect', '--before', fire, '--after', `${FIRE}/post_fire/5_INCIDENT_20240715.tif`, '--preset', 'wildfire', '--out', out];
    expect(cli(args).code).toBe(0);
    const before = readFileSync(path.join(out, 'summary.json'), 'utf8');
    const again = cli(args);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/OUTPUT_EXISTS.*--overwrite/);
    expect(readFileSync(path.join(out, 'summary.json'), 'utf8')).toBe(before);
    expect(cli([...args, '--overwrite']).code).toBe(0);
  });

  it('verify notices a changed output', () => {
    const out = path.join(tmp, 'keep');
    const f = path.join(out, 'change.png');
    const b = readFileSync(f); b[b.length - 5] ^= 0xff; writeFileSync(f, b);
    const r = cli(['verify', out]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/OUTPUT_INTEGRITY.*change\.png/);
  });
});
