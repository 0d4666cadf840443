/**
 * Acquisition dates from what the inputs carry (src/io/acquired.ts), checked against the sample data's own
 * metadata files and the dates their PROVENANCE.md states.
 */
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { acquisitionDate, dateFromDatetime, dateFromName, dateFromOscdDates } from '../src/io/acquired.js';
import { dataDir } from './helpers/gdal.js';

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
