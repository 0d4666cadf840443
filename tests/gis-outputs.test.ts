/**
 * GIS-ready outputs of a real run: change.tif.aux.xml read by GDAL (class names, counts against numpy), change.qml
 * against the COG's colour table, <index>.qml, change.geojson as one geometry type through ogrinfo with --min-area
 * applied, and all of them in the manifest that `verify` checks.
 */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runDetect, type RunDetectOptions } from '../src/pipeline/run-detect.js';
import { verifyOutputs } from '../src/io/output-dir.js';
import { classesQml, escapeXml, rasterAttributeTableXml } from '../src/report/gis-styles.js';
import { dataDir, GDAL_SKIP_REASON, gdalinfoJson, hasGdal, pythonJson, run } from './helpers/gdal.js';

describe('gis styles (pure)', () => {
  it('escapes names and makes class 0 transparent', () => {
    const classes = [{ value: 0, name: 'none', colour: [255, 255, 255] as const, transparent: true }, { value: 1, name: 'a<b & "c"', colour: [1, 2, 3] as const }];
    const qml = classesQml(classes);
    expect(qml).toContain('<paletteEntry value="0" color="#ffffff" alpha="0" label="none"/>');
    expect(qml).toContain('<paletteEntry value="1" color="#010203" alpha="255" label="a&lt;b &amp; &quot;c&quot;"/>');
    expect(rasterAttributeTableXml(classes)).toContain(`<F>${escapeXml('a<b & "c"')}</F>`);
  });
});

const DATA = dataDir();
const BARB = path.join(DATA, 'sen2r-barbellino', 'inst', 'extdata', 'out');
const FIRE = path.join(DATA, 'wildfire-calfire-s2', 'data');
const ready = existsSync(BARB) && existsSync(FIRE) && hasGdal();
const tmp = mkdtempSync(path.join(os.tmpdir(), 's2change-gis-'));

async function detect(name: string, opts: Omit<RunDetectOptions, 'out' | 'overwrite'> & { blockSize?: number }): Promise<string> {
  const out = path.join(tmp, name);
  await runDetect({ ...opts, out, overwrite: true, threads: 0, progress: false, decodeBudget: null } as RunDetectOptions);
  return out;
}

