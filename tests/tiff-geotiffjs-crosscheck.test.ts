/**
 * A second, independent reader as an oracle: geotiff.js (its own IFD parser, GeoKey parser and decoders) must read
 * the real sample files to the same pixels, geotransform and EPSG code as our reader. geotiff.js is a test-only
 * cross-check here, never the production reader (see docs/RELIABILITY.md, "Reader").
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { fromFile, type GeoTIFFImage, type TypedArray } from 'geotiff';
import { openTiffFile } from '../src/io/tiff/index.js';
import type { SampleArray } from '../src/io/tiff/types.js';
import { dataDir } from './helpers/gdal.js';

const DATA = dataDir();
const FILES: [label: string, rel: string, facts: { bands: number; epsg: number; type: string; overviews: number }][] = [
  ['29RKH B04 COG (UInt16 DEFLATE, 2 overviews)',
    's2-l2a-cog-29RKH/tests/fixtures/sentinel-cogs/sentinel-s2-l2a-cogs/29/R/KH/2020/2/S2A_29RKH_20200219_0_L2A/B04.tif',
    { bands: 1, epsg: 32629, type: 'uint16', overviews: 2 }],
  ['Sen1Floods11 S2Hand (13-band Int16)', 'sen1floods11-sample/sample/S2/Spain_7370579_S2Hand.tif',
    { bands: 13, epsg: 4326, type: 'int16', overviews: 0 }],
  ['OSCD Paris B04 (UInt16 strips)',
    'oscd/Onera Satellite Change Detection dataset - Images/paris/imgs_1/S2A_OPER_MSI_L1C_TL_MPS__20161130T130757_A007527_T31UDQ_B04.tif',
    { bands: 1, epsg: 4326, type: 'uint16', overviews: 0 }],
  ['CalFire KENNETH pre-fire (Float64 LZW)', 'wildfire-calfire-s2/KENNETH_20250109_pre_fire.tif',
    { bands: -1, epsg: 4326, type: 'float64', overviews: 0 }],
];

const bytesOf = (a: SampleArray | TypedArray) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

/** GDAL-order geotransform from geotiff.js (north-up files: origin + resolution; overviews scaled from image 0). */
function geotiffjsTransform(img: GeoTIFFImage, full: GeoTIFFImage): number[] {
  const [ox, oy] = full.getOrigin();
  const [rx, ry] = img === full ? img.getResolution() : img.getResolution(full);
  return [ox, rx, 0, oy, 0, ry];
}

function geotiffjsEpsg(img: GeoTIFFImage): number | null {
  const keys = img.getGeoKeys() as Record<string, number> | null;
  return keys?.ProjectedCSTypeGeoKey ?? keys?.GeographicTypeGeoKey ?? null;
}

for (const [label, rel, facts] of FILES) {
  const file = path.join(DATA, rel);
  const have = existsSync(file);
  describe.skipIf(!have)(`geotiff.js cross-check: ${label}${have ? '' : ` (skipped: ${file} not found; set S2CHANGE_DATA)`}`, () => {
    it('same pixels (every band, every image incl. overviews), geotransform and EPSG as geotiff.js', async () => {
      const theirs = await fromFile(file);
      const ours = await openTiffFile(file);
      try {
        const n = await theirs.getImageCount();
        expect(ours.images.length).toBe(n);
        expect(n - 1).toBe(facts.overviews);
        const full = await theirs.getImage(0);
        for (let i = 0; i < n; i++) {
          const t = await theirs.getImage(i);
          const o = ours.images[i];
          expect([o.width, o.height, o.samplesPerPixel]).toEqual([t.getWidth(), t.getHeight(), t.getSamplesPerPixel()]);
          if (i === 0) {
            expect(o.sampleType).toBe(facts.type);
            if (facts.bands > 0) expect(o.samplesPerPixel).toBe(facts.bands);
          }
          const want = (await t.readRasters({ interleave: false })) as TypedArray[];
          const got = await o.readWindow();
          expect(got.length).toBe(want.length);
          expect(want[0].some((v) => v !== 0), 'geotiff.js read real data').toBe(true);
          for (let b = 0; b < got.length; b++) {
            expect(got[b].constructor.name, `image ${i} band ${b} type`).toBe(want[b].constructor.name);
            expect(bytesOf(got[b]).equals(bytesOf(want[b])), `image ${i} band ${b} pixels`).toBe(true);
          }
          // a window crossing block edges, bands reversed, against the same geotiff.js window
          const win = { x: Math.floor(o.width / 5), y: Math.floor(o.height / 3), width: Math.ceil(o.width / 2), height: Math.ceil(o.height / 2) };
          const sel = Array.from({ length: o.samplesPerPixel }, (_, k) => o.samplesPerPixel - 1 - k);
          const wantWin = (await t.readRasters({
            window: [win.x, win.y, win.x + win.width, win.y + win.height], samples: sel, interleave: false,
          })) as TypedArray[];
          const gotWin = await o.readWindow(win, sel);
          sel.forEach((_, k) => expect(bytesOf(gotWin[k]).equals(bytesOf(wantWin[k])), `image ${i} window, band ${sel[k]}`).toBe(true));

          expect(o.grid).not.toBeNull();
          expect(o.grid!.crs.epsg).toBe(geotiffjsEpsg(full));
          const tt = geotiffjsTransform(t, full);
          o.grid!.transform.forEach((v, k) => expect(v, `image ${i} transform[${k}]`).toBeCloseTo(tt[k], 9));
        }
        expect(geotiffjsEpsg(full)).toBe(facts.epsg);
      } finally {
        await ours.close();
        await theirs.close();
      }
    });
  });
}
