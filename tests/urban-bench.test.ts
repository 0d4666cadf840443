/**
 * `bench accuracy --dataset oscd --train / --model` end to end on a tiny synthetic OSCD tree written by GDAL
 * (two folders: one with "Train Labels", one with "Test Labels"): the cities are read, the model is scored
 * leave-one-city-out and trained, and a written model scores a folder. The truth is where the numpy script
 * planted the new buildings.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseUrbanModel } from '../src/change/urban-model.js';
import { scoreUrbanModel, trainUrbanOnOscd } from '../src/pipeline/urban-bench.js';
import { GDAL_SKIP_REASON, hasGdal, PYTHON, run } from './helpers/gdal.js';

const tmp = mkdtempSync(path.join(tmpdir(), 's2change-urbanb-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const SCRIPT = String.raw`
import os, sys, numpy as np
from osgeo import gdal, osr
root = sys.argv[1]; S = 40
bands = ['B02','B03','B04','B05','B06','B07','B08','B8A','B11','B12']
veg = [0.04,0.07,0.05,0.1,0.25,0.3,0.35,0.36,0.18,0.09]
urb = [0.1,0.11,0.13,0.15,0.17,0.18,0.2,0.21,0.27,0.24]
srs = osr.SpatialReference(); srs.ImportFromEPSG(32631)
def write(path, a, res):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    d = gdal.GetDriverByName('GTiff').Create(path, a.shape[1], a.shape[0], 1, gdal.GDT_UInt16)
    d.SetGeoTransform((500000, res, 0, 4800000, 0, -res)); d.SetProjection(srs.ExportToWkt())
    d.GetRasterBand(1).WriteArray(a); d = None
for folder, labels, cities in [('a', 'Train', ['alpha', 'beta']), ('b', 'Test', ['gamma'])]:
    for k, city in enumerate(cities):
        rng = np.random.default_rng(hash(city) % 1000)
        truth = np.zeros((S, S), bool)
        for _ in range(6):
            w = rng.integers(3, 6); x, y = rng.integers(0, S - w, 2); truth[y:y+w, x:x+w] = True
        img = f'{root}/{folder}/Onera Satellite Change Detection dataset - Images/{city}'
        gain = rng.uniform(0.9, 1.1)
        for j, b in enumerate(bands):
            res = 10 if b in ('B02','B03','B04','B08') else 20
            base = veg[j] * rng.uniform(0.8, 1.2, (S, S))
            before = base + rng.uniform(-0.005, 0.005, (S, S))
            after = np.where(truth, urb[j] * rng.uniform(1.1, 1.3, (S, S)), base) * gain + rng.uniform(-0.007, 0.007, (S, S))
            f = S * 10 // res
            for date, v in (('imgs_1', before), ('imgs_2', after)):
                v = v.reshape(f, S // f, f, S // f).mean(axis=(1, 3)) if res == 20 else v
                write(f'{img}/{date}/T31UDQ_{b}.tif', np.round(v * 10000).astype(np.uint16), res)
        cm = f'{root}/{folder}/Onera Satellite Change Detection dataset - {labels} Labels/{city}/cm/{city}-cm.tif'
        os.makedirs(os.path.dirname(cm), exist_ok=True)
        d = gdal.GetDriverByName('GTiff').Create(cm, S, S, 1, gdal.GDT_Byte)
        d.GetRasterBand(1).WriteArray(np.where(truth, 2, 1).astype(np.uint8)); d = None
print('ok')
`;

describe.skipIf(!hasGdal())(`urban model on a synthetic OSCD tree (${GDAL_SKIP_REASON})`, () => {
  it('trains on Train- and Test-Labels folders with leave-one-city-out scores, and a written model scores a folder', async () => {
    run(PYTHON, ['-c', SCRIPT, tmp]);
    const roots = [path.join(tmp, 'a'), path.join(tmp, 'b')];
    const steps: number[] = [];
    const r = await trainUrbanOnOscd(roots, {
      perClass: 200, gbdt: { trees: 20, minSamplesLeaf: 10 }, innerFolds: 2, coregister: false, threads: 0,
      spec: { version: 1, bands: ['B02', 'B03', 'B04', 'B05', 'B06', 'B07', 'B08', 'B8A', 'B11', 'B12'], indices: ['NDVI', 'NDBI', 'BSI', 'MNDWI'], context: ['diff_B08', 'chi2'], radii: [1, 2] },
      onProgress: (done, total) => steps.push(done / total),
    });
    expect(r.model.training.cities).toEqual(['alpha', 'beta', 'gamma']);
    expect(r.loco!.perCity.map((c) => c.city)).toEqual(['alpha', 'beta', 'gamma']);
    for (const c of r.loco!.perCity) expect(c.f1, c.city).toBeGreaterThan(0.6);
    expect(r.loco!.pooled.tp).toBe(r.loco!.perCity.reduce((s, c) => s + c.tp, 0));
    expect(r.model.scores!.pooled.f1).toBe(r.loco!.pooled.f1);
    expect(steps.at(-1)).toBe(1);
    for (let i = 1; i < steps.length; i++) expect(steps[i]!).toBeGreaterThanOrEqual(steps[i - 1]!);
    const model = parseUrbanModel(JSON.stringify(r.model), 'urban-model.json');
    const s = await scoreUrbanModel(model, [roots[1]!], undefined, { coregister: false });
    expect(s.perCity.map((c) => c.city)).toEqual(['gamma']);
    expect(s.seenInTraining).toEqual(['gamma']);
    expect(s.notes.join(' ')).toMatch(/training scores, not independent/);
    expect(s.pooled.f1).toBeGreaterThan(0.6);
  });
});