describe.skipIf(!ready)(`GIS-ready outputs of real runs — ${GDAL_SKIP_REASON}`, () => {
  let veg: string;
  let fireWhole: string;
  let fireBlocks: string;
  beforeAll(async () => {
    veg = await detect('veg', {
      before: `${BARB}/S2A2A_20170703_022_Barbellino_BOA_10.tif`, after: `${BARB}/S2A2A_20190723_022_Barbellino_BOA_10.tif`,
      beforeScl: `${BARB}/S2A2A_20170703_022_Barbellino_SCL_10.tif`, afterScl: `${BARB}/S2A2A_20190723_022_Barbellino_SCL_10.tif`,
      bands: 'B1,B2,B3,B4,B5,B6,B7,B8,B9,B11,B12'.split(','), preset: 'vegetation', minAreaHa: 0.03, engine: 'whole',
    });
    const fire = { before: `${FIRE}/pre_fire/5_INCIDENT_20240715.tif`, after: `${FIRE}/post_fire/5_INCIDENT_20240715.tif`, preset: 'wildfire', minAreaHa: 0.5 };
    fireWhole = await detect('fire-whole', { ...fire, engine: 'whole' });
    fireBlocks = await detect('fire-blocks', { ...fire, engine: 'blocks', blockSize: 64 });
  }, 120_000);

  it('gdalinfo shows the class names from change.tif.aux.xml; the RAT counts equal numpy\'s of change.tif', () => {
    for (const dir of [veg, fireWhole]) {
      const info = run('gdalinfo', [path.join(dir, 'change.tif')]);
      const summary = JSON.parse(readFileSync(path.join(dir, 'summary.json'), 'utf8'));
      for (const c of summary.classes) expect(info).toContain(`${c.value}: ${c.name}`);
      const r = pythonJson(`
import sys, json, numpy as np
from osgeo import gdal
ds = gdal.Open(sys.argv[1])
b = ds.GetRasterBand(1)
rat = b.GetDefaultRAT()
cols = [rat.GetNameOfCol(i) for i in range(rat.GetColumnCount())]
rows = [{c: rat.GetValueAsString(r, i) for i, c in enumerate(cols)} for r in range(rat.GetRowCount())]
counts = np.bincount(b.ReadAsArray().ravel(), minlength=256)
print(json.dumps({"cols": cols, "rows": rows, "counts": counts.tolist(), "categories": b.GetCategoryNames()}))
`, [path.join(dir, 'change.tif')]);
      expect(r.cols).toEqual(['Value', 'Class', 'Count', 'Hectares', 'Red', 'Green', 'Blue', 'Alpha']);
      for (const row of r.rows) expect(Number(row.Count)).toBe(r.counts[Number(row.Value)]);
      expect(r.rows.map((x: any) => x.Class)).toEqual([...summary.classes.map((c: any) => c.name), 'masked (cloud, shadow, snow or no data)']);
      expect(r.categories.slice(0, summary.classes.length)).toEqual(summary.classes.map((c: any) => c.name));
    }
  });

  it('change.qml: the COG colour table\'s colours, class names, class 0 transparent; <index>.qml a ramp over the report\'s range', () => {
    const r = pythonJson(`
import sys, json
import xml.etree.ElementTree as ET
from osgeo import gdal
ds = gdal.Open(sys.argv[1])
ct = ds.GetRasterBand(1).GetColorTable()
q = ET.parse(sys.argv[2]).getroot()
r = q.find('pipe/rasterrenderer')
entries = [e.attrib for e in r.findall('colorPalette/paletteEntry')]
table = {e['value']: '#%02x%02x%02x' % ct.GetColorEntry(int(e['value']))[:3] for e in entries}
i = ET.parse(sys.argv[3]).getroot().find('pipe/rasterrenderer')
items = [float(x.attrib['value']) for x in i.findall('rastershader/colorrampshader/item')]
print(json.dumps({"type": r.attrib['type'], "entries": entries, "table": table, "itype": i.attrib['type'], "items": items}))
`, [path.join(fireWhole, 'change.tif'), path.join(fireWhole, 'change.qml'), path.join(fireWhole, 'dnbr.qml')]);
    expect(r.type).toBe('paletted');
    for (const e of r.entries) expect(e.color).toBe(r.table[e.value]);
    expect(r.entries.find((e: any) => e.value === '0')).toMatchObject({ alpha: '0', label: 'unburned' });
    expect(r.entries.find((e: any) => e.value === '4')).toMatchObject({ alpha: '255', label: 'high severity' });
    expect(r.itype).toBe('singlebandpseudocolor');
    expect(r.items[0]).toBe(-0.5);
    expect(r.items.at(-1)).toBe(1);
  });

  it('change.geojson: ogrinfo reports one geometry type (Multi Polygon); the polygons cover the class map after --min-area exactly', () => {
    for (const dir of [veg, fireWhole, fireBlocks]) {
      expect(run('ogrinfo', ['-ro', '-so', '-al', path.join(dir, 'change.geojson')])).toMatch(/Geometry: Multi Polygon\n/);
      const fc = JSON.parse(readFileSync(path.join(dir, 'change.geojson'), 'utf8'));
      expect(fc.features.length).toBeGreaterThan(0);
      // --min-area filters patches of the change as a whole on the class map; the polygons are that map, class by class
      const summary = JSON.parse(readFileSync(path.join(dir, 'summary.json'), 'utf8'));
      const pixelsOf = new Map<string, number>();
      for (const f of fc.features) pixelsOf.set(f.properties.class, (pixelsOf.get(f.properties.class) ?? 0) + f.properties.pixels);
      for (const [name, px] of pixelsOf) expect(px, name).toBe(summary.areas.find((a: any) => a.name === name).pixels);
    }
  });

  it('both engines write the same side files', () => {
    for (const f of ['change.tif.aux.xml', 'change.qml', 'dnbr.qml']) {
      expect(readFileSync(path.join(fireBlocks, f), 'utf8') === readFileSync(path.join(fireWhole, f), 'utf8'), f).toBe(true);
    }
    const geojson = (dir: string) => JSON.parse(readFileSync(path.join(dir, 'change.geojson'), 'utf8'));
    expect(geojson(fireBlocks).s2change).toEqual(geojson(fireWhole).s2change);
  });

  it('the side files are in the manifest: verify passes, and fails once one is edited', async () => {
    const names = JSON.parse(readFileSync(path.join(veg, 'summary.json'), 'utf8')).outputs.map((o: any) => o.name);
    expect(names).toEqual(expect.arrayContaining(['change.qml', 'change.tif.aux.xml', 'dndvi.qml', 'change.geojson']));
    expect((await verifyOutputs(veg)).ok).toBe(true);
    writeFileSync(path.join(veg, 'change.qml'), readFileSync(path.join(veg, 'change.qml'), 'utf8').replace('alpha="0"', 'alpha="255"'));
    const v = await verifyOutputs(veg);
    expect(v.ok).toBe(false);
    expect(v.files.filter((f) => !f.ok).map((f) => f.name)).toEqual(['change.qml']);
  });

  it('gdalinfo -json of change.tif still reads (the PAM file is well-formed)', () => {
    expect(gdalinfoJson(path.join(fireWhole, 'change.tif')).bands[0].categories).toContain('unburned');
  });
});
