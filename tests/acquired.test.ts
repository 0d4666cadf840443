/**
 * Acquisition dates from what the inputs carry (src/io/acquired.ts), checked against the sample data's own
 * metadata files and the dates their PROVENANCE.md states.
 */
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { acquisitionDate, acquisitionItems, dateFromDatetime, dateFromName, dateFromOscdDates } from '../src/io/acquired.js';
import { openTiffFile } from '../src/io/tiff/index.js';
import { runDetect, type RunDetectOptions } from '../src/pipeline/run-detect.js';
import { dataDir, GDAL_SKIP_REASON, gdalinfoJson, hasGdal, run } from './helpers/gdal.js';

const DATA = dataDir();

describe('acquisition dates from names and texts', () => {
  it('reads Sentinel-2 product, tile and sen2r names, never an OPER processing time', () => {
    expect(dateFromName('/x/S2A_MSIL2A_20221005T115411_N0400_R023_T29UNU_20221005T164454.SAFE')).toMatchObject({ date: '2022-10-05', datetime: '2022-10-05T11:54:11Z' });
    expect(dateFromName('T29UNU_20221005T115411_B04_10m.jp2')?.date).toBe('2022-10-05');
    expect(dateFromName('T31UDQ_20170829_B04.tif')?.date).toBe('2017-08-29');
    expect(dateFromName('S2B2A_20190723_022_Barbellino_BOA_10.tif')?.date).toBe('2019-07-23');
    expect(dateFromName('S2A_OPER_MSI_L1C_TL_EPA__20161227T091305_A001222_T22LHH_B01.tif')).toBeNull();
    expect(dateFromName('5_INCIDENT_20240715.tif')).toBeNull();
    expect(dateFromName('T31UDQ_20171345_B04.tif')).toBeNull(); // no 45th of the 13th month
  });

  it('reads STAC datetimes and OSCD dates.txt', () => {
    expect(dateFromDatetime('2020-02-19T11:34:25.405000Z', 's')).toEqual({ date: '2020-02-19', datetime: '2020-02-19T11:34:25.405000Z', source: 's' });
    expect(dateFromDatetime(null, 's')).toBeNull();
    expect(dateFromOscdDates('date_1: 20150916\ndate_2: 20171015\n', 2)?.date).toBe('2017-10-15');
    expect(dateFromOscdDates('date_1: 20150916\n', 2)).toBeNull();
  });

  it('an OSCD imgs_1/imgs_2 folder takes dates.txt, not its files\' processing time', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 's2change-acq-'));
    mkdirSync(path.join(dir, 'imgs_2'));
    writeFileSync(path.join(dir, 'imgs_2', 'S2A_OPER_MSI_L1C_TL_SGS__20171015T000000_A001_T22LHH_B02.tif'), '');
    writeFileSync(path.join(dir, 'dates.txt'), 'date_1: 20150916\ndate_2: 20171015\n');
    expect(await acquisitionDate(path.join(dir, 'imgs_2'), {})).toEqual({ date: '2017-10-15', source: 'dates.txt (OSCD) date_2' });
  });
});

describe.skipIf(!existsSync(DATA))('acquisition dates of the sample data', () => {
  it('OSCD aguasclaras: 2015-09-16 and 2017-10-15 (its dates.txt)', async () => {
    const city = path.join(DATA, 'oscd', 'Onera Satellite Change Detection dataset - Images', 'aguasclaras');
    expect((await acquisitionDate(path.join(city, 'imgs_1'), {}))?.date).toBe('2015-09-16');
    expect((await acquisitionDate(path.join(city, 'imgs_2'), {}))?.date).toBe('2017-10-15');
  });

  it('a SAFE product: PRODUCT_START_TIME of its MTD file', async () => {
    const safe = path.join(DATA, 's2-safe-sample', 'S2A_MSIL2A_20221005T115411_N0400_R023_T29UNU_20221005T164454.SAFE');
    expect(await acquisitionDate(safe, {})).toEqual({ date: '2022-10-05', datetime: '2022-10-05T11:54:11.024Z', source: 'MTD_MSIL2A.xml PRODUCT_START_TIME' });
  });

  it('a STAC item\'s datetime wins over names', async () => {
    const a = await acquisitionDate('/x/T31UDQ_20170829_B04.tif', { stacItem: 'S2A_29RKH_20200219_0_L2A', datetime: '2020-02-19T11:34:25.405000Z' });
    expect(a).toMatchObject({ date: '2020-02-19', source: 'STAC item S2A_29RKH_20200219_0_L2A datetime' });
  });
});

const FIRE = path.join(DATA, 'wildfire-calfire-s2', 'data');

describe.skipIf(!existsSync(FIRE) || !hasGdal())(`acquisition dates from GDAL metadata items — ${GDAL_SKIP_REASON}`, () => {
  it('the reader gives the dataset items gdalinfo lists; detect records ACQUISITION_DATE / DATATAKE_1_DATATAKE_SENSING_START', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 's2change-acq-tags-'));
    const pre = path.join(dir, 'pre.tif');
    const post = path.join(dir, 'post.tif');
    run('gdal_translate', ['-q', '-mo', 'ACQUISITION_DATE=2024-06-30T18:40:11Z', '-mo', 'TIFFTAG_DATETIME=2025:01:01 00:00:00', '-mo', 'NOTE=a & b',
      `${FIRE}/pre_fire/5_INCIDENT_20240715.tif`, pre]);
    run('gdal_translate', ['-q', '-mo', 'DATATAKE_1_DATATAKE_SENSING_START=2024-08-04T18:39:59.024Z', `${FIRE}/post_fire/5_INCIDENT_20240715.tif`, post]);
    const tiff = await openTiffFile(pre);
    try {
      expect(tiff.images[0]!.datasetMetadata).toEqual(Object.fromEntries(
        Object.entries(gdalinfoJson(pre).metadata[''] as Record<string, string>).filter(([k]) => k !== 'AREA_OR_POINT' && k !== 'TIFFTAG_DATETIME')));
      expect(acquisitionItems(tiff.images[0]!.datasetMetadata)).toEqual({ ACQUISITION_DATE: '2024-06-30T18:40:11Z' });
    } finally {
      await tiff.close();
    }
    const out = path.join(dir, 'out');
    const s = await runDetect({ before: pre, after: post, preset: 'wildfire', out, overwrite: true, decodeBudget: null } as RunDetectOptions);
    expect(s.provenance.acquired.before).toEqual({ date: '2024-06-30', datetime: '2024-06-30T18:40:11Z', source: 'TIFF metadata ACQUISITION_DATE' });
    expect(s.provenance.acquired.after?.date).toBe('2024-08-04');
    expect(s.warnings.join(' ')).not.toMatch(/days apart/); // 35 days: the same season
  }, 60_000);
});
