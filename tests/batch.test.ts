/**
 * `s2change batch` / `s2change worker`: the job file's refusal rules (table + fuzz), local batches against one
 * `detect` per job (checksums), resumability, and the BullMQ queue on a real redis-server (127.0.0.1, no
 * persistence) with two workers, one of them SIGKILLed in the middle of a job.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildProgram } from '../src/cli/main.js';
import { detectOptionSpecs } from '../src/cli/batch-command.js';
import { jobArguments, parseJobFile } from '../src/batch/jobs.js';
import { parseQueueUrl } from '../src/batch/queue.js';
import { UsageError } from '../src/errors.js';
import { dataDir } from './helpers/gdal.js';

const CLI = path.resolve('dist/cli/main.js');
const DATA = dataDir();
const tmp = mkdtempSync(path.join(os.tmpdir(), 's2change-batch-'));
const SPECS = detectOptionSpecs(buildProgram());
const FIRE = path.join(DATA, 'wildfire-calfire-s2', 'data');
const OMBRIA = path.join(DATA, 'ombria-flood', '2021', 'ALBANIA', 'Sentinel2');

function refusal(jobs: unknown, text?: string): UsageError {
  try {
    parseJobFile(text ?? JSON.stringify(jobs), 'jobs.json', SPECS);
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    return err as UsageError;
  }
  throw new Error(`accepted: ${text ?? JSON.stringify(jobs)}`);
}

describe('job files', () => {
  const ok = { id: 'a', preset: 'flood', before: 'b.tif', after: 'a.tif' };

  it('reads JSON arrays, {"jobs": [...]} and CSV alike, and maps keys to detect arguments', () => {
    const csv = 'id,preset,before,after,min-area,polygons,index\nfire1,wildfire,b.tif,a.tif,0.5,true,false\n';
    const [fromCsv] = parseJobFile(csv, 'jobs.csv', SPECS);
    const [fromJson] = parseJobFile(JSON.stringify({ jobs: [{ id: 'fire1', preset: 'wildfire', before: 'b.tif', after: 'a.tif', 'min-area': 0.5, polygons: true, index: false }] }), 'j.json', SPECS);
    expect(fromCsv!.hash).toBe(fromJson!.hash);
    expect(jobArguments(fromCsv!, SPECS)).toEqual(['--after', 'a.tif', '--before', 'b.tif', '--no-index', '--min-area', '0.5', '--polygons', '--preset', 'wildfire']);
    expect(parseJobFile(JSON.stringify([{ ...ok, bands: ['B11', 'B08'] }]), 'j', SPECS)[0]!.options.bands).toBe('B11,B08');
  });

  it.each([
    ['unknown key', [{ ...ok, thresold: 0.1 }], /"thresold"/, 'job "a", key "thresold"'],
    ['a key the batch owns', [{ ...ok, out: 'x' }], /"out"/, 'key "out"'],
    ['duplicate id', [ok, { ...ok, id: 'A' }], /"id"/, 'job 2 (id "A")'],
    ['unsafe id ../x', [{ ...ok, id: '../x' }], /"id"/, 'id "../x"'],
    ['unsafe id a/b', [{ ...ok, id: 'a/b' }], /"id"/, 'id "a/b"'],
    ['missing id', [{ preset: 'flood', after: 'a.tif' }], /"id"/, 'job 1'],
    ['missing preset', [{ id: 'a', after: 'a.tif' }], /"preset"/, 'job "a", key "preset"'],
    ['missing after', [{ id: 'a', preset: 'flood', before: 'b.tif' }], /"after"/, 'job "a", key "after"'],
    ['a flag with a value', [{ ...ok, polygons: 'yes' }], /"polygons"/, 'key "polygons"'],
    ['an object as a value', [{ ...ok, threshold: { x: 1 } }], /"threshold"/, 'key "threshold"'],
  ])('refuses %s, naming the job and the key', (_what, jobs, message, input) => {
    const err = refusal(jobs);
    expect(err.message).toMatch(message);
    expect(err.input).toContain(input);
    expect(err.fix).toBeTruthy();
  });

  it('refuses files that are no job list', () => {
    expect(refusal(null, '{"jobs": 3}').message).toMatch(/no job list/);
    expect(refusal(null, '[').message).toMatch(/not valid JSON/);
    expect(refusal([]).message).toMatch(/no jobs/);
    expect(refusal(null, 'id,preset\n"a,flood\n').message).toMatch(/not a valid CSV/);
  });

  it('fuzz: any id is either refused as "id" or is a safe folder name', () => {
    fc.assert(fc.property(fc.string({ maxLength: 120 }), (id) => {
      try {
        const [job] = parseJobFile(JSON.stringify([{ ...ok, id }]), 'j', SPECS);
        expect(job!.id).toBe(id);
        expect(path.basename(id)).toBe(id);
        expect(id).not.toMatch(/^\.|[\\/\0]|^$/);
        return true;
      } catch (err) {
        return err instanceof UsageError && /"id"/.test(err.message);
      }
    }), { numRuns: 500 });
  });

  it('fuzz: any key that is not a detect option is refused by name', () => {
    const known = new Set(SPECS.map((s) => s.name));
    fc.assert(fc.property(fc.string({ minLength: 1, maxLength: 20 }).filter((k) => !known.has(k) && k !== 'id'), (key) => {
      const err = refusal([{ ...ok, [key]: '1' }]);
      return err.input!.includes(`key "${key}"`);
    }), { numRuns: 200 });
  });

  it('parses queue URLs and refuses others', () => {
    expect(parseQueueUrl('redis://127.0.0.1:6390/2').connection).toMatchObject({ host: '127.0.0.1', port: 6390, db: 2 });
    expect(() => parseQueueUrl('http://127.0.0.1:6379')).toThrow(UsageError);
    expect(() => parseQueueUrl('redis://h:1/notadb')).toThrow(UsageError);
  });
});

function cli(args: string[], cwd = tmp): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', cwd, maxBuffer: 64 * 1024 * 1024 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

const manifest = (dir: string): Map<string, string> => new Map(
  (JSON.parse(readFileSync(path.join(dir, 'summary.json'), 'utf8')).outputs as { name: string; sha256: string }[])
    .filter((o) => o.name.endsWith('.tif') || o.name.endsWith('.geojson'))
    .map((o) => [o.name, o.sha256]));

const ready = existsSync(CLI) && existsSync(FIRE) && existsSync(OMBRIA);
const sampleJobs = [
  { id: 'incident', preset: 'wildfire', before: path.join(FIRE, 'pre_fire', '5_INCIDENT_20240715.tif'), after: path.join(FIRE, 'post_fire', '5_INCIDENT_20240715.tif'), 'min-area': 0.5 },
  { id: 'albania', preset: 'flood', before: path.join(OMBRIA, 'BEFORE', 'imbefore_10.png'), after: path.join(OMBRIA, 'AFTER', 'imafter_10.png'), bands: 'B11,B08,B03' },
  { id: 'cascade', preset: 'wildfire', before: path.join(FIRE, 'pre_fire', '5-6_CASCADE_CREEK_20200817.tif'), after: path.join(FIRE, 'post_fire', '5-6_CASCADE_CREEK_20200817.tif') },
];
const badJob = { id: 'broken', preset: 'flood', before: path.join(tmp, 'missing-before.tif'), after: path.join(tmp, 'missing-after.tif') };

describe.skipIf(!ready)('batch on this machine', () => {
  const jobFile = path.join(tmp, 'local.json');
  const out = path.join(tmp, 'local-out');
  let first: ReturnType<typeof cli>;
  beforeAll(() => {
    writeFileSync(jobFile, JSON.stringify([...sampleJobs, badJob]));
    first = cli(['batch', jobFile, '--out', out, '--concurrency', '2']);
  }, 120_000);

  it('runs every job, reports the failed one with its error and exits 1', () => {
    expect(first.code, first.stderr).toBe(1);
    const batch = JSON.parse(readFileSync(path.join(out, 'batch.json'), 'utf8'));
    expect(batch.counts).toEqual({ jobs: 4, done: 3, skipped: 0, failed: 1 });
    const broken = batch.jobs.find((j: any) => j.id === 'broken');
    expect(broken).toMatchObject({ status: 'failed', errorCode: 'INPUT_NOT_FOUND' });
    expect(broken.error).toContain('missing-after.tif');
    expect(readFileSync(path.join(out, 'batch.csv'), 'utf8').split('\n')[0]).toMatch(/^id,status,preset,ha_/);
    expect(first.stderr).toMatch(/batch \[#+\] 4\/4/);
  });

  it('writes exactly what one detect per job writes (same checksums), and the hectares of its summary', () => {
    for (const job of sampleJobs) {
      const solo = path.join(tmp, `solo-${job.id}`);
      const { id: _id, ...opts } = job;
      const args = Object.entries(opts).flatMap(([k, v]) => [`--${k}`, String(v)]);
      const r = cli(['detect', ...args, '--out', solo]);
      expect(r.code, r.stderr).toBe(0);
      expect(manifest(path.join(out, job.id))).toEqual(manifest(solo));
      const row = JSON.parse(readFileSync(path.join(out, 'batch.json'), 'utf8')).jobs.find((j: any) => j.id === job.id);
      const areas = JSON.parse(readFileSync(path.join(solo, 'summary.json'), 'utf8')).areas.filter((a: any) => a.value !== 0);
      expect(row.hectares).toEqual(Object.fromEntries(areas.map((a: any) => [a.name, a.hectares])));
    }
    const gj = JSON.parse(readFileSync(path.join(out, 'batch.geojson'), 'utf8'));
    // the OMBRIA PNGs are not georeferenced: no change.geojson, so no polygons of theirs in batch.geojson
    const perJob = (id: string) => (existsSync(path.join(out, id, 'change.geojson')) ? JSON.parse(readFileSync(path.join(out, id, 'change.geojson'), 'utf8')).features.length : 0);
    expect(gj.features.length).toBe(sampleJobs.reduce((s, j) => s + perJob(j.id), 0));
    expect(new Set(gj.features.map((f: any) => f.properties.job))).toEqual(new Set(['incident', 'cascade']));
  }, 120_000);

  it('skips verified jobs with unchanged parameters, redoes changed or damaged ones, and --force redoes all', () => {
    writeFileSync(path.join(out, 'albania', 'change.tif'), 'damaged');
    const changed = sampleJobs.map((j) => (j.id === 'cascade' ? { ...j, 'min-area': 1 } : j));
    writeFileSync(jobFile, JSON.stringify(changed));
    const again = cli(['batch', jobFile, '--out', out]);
    expect(again.code, again.stderr).toBe(0);
    const status = Object.fromEntries(JSON.parse(readFileSync(path.join(out, 'batch.json'), 'utf8')).jobs.map((j: any) => [j.id, j.status]));
    expect(status).toEqual({ incident: 'skipped', albania: 'done', cascade: 'done' });
    expect(cli(['verify', path.join(out, 'albania')]).code).toBe(0);
    const forced = cli(['batch', jobFile, '--out', out, '--force']);
    expect(JSON.parse(readFileSync(path.join(out, 'batch.json'), 'utf8')).counts.done, forced.stderr).toBe(3);
  }, 120_000);
});

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

const hasRedis = spawnSync('redis-server', ['--version']).status === 0;

describe.skipIf(!ready || !hasRedis)('batch on a BullMQ queue with two workers (real redis-server)', () => {
  let redis: ChildProcess;
  let url = '';
  const workers: { proc: ChildProcess; log: string[] }[] = [];
  const startWorker = (): { proc: ChildProcess; log: string[] } => {
    const proc = spawn(process.execPath, [CLI, 'worker', '--queue', url, '--stalled-after', '2'], { stdio: ['ignore', 'ignore', 'pipe'] });
    const w = { proc, log: [] as string[] };
    proc.stderr!.setEncoding('utf8').on('data', (d: string) => w.log.push(...d.split('\n').filter(Boolean)));
    workers.push(w);
    return w;
  };

  beforeAll(async () => {
    const port = await freePort();
    url = `redis://127.0.0.1:${port}/0`;
    redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    for (let i = 0; i < 50; i++) {
      if (spawnSync('redis-cli', ['-p', String(port), 'ping'], { encoding: 'utf8' }).stdout?.includes('PONG')) break;
      await new Promise((r) => setTimeout(r, 100));
    }
  }, 20_000);

  afterAll(() => {
    for (const w of workers) w.proc.kill('SIGKILL');
    redis?.kill('SIGKILL');
  });

  it('says clearly when Redis cannot be reached, naming the URL', async () => {
    const closed = `redis://127.0.0.1:${await freePort()}/0`;
    writeFileSync(path.join(tmp, 'one.json'), JSON.stringify([sampleJobs[0]]));
    const r = cli(['batch', path.join(tmp, 'one.json'), '--out', path.join(tmp, 'noredis'), '--queue', closed]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('[NETWORK]');
    expect(r.stderr).toContain(closed);
  }, 30_000);

  it('a worker SIGKILLed mid-job loses nothing: every job done exactly once, the bad one failed; a rerun skips all', async () => {
    const jobFile = path.join(tmp, 'queued.json');
    const out = path.join(tmp, 'queued-out');
    writeFileSync(jobFile, JSON.stringify([...sampleJobs, badJob]));
    const victim = startWorker();
    const batch = spawn(process.execPath, [CLI, 'batch', jobFile, '--out', out, '--queue', url], { stdio: ['ignore', 'pipe', 'pipe'] });
    let batchErr = '';
    batch.stderr!.setEncoding('utf8').on('data', (d: string) => { batchErr += d; });
    // kill the first worker as soon as it has started a job (its detect child ends with it: it watches its stdin)
    const killed = await new Promise<string>((resolve, reject) => {
      const t = setInterval(() => {
        const started = victim.log.find((l) => / started \(attempt/.test(l) || /: started/.test(l));
        if (started) { clearInterval(t); victim.proc.kill('SIGKILL'); resolve(started.split(':')[0]!); }
      }, 5);
      setTimeout(() => { clearInterval(t); reject(new Error(`worker never started a job: ${victim.log.join('\n')}`)); }, 20_000);
    });
    expect(victim.log.some((l) => l.startsWith(`${killed}: done`))).toBe(false);
    const survivor = startWorker();
    const code = await new Promise<number | null>((resolve) => batch.on('close', resolve));
    expect(code, batchErr).toBe(1);
    const result = JSON.parse(readFileSync(path.join(out, 'batch.json'), 'utf8'));
    expect(result.counts).toEqual({ jobs: 4, done: 3, skipped: 0, failed: 1 });
    expect(result.jobs.find((j: any) => j.id === 'broken')).toMatchObject({ status: 'failed', errorCode: 'INPUT_NOT_FOUND' });
    for (const job of sampleJobs) {
      expect(cli(['verify', path.join(out, job.id)]).code).toBe(0);
      const doneLines = [...victim.log, ...survivor.log].filter((l) => l.startsWith(`${job.id}: done`));
      expect(doneLines, job.id).toHaveLength(1);
    }
    if (killed !== 'broken') expect(result.jobs.find((j: any) => j.id === killed).ranBy).toMatch(new RegExp(`:${survivor.proc.pid}$`));
    // the bad input failed at once: no retries for typed input errors
    expect(survivor.log.filter((l) => l.startsWith('broken: started'))).toHaveLength(1);

    const again = cli(['batch', jobFile, '--out', out, '--queue', url]);
    const counts = JSON.parse(readFileSync(path.join(out, 'batch.json'), 'utf8')).counts;
    expect(counts, again.stderr).toMatchObject({ done: 0, skipped: 3, failed: 1 });
  }, 120_000);
});
