#!/usr/bin/env node
/**
 * Batch throughput on this machine, through the real queue: a redis-server on a free 127.0.0.1 port (no
 * persistence), `s2change worker` processes and `s2change batch --queue`. Runs the same job set with 1 worker and
 * then with 2 workers (each --concurrency 1) and prints jobs per minute and the ratio, as JSON on the last line.
 *
 *   node scripts/batch-throughput.mjs [--copies N] [--full-tile DIR]
 *
 * --copies N     : each georeferenced sample event (INCIDENT and CASCADE CREEK fires, Barbellino) N times (default 4)
 * --full-tile DIR: instead, full 10980² tiles: DIR holds before/ and after/ band folders (e.g. the pair
 *                  `npm run bench -- speed --size 10980 --layout l2a` caches in ~/.cache/s2change/bench/s10980-l2a)
 * Needs `npm run build`, redis-server and ../shared/data (or $S2CHANGE_DATA).
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CLI = path.join(REPO, 'dist', 'cli', 'main.js');
const DATA = process.env.S2CHANGE_DATA ?? path.resolve(REPO, '..', 'shared', 'data');
const arg = (name, dflt) => { const i = process.argv.indexOf(name); return i > 0 ? process.argv[i + 1] : dflt; };
const copies = Number(arg('--copies', '4'));
const fullTile = arg('--full-tile', undefined);

const FIRE = path.join(DATA, 'wildfire-calfire-s2', 'data');
const BARB = path.join(DATA, 'sen2r-barbellino', 'inst', 'extdata', 'out');
const base = fullTile
  ? [{ id: 'tile', preset: 'vegetation', before: path.join(fullTile, 'before'), after: path.join(fullTile, 'after'), engine: 'blocks' }]
  : [
      { id: 'incident', preset: 'wildfire', before: path.join(FIRE, 'pre_fire', '5_INCIDENT_20240715.tif'), after: path.join(FIRE, 'post_fire', '5_INCIDENT_20240715.tif') },
      { id: 'cascade', preset: 'wildfire', before: path.join(FIRE, 'pre_fire', '5-6_CASCADE_CREEK_20200817.tif'), after: path.join(FIRE, 'post_fire', '5-6_CASCADE_CREEK_20200817.tif') },
      { id: 'barbellino', preset: 'vegetation', before: path.join(BARB, 'S2A2A_20170703_022_Barbellino_BOA_10.tif'), after: path.join(BARB, 'S2A2A_20190723_022_Barbellino_BOA_10.tif'),
        'before-scl': path.join(BARB, 'S2A2A_20170703_022_Barbellino_SCL_10.tif'), 'after-scl': path.join(BARB, 'S2A2A_20190723_022_Barbellino_SCL_10.tif'),
        bands: 'B01,B02,B03,B04,B05,B06,B07,B08,B8A,B11,B12' },
    ];
const jobs = Array.from({ length: fullTile ? Math.max(2, Math.min(copies, 4)) : copies }, (_, k) => base.map((j) => ({ ...j, id: `${j.id}-${k}` }))).flat();

const port = await new Promise((resolve) => { const s = net.createServer().listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); }); });
const url = `redis://127.0.0.1:${port}/0`;
const redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
for (let i = 0; i < 50 && !spawnSync('redis-cli', ['-p', String(port), 'ping'], { encoding: 'utf8' }).stdout?.includes('PONG'); i++) await new Promise((r) => setTimeout(r, 100));

const tmp = mkdtempSync(path.join(os.tmpdir(), 's2change-throughput-'));
const results = {};
try {
  for (const workers of [1, 2]) {
    const jobFile = path.join(tmp, `jobs-${workers}.json`);
    writeFileSync(jobFile, JSON.stringify(jobs));
    const procs = Array.from({ length: workers }, () => spawn(process.execPath, [CLI, 'worker', '--queue', url], { stdio: 'ignore' }));
    const t0 = Date.now();
    const r = spawnSync(process.execPath, [CLI, 'batch', jobFile, '--out', path.join(tmp, `out-${workers}`), '--queue', url, '--force'], { encoding: 'utf8' });
    const seconds = (Date.now() - t0) / 1000;
    for (const p of procs) p.kill('SIGTERM');
    if (r.status !== 0) throw new Error(`batch failed: ${r.stderr}`);
    results[`${workers}worker`] = { jobs: jobs.length, seconds: Number(seconds.toFixed(1)), jobsPerMinute: Number((60 * jobs.length / seconds).toFixed(2)) };
    console.error(`${workers} worker(s): ${jobs.length} jobs in ${seconds.toFixed(1)} s`);
  }
} finally {
  redis.kill('SIGKILL');
  rmSync(tmp, { recursive: true, force: true });
}
const out = { machine: `${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GB, load ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`, fullTile: !!fullTile, ...results,
  speedup2workers: Number((results['1worker'].seconds / results['2worker'].seconds).toFixed(2)) };
console.log(JSON.stringify(out));
