/**
 * SAFE products (JPEG 2000 bands) read in place, against independent truth: every band's pixels and grid as GDAL's
 * JP2OpenJPEG driver reads them, the radiometry as the product XML states it (parsed here with Python's own XML
 * parser), the .zip path against the folder, and `detect` on the product against a GDAL-made GeoTIFF copy of it.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openScene, type Scene } from '../src/io/scene.js';
import { gmlGeoref, NeedMoreBytesError, readJp2Header } from '../src/io/jp2/jp2-header.js';
import { parseProductMetadata } from '../src/io/safe/safe-metadata.js';
import { decodeWorkerUrl } from '../src/io/decode/decode-sandbox.js';
import { dataDir, GDAL_SKIP_REASON, hasGdal, pythonJson, run } from './helpers/gdal.js';

const SAMPLE = path.join(dataDir(), 's2-safe-sample');
const SAFE = existsSync(SAMPLE) ? readdirSync(SAMPLE).find((n) => n.endsWith('.SAFE')) : undefined;
const PRODUCT = SAFE ? path.join(SAMPLE, SAFE) : '';
const CLI = path.resolve('dist/cli/main.js');
const ready = !!SAFE && hasGdal() && decodeWorkerUrl() !== null && existsSync(CLI);
const tmp = mkdtempSync(path.join(os.tmpdir(), 's2change-safe-'));

const sha = (a: ArrayBufferView) => createHash('sha256').update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength)).digest('hex');

/** GDAL's reading of JP2 files (one Python run): size, EPSG, geotransform, and the SHA-256 of the pixels (little-endian). */
function gdalJp2(files: string[]): { width: number; height: number; epsg: number; gt: number[]; sha: string; dtype: string }[] {
  return pythonJson(`
import sys, json, hashlib, numpy as np
from osgeo import gdal, osr
out = []
for f in sys.argv[1:]:
    ds = gdal.Open(f)
    a = ds.GetRasterBand(1).ReadAsArray()
    srs = osr.SpatialReference(wkt=ds.GetProjection()); srs.AutoIdentifyEPSG()
    out.append({"width": ds.RasterXSize, "height": ds.RasterYSize, "epsg": int(srs.GetAuthorityCode(None)),
      "gt": list(ds.GetGeoTransform()), "sha": hashlib.sha256(np.ascontiguousarray(a.astype(a.dtype.newbyteorder('<'))).tobytes()).hexdigest(),
      "dtype": str(a.dtype)})
print(json.dumps(out))
`, files);
}

