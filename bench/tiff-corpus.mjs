#!/usr/bin/env node
/**
 * The GeoTIFF corpus figure: over the files bench/tiff_corpus.py writes with GDAL, how many `s2change info` opens
 * (of those GDAL opens and reads), whether the pixels equal GDAL's (exactly; JPEG within a tolerance), and that no
 * file hangs or crashes the CLI. Needs `npm run build`.
 *
 * Usage: node bench/tiff-corpus.mjs [CORPUS_DIR] [--quick]
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const quick = process.argv.includes('--quick');
const dir = process.argv.slice(2).find((a) => !a.startsWith('--')) ?? mkdtempSync(path.join(os.tmpdir(), 's2change-corpus-'));
if (!existsSync(path.join(dir, 'manifest.json'))) {
  const r = spawnSync('/usr/bin/python3', [path.join(repo, 'bench/tiff_corpus.py'), dir, ...(quick ? ['--quick'] : [])], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
}
const { openTiffFile } = await import(path.join(repo, 'dist/io/tiff/index.js'));
const { mayFallBack, openTiffWithGeotiffJs } = await import(path.join(repo, 'dist/io/decode/geotiff-fallback.js'));

/** Our reading of every band as float64, through our reader or, where it refuses, the sandboxed second decoder. */
export async function readAll(file) {
  let tiff;
  let decoder = 'ours';
  try {
    tiff = await openTiffFile(file);
  } catch (err) {
    if (!mayFallBack(err)) throw err;
    tiff = await openTiffWithGeotiffJs(file, { timeMs: 30_000 });
    decoder = 'geotiff.js';
  }
  try {
    const img = tiff.images[0];
    const planes = await img.readWindow();
    const out = new Float64Array(planes.length * img.width * img.height);
    planes.forEach((p, b) => out.set(Float64Array.from(p, Number), b * img.width * img.height));
    return { decoder, values: out, bands: planes.length };
  } finally {
    await tiff.close();
  }
}

const manifest = JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
const rows = [];
for (const m of manifest.filter((e) => e.gdalOpens)) {
  const t0 = Date.now();
  const r = spawnSync(process.execPath, [path.join(repo, 'dist/cli/main.js'), 'info', '--json', m.file], { encoding: 'utf8', timeout: 90_000 });
  const row = { name: m.name, infoOpens: r.status === 0, exit: r.status, signal: r.signal, ms: Date.now() - t0, values: null, decoder: null, error: null };
  if (r.status !== 0) row.error = (r.stderr || '').split('\n').find((l) => l.includes('error')) ?? r.stderr.slice(0, 200);
  if (row.infoOpens && existsSync(`${m.file}.gdal.f64`)) {
    try {
      const ours = await readAll(m.file);
      const b = readFileSync(`${m.file}.gdal.f64`);
      const gdal = new Float64Array(b.buffer, b.byteOffset, b.byteLength / 8);
      row.decoder = ours.decoder;
      if (gdal.length !== ours.values.length) row.values = `size ${ours.values.length} vs GDAL ${gdal.length}`;
      else {
        let maxDiff = 0;
        for (let i = 0; i < gdal.length; i++) {
          const g = gdal[i], o = ours.values[i];
          if (Number.isNaN(g) && Number.isNaN(o)) continue;
          maxDiff = Math.max(maxDiff, Math.abs(g - o));
        }
        row.values = maxDiff === 0 ? 'equal' : m.lossy && maxDiff <= 8 ? `JPEG within ${maxDiff}` : `max |diff| ${maxDiff}`;
      }
    } catch (err) {
      row.values = `read failed: ${err.message.slice(0, 160)}`;
    }
  }
  rows.push(row);
}
const opened = rows.filter((r) => r.infoOpens).length;
const equal = rows.filter((r) => r.values === 'equal' || /^JPEG within/.test(r.values ?? '')).length;
const crashed = rows.filter((r) => r.signal || (r.exit !== 0 && r.exit !== 1 && r.exit !== 2));
const summary = {
  corpus: dir, gdalOpens: rows.length, infoOpens: opened, share: `${(100 * opened / rows.length).toFixed(1)} %`,
  valuesEqualToGdal: equal, valuesDiffer: rows.filter((r) => r.infoOpens && r.values && r.values !== 'equal' && !/^JPEG within/.test(r.values)).map((r) => `${r.name}: ${r.values}`),
  secondDecoder: rows.filter((r) => r.decoder === 'geotiff.js').length,
  crashedOrHung: crashed.map((r) => r.name), slowestMs: Math.max(...rows.map((r) => r.ms)),
  refused: rows.filter((r) => !r.infoOpens).map((r) => `${r.name}: ${r.error}`),
};
console.log(JSON.stringify(summary, null, 1));