describe.skipIf(!ready)(`SAFE product ${SAFE ?? '(sample missing)'}${ready ? '' : ` — skipped: sample, ${GDAL_SKIP_REASON}, or npm run build missing`}`, () => {
  let scene: Scene;
  beforeAll(async () => {
    scene = await openScene(PRODUCT);
  });
  afterAll(async () => {
    await scene?.close();
  });

  it('finds every band of the finest resolution folder, and SCL, with the product facts', () => {
    expect([...scene.bands.keys()].sort()).toEqual(['B02', 'B03', 'B04', 'B11', 'B12', 'B8A', 'SCL']);
    expect(scene.format).toBe('safe');
    expect(scene.bands.get('SCL')!.href).toMatch(/R20m\/.*_SCL_20m\.jp2$/); // finest folder with SCL
    expect(scene.bands.get('B04')!.href).toMatch(/R60m\/.*_B04_60m\.jp2$/);
    const p = scene.provenance;
    expect([p.level, p.platform, p.tile, p.processingBaseline, p.datetime]).toEqual(['L2A', 'Sentinel-2A', '29UNU', '04.00', '2022-10-05T11:54:11.024Z']);
    expect(scene.warnings).toEqual([]); // the JP2 georeferencing agrees with MTD_TL.xml
  });

  it('every band decodes to the same pixels, size, EPSG and geotransform as GDAL\'s JP2 driver', async () => {
    const refs = [...scene.bands];
    const gdal = gdalJp2(refs.map(([, ref]) => ref.href));
    for (const [k, [name, ref]] of refs.entries()) {
      const g = gdal[k]!;
      expect([ref.grid.width, ref.grid.height, ref.grid.crs.epsg], name).toEqual([g.width, g.height, g.epsg]);
      ref.grid.transform.forEach((v, i) => expect(v, `${name} gt[${i}]`).toBeCloseTo(g.gt[i]!, 6));
      const px = await ref.readStored({ x: 0, y: 0, width: g.width, height: g.height });
      expect(px.constructor.name, name).toBe(g.dtype === 'uint8' ? 'Uint8Array' : 'Uint16Array');
      expect(sha(px), `${name} pixels`).toBe(g.sha);
    }
  }, 120_000);

  it('a window equals the same window of GDAL\'s read (gdal_translate -srcwin)', async () => {
    const ref = scene.bands.get('B8A')!;
    const w = { x: 700, y: 300, width: 37, height: 23 };
    const out = path.join(tmp, 'win.tif');
    run('gdal_translate', ['-q', '-srcwin', String(w.x), String(w.y), String(w.width), String(w.height), ref.href, out]);
    const g = pythonJson(`
import sys, json
from osgeo import gdal
print(json.dumps(gdal.Open(sys.argv[1]).ReadAsArray().ravel().tolist()))`, [out]);
    expect(Array.from(await ref.readStored(w))).toEqual(g);
  });

  it('radiometry is the product XML\'s: BOA_ADD_OFFSET per band and 1 / BOA_QUANTIFICATION_VALUE', () => {
    const xml = pythonJson(`
import sys, json, xml.etree.ElementTree as ET
r = ET.parse(sys.argv[1]).getroot()
ids = {e.get('bandId'): e.get('physicalBand') for e in r.iter('Spectral_Information')}
off = {ids[e.get('band_id')]: float(e.text) for e in r.iter('BOA_ADD_OFFSET')}
q = float(next(r.iter('BOA_QUANTIFICATION_VALUE')).text)
print(json.dumps({"off": off, "q": q}))`, [path.join(PRODUCT, 'MTD_MSIL2A.xml')]);
    for (const [name, ref] of scene.bands) {
      if (name === 'SCL') {
        expect(ref.kind).toBe('class');
        continue;
      }
      const physical = name === 'B8A' ? 'B8A' : `B${Number(name.slice(1))}`;
      expect(ref.radiometry.offset, name).toBe(xml.off[physical]);
      expect(ref.radiometry.scale, name).toBeCloseTo(1 / xml.q, 12);
      expect(ref.radiometry.nodata, name).toBe(0);
    }
  });

  it('radiometry never comes from the date: the same XML without offsets gives offset 0 (an older baseline)', () => {
    const base = '<n1:Level-2A_User_Product xmlns:n1="x"><General_Info><Product_Info><PRODUCT_START_TIME>2023-01-01T00:00:00Z</PRODUCT_START_TIME>'
      + '<PROCESSING_BASELINE>03.01</PROCESSING_BASELINE></Product_Info><Product_Image_Characteristics><QUANTIFICATION_VALUES_LIST>'
      + '<BOA_QUANTIFICATION_VALUE>10000</BOA_QUANTIFICATION_VALUE></QUANTIFICATION_VALUES_LIST>';
    const none = parseProductMetadata(`${base}</Product_Image_Characteristics></General_Info></n1:Level-2A_User_Product>`, 'x');
    expect([none.level, none.offsets, none.quantification]).toEqual(['L2A', {}, 10000]);
    const some = parseProductMetadata(`${base}<BOA_ADD_OFFSET_VALUES_LIST><BOA_ADD_OFFSET band_id="3">-900</BOA_ADD_OFFSET></BOA_ADD_OFFSET_VALUES_LIST>`
      + '</Product_Image_Characteristics></General_Info></n1:Level-2A_User_Product>', 'x');
    expect(some.offsets).toEqual({ B04: -900 }); // band_id 3 is B4 in the default order
  });

  it('the .zip (made here with Python zipfile, DEFLATE) reads to the same bands, pixels and facts without unzipping', async () => {
    const zip = path.join(tmp, `${SAFE!.replace(/\.SAFE$/, '')}.zip`);
    run('/usr/bin/python3', ['-c', `
import sys, os, zipfile
src, dst = sys.argv[1], sys.argv[2]
root = os.path.dirname(src)
with zipfile.ZipFile(dst, 'w', zipfile.ZIP_DEFLATED) as z:
    for d, _, fs in os.walk(src):
        for f in fs:
            p = os.path.join(d, f); z.write(p, os.path.relpath(p, root))
`, PRODUCT, zip]);
    const z = await openScene(zip);
    try {
      expect([...z.bands.keys()].sort()).toEqual([...scene.bands.keys()].sort());
      expect(z.bands.get('SCL')!.grid).toEqual(scene.bands.get('SCL')!.grid);
      expect(z.provenance.container).toBe('zip');
      for (const name of ['B04', 'B8A'] as const) {
        const a = z.bands.get(name)!;
        const b = scene.bands.get(name)!;
        expect(a.href).toContain('.zip!');
        expect(a.grid).toEqual(b.grid);
        expect(a.radiometry).toEqual(b.radiometry);
        const w = { x: 0, y: 0, width: a.grid.width, height: a.grid.height };
        expect(sha(await a.readStored(w)), name).toBe(sha(await b.readStored(w)));
      }
    } finally {
      await z.close();
    }
    expect(readdirSync(tmp).filter((n) => n.endsWith('.jp2'))).toEqual([]);
  }, 60_000);

  it('`detect` on the product against a GDAL-made GeoTIFF copy of itself: no change, the same radiometry reported', () => {
    const copy = path.join(tmp, 'copy');
    mkdirSync(copy, { recursive: true });
    for (const name of ['B03', 'B11', 'SCL'] as const) {
      const ref = scene.bands.get(name)!;
      // GDAL convention value = DN x scale + offset, so reflectance = (DN - 1000) / 10000 is scale 1e-4, offset -0.1.
      const rad = name === 'SCL' ? [] : ['-a_scale', String(ref.radiometry.scale), '-a_offset', String(ref.radiometry.offset * ref.radiometry.scale), '-a_nodata', '0'];
      run('gdal_translate', ['-q', '-of', 'GTiff', '-co', 'COMPRESS=DEFLATE', '-co', 'TILED=YES', '-co', 'NBITS=16', ...rad, ref.href, path.join(copy, `${name}.tif`)]);
    }
    const out = path.join(tmp, 'detect');
    const r = spawnSync(process.execPath, [CLI, 'detect', '--before', PRODUCT, '--after', copy, '--preset', 'flood', '--out', out, '--json'],
      { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
    expect(r.status, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout);
    const changed = s.areas.filter((a: any) => a.value !== 0 && a.value !== 255 && !/no change|unchanged|permanent|not water|dry/i.test(a.name));
    for (const a of changed) expect(a.pixels, `${a.name}`).toBe(0);
    const rad = (i: any) => Object.fromEntries(Object.entries(i.radiometry as Record<string, string>).map(([k, v]) => [k, v.split('; ').slice(0, 2).join('; ')]));
    const [before, after] = ['before', 'after'].map((role) => s.inputs.find((i: any) => i.role === role));
    expect(rad(before)).toEqual(rad(after));
    expect(before.radiometry.B03).toMatch(/^\(DN − 1000\) × 0\.0001/);
    expect(before.provenance.processingBaseline).toBe('04.00');
  }, 120_000);
});

describe('JPEG 2000 header and georeferencing (no sample needed)', () => {
  it('GMLJP2: the origin is a pixel centre (GDAL\'s reading), lat/lon swapped for EPSG:4326 urns', () => {
    const utm = gmlGeoref('<gml:origin><gml:Point srsName="urn:ogc:def:crs:EPSG::32629"><gml:pos>500010 5900010</gml:pos></gml:Point></gml:origin>'
      + '<gml:offsetVector>60 0</gml:offsetVector><gml:offsetVector>0 -60</gml:offsetVector>');
    expect(utm).toEqual({ epsg: 32629, transform: [499980, 60, 0, 5900040, 0, -60], warning: null });
    const geo = gmlGeoref('<gml:origin><gml:Point srsName="urn:ogc:def:crs:EPSG::4326"><gml:pos>50.5 10.5</gml:pos></gml:Point></gml:origin>'
      + '<gml:offsetVector>0 1</gml:offsetVector><gml:offsetVector>-1 0</gml:offsetVector>');
    expect(geo.transform).toEqual([10, 1, 0, 51, 0, -1]);
  });

  it('refuses what is not JPEG 2000, and boxes that run past the file, as corrupt (no read past the end)', async () => {
    await expect(readJp2Header(new Uint8Array([0x49, 0x49, 42, 0, 8, 0, 0, 0, 0, 0, 0, 0]), 'x.jp2')).rejects.toMatchObject({ code: 'CORRUPT_TIFF' });
    const sig = [0, 0, 0, 12, 0x6a, 0x50, 0x20, 0x20, 0x0d, 0x0a, 0x87, 0x0a];
    const liar = new Uint8Array([...sig, 0x7f, 0xff, 0xff, 0xff, 0x6a, 0x70, 0x32, 0x63, 0xff, 0x4f]);
    await expect(readJp2Header(liar, 'liar.jp2')).rejects.toThrow(/runs past its container/);
  });
});

/**
 * A Level-1C layout built from the sample's own files (no real L1C product is available): band JP2s without
 * resolution folders, an MTD_MSIL1C.xml written here with RADIO_ADD_OFFSET and QUANTIFICATION_VALUE, and
 * MSK_CLASSI_B00.jp2 as the cloud mask — whose SCL codes are checked against GDAL's reading of its three bands.
 */
describe.skipIf(!ready)('SAFE Level-1C layout (made from the sample files)', () => {
  it('bands without resolution folders, RADIO_ADD_OFFSET radiometry, and MSK_CLASSI_B00 as SCL codes 9/10/11/7', async () => {
    const { cpSync, mkdirSync: mk, writeFileSync } = await import('node:fs');
    const granule = readdirSync(path.join(PRODUCT, 'GRANULE'))[0]!;
    const src = path.join(PRODUCT, 'GRANULE', granule);
    const l1c = path.join(tmp, 'S2A_MSIL1C_20221005T115411_N0400_R023_T29UNU_20221005T153022.SAFE');
    const g = path.join(l1c, 'GRANULE', 'L1C_T29UNU_A038058_20221005T115407');
    mk(path.join(g, 'IMG_DATA'), { recursive: true });
    mk(path.join(g, 'QI_DATA'), { recursive: true });
    for (const b of ['B03', 'B11']) cpSync(path.join(src, 'IMG_DATA', 'R60m', `T29UNU_20221005T115411_${b}_60m.jp2`), path.join(g, 'IMG_DATA', `T29UNU_20221005T115411_${b}.jp2`));
    cpSync(path.join(src, 'QI_DATA', 'MSK_CLASSI_B00.jp2'), path.join(g, 'QI_DATA', 'MSK_CLASSI_B00.jp2'));
    cpSync(path.join(src, 'MTD_TL.xml'), path.join(g, 'MTD_TL.xml'));
    const offsets = Array.from({ length: 13 }, (_, i) => `<RADIO_ADD_OFFSET band_id="${i}">${i === 2 ? -1000 : -900}</RADIO_ADD_OFFSET>`).join('');
    writeFileSync(path.join(l1c, 'MTD_MSIL1C.xml'), `<?xml version="1.0"?><n1:Level-1C_User_Product xmlns:n1="https://psd-14.sentinel2.eo.esa.int/PSD/User_Product_Level-1C.xsd">
<n1:General_Info><Product_Info><PRODUCT_START_TIME>2022-10-05T11:54:11.024Z</PRODUCT_START_TIME><PRODUCT_TYPE>S2MSI1C</PRODUCT_TYPE>
<PROCESSING_BASELINE>04.00</PROCESSING_BASELINE><Datatake><SPACECRAFT_NAME>Sentinel-2A</SPACECRAFT_NAME></Datatake></Product_Info>
<Product_Image_Characteristics><Special_Values><SPECIAL_VALUE_TEXT>NODATA</SPECIAL_VALUE_TEXT><SPECIAL_VALUE_INDEX>0</SPECIAL_VALUE_INDEX></Special_Values>
<QUANTIFICATION_VALUE unit="none">10000</QUANTIFICATION_VALUE><Radiometric_Offset_List>${offsets}</Radiometric_Offset_List>
</Product_Image_Characteristics></n1:General_Info></n1:Level-1C_User_Product>`);
    const s = await openScene(l1c);
    try {
      expect([...s.bands.keys()].sort()).toEqual(['B03', 'B11', 'SCL']);
      expect(s.provenance.level).toBe('L1C');
      expect(s.bands.get('B03')!.radiometry).toMatchObject({ offset: -1000, scale: 1e-4 }); // band_id 2 = B3
      expect(s.bands.get('B11')!.radiometry).toMatchObject({ offset: -900, scale: 1e-4 });
      const scl = s.bands.get('SCL')!;
      expect(scl.kind).toBe('class');
      const ours = await scl.readStored({ x: 0, y: 0, width: scl.grid.width, height: scl.grid.height });
      const truth = pythonJson(`
import sys, json, hashlib, numpy as np
from osgeo import gdal
a = gdal.Open(sys.argv[1]).ReadAsArray()
scl = np.where(a[0] > 0, 9, np.where(a[1] > 0, 10, np.where(a[2] > 0, 11, 7))).astype(np.uint8)
print(json.dumps({"sha": hashlib.sha256(scl.tobytes()).hexdigest(), "counts": {int(k): int(v) for k, v in zip(*np.unique(scl, return_counts=True))}}))
`, [path.join(g, 'QI_DATA', 'MSK_CLASSI_B00.jp2')]);
      expect(sha(ours)).toBe(truth.sha);
      expect(Object.keys(truth.counts).length).toBeGreaterThan(1); // the mask is not uniform
    } finally {
      await s.close();
    }
  }, 60_000);
});

describe.skipIf(!hasGdal())('JPEG 2000 georeferencing of GDAL-written files (GMLJP2 and GeoJP2), whole or from the head of the file', () => {
  const jdir = mkdtempSync(path.join(os.tmpdir(), 's2change-jp2-'));
  const make = (name: string, co: string[]) => {
    const tif = path.join(jdir, 'src.tif');
    if (!existsSync(tif)) {
      run('/usr/bin/python3', ['-c', `
import sys, numpy as np
from osgeo import gdal, osr
ds = gdal.GetDriverByName('GTiff').Create(sys.argv[1], 64, 48, 1, gdal.GDT_UInt16)
ds.SetGeoTransform((300000, 10, 0, 5000060, 0, -10)); s = osr.SpatialReference(); s.ImportFromEPSG(32633); ds.SetProjection(s.ExportToWkt())
ds.GetRasterBand(1).WriteArray((np.arange(64 * 48).reshape(48, 64) % 5000).astype('uint16'))`, tif]);
    }
    const out = path.join(jdir, name);
    run('gdal_translate', ['-q', '-of', 'JP2OpenJPEG', '-co', 'REVERSIBLE=YES', ...co, tif, out]);
    return out;
  };

  it.each([['GMLJP2 (GDAL default)', 'gml.jp2', [], 'GMLJP2'], ['GeoJP2 only (GMLJP2=NO)', 'geo.jp2', ['-co', 'GMLJP2=NO'], 'GeoJP2']] as const)(
    '%s: the grid gdalinfo reports', async (_label, name, co, source) => {
      const f = make(name, [...co]);
      const g = JSON.parse(run('gdalinfo', ['-json', f]));
      const h = await readJp2Header(new Uint8Array(readFileSync(f)), f);
      expect([h.width, h.height, h.georefSource]).toEqual([g.size[0], g.size[1], source]);
      expect(h.epsg).toBe(32633);
      h.transform!.forEach((v, i) => expect(v).toBeCloseTo(g.geoTransform[i], 6));
    });

  it('from the head of the file: the same header when the head holds the boxes, NeedMoreBytesError when a box runs past it', async () => {
    const f = make('gml2.jp2', []);
    const all = new Uint8Array(readFileSync(f));
    // Insert a 300 kB 'free' box before the codestream: the georeferencing boxes then end past a 256 kB head.
    const jp2c = Buffer.from(all).indexOf(Buffer.from('jp2c')) - 4;
    const free = new Uint8Array(300_000);
    new DataView(free.buffer).setUint32(0, free.length);
    free.set([0x66, 0x72, 0x65, 0x65], 4);
    const big = new Uint8Array([...all.subarray(0, jp2c), ...free, ...all.subarray(jp2c)]);
    const whole = await readJp2Header(all, f);
    expect(await readJp2Header(all.subarray(0, jp2c + 200), f, all.length)).toEqual(whole);
    await expect(readJp2Header(big.subarray(0, 256 * 1024), 'big.jp2', big.length)).rejects.toBeInstanceOf(NeedMoreBytesError);
    const fromBig = await readJp2Header(big, 'big.jp2');
    expect([fromBig.epsg, fromBig.transform, fromBig.width]).toEqual([whole.epsg, whole.transform, whole.width]);
  });
});

describe.skipIf(!ready)('hostile JPEG 2000 in a SAFE product', () => {
  /** A minimal copy of the sample with one band, whose JP2 bytes `patch` may alter. */
  async function productWith(name: string, patch: (jp2: Buffer) => void): Promise<string> {
    const { cpSync, mkdirSync: mk, readFileSync: rd, writeFileSync } = await import('node:fs');
    const granule = readdirSync(path.join(PRODUCT, 'GRANULE'))[0]!;
    const dst = path.join(tmp, name, SAFE!);
    const g = path.join(dst, 'GRANULE', granule);
    mk(path.join(g, 'IMG_DATA', 'R60m'), { recursive: true });
    cpSync(path.join(PRODUCT, 'MTD_MSIL2A.xml'), path.join(dst, 'MTD_MSIL2A.xml'));
    cpSync(path.join(PRODUCT, 'GRANULE', granule, 'MTD_TL.xml'), path.join(g, 'MTD_TL.xml'));
    const rel = path.join('IMG_DATA', 'R60m', 'T29UNU_20221005T115411_B04_60m.jp2');
    const b = rd(path.join(PRODUCT, 'GRANULE', granule, rel));
    patch(b);
    writeFileSync(path.join(g, rel), b);
    return dst;
  }

  it('a SIZ marker claiming 60000 x 60000 pixels: refused before decoding (LIMIT_EXCEEDED naming --decode-memory), and the size mismatch with MTD_TL.xml is reported', async () => {
    const p = await productWith('bomb', (b) => {
      const siz = b.indexOf(Buffer.from([0xff, 0x4f, 0xff, 0x51])) + 4;
      b.writeUInt32BE(60000, siz + 4); // Xsiz
      b.writeUInt32BE(60000, siz + 8); // Ysiz
    });
    const s = await openScene(p, { decode: { memoryMb: 1024 } });
    try {
      expect(s.warnings.join(' ')).toMatch(/differs from MTD_TL\.xml/);
      const ref = s.bands.get('B04')!;
      expect(ref.grid.width).toBe(60000);
      await expect(ref.readStored({ x: 0, y: 0, width: 10, height: 10 })).rejects.toMatchObject({ code: 'LIMIT_EXCEEDED', message: expect.stringMatching(/--decode-memory/) });
    } finally {
      await s.close();
    }
  });

  it('the JPEG 2000 decode is stopped by its time budget (DECODE_TIMEOUT naming --decode-timeout)', async () => {
    const p = await productWith('slow', () => undefined);
    const s = await openScene(p, { decode: { timeMs: 1 } });
    try {
      await expect(s.bands.get('B04')!.readStored({ x: 0, y: 0, width: 10, height: 10 }))
        .rejects.toMatchObject({ code: 'DECODE_TIMEOUT', message: expect.stringMatching(/--decode-timeout/) });
    } finally {
      await s.close();
    }
  });
});

describe.skipIf(!ready)('loose JPEG 2000 bands in a folder', () => {
  it('an IMG_DATA folder reads as a band folder: pixels as GDAL reads them, and a warning pointing to the enclosing .SAFE', async () => {
    const granule = readdirSync(path.join(PRODUCT, 'GRANULE'))[0]!;
    const dir = path.join(PRODUCT, 'GRANULE', granule, 'IMG_DATA', 'R60m');
    const s = await openScene(dir);
    try {
      expect(s.format).toBe('band-folder');
      expect([...s.bands.keys()].sort()).toEqual(['B02', 'B03', 'B04', 'B11', 'B12', 'B8A', 'SCL']);
      expect(s.warnings.join(' ')).toMatch(/inside the product .*\.SAFE: pass .* instead/);
      const ref = s.bands.get('B11')!;
      const [g] = gdalJp2([ref.href]);
      expect(ref.grid.transform).toEqual(g!.gt);
      expect(sha(await ref.readStored({ x: 0, y: 0, width: g!.width, height: g!.height }))).toBe(g!.sha);
    } finally {
      await s.close();
    }
  }, 60_000);
});
