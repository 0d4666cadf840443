/**
 * The speed benchmark (issue #4): a realistic synthetic Sentinel-2 tile pair (per-band COGs made once by
 * bench/make_synthetic.py with GDAL, cached outside the repo), then the block engine (vegetation preset) and the
 * equivalent GDAL + numpy script (bench/gdal_baseline.py), each run several times in child processes under
 * /usr/bin/time -v: median wall time, ours/GDAL ratio, peak RSS, and whether the class areas agree.
 *
 * Two layouts of the synthetic pair: `default` (B04 + B08, 512² tiles) and `l2a` (what Earth Search serves: 1024²
 * tiles, B02/B03 for the true-colour quicklooks, SCL at 20 m with clouds and shadows, masked on both sides).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, cpus, homedir, totalmem } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { UsageError } from '../errors.js';

const PYTHON = '/usr/bin/python3';
const TIME = '/usr/bin/time';
const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** Layouts of the synthetic pair (see bench/make_synthetic.py --layout). */
export const BENCH_LAYOUTS = ['default', 'l2a'] as const;
export type BenchLayout = (typeof BENCH_LAYOUTS)[number];

export interface BenchOptions {
  sizes: number[];
  runs: number;
  /** Where the synthetic tiles are cached (default $S2CHANGE_BENCH_CACHE or ~/.cache/s2change/bench). */
  cacheDir?: string;
  /** Skip the float product on both sides. */
  noFloat?: boolean;
  /** Layout of the synthetic pair (default 'default': B04 + B08 only). */
  layout?: BenchLayout;
  /** Worker threads for s2change (default: one per core). */
  threads?: number;
  log?: (msg: string) => void;
}

export interface RunStats {
  runsSeconds: number[];
  medianSeconds: number;
  peakRssMB: number;
}

export interface SizeResult {
  size: number;
  megapixels: number;
  /**
   * The block engine alone (`dist/bench/engine-run.js`): change.tif + dndvi.tif, nothing else (with the l2a layout
   * it reads SCL.tif from the same folders and masks, as detect does; B02/B03 are unused as it draws no quicklook).
   */
  s2change: RunStats;
  /**
   * The whole `s2change detect --preset vegetation` command (routed to the block engine), which also writes the
   * quicklooks, report.html and summary.json with SHA-256 sums and runs the decode preflight; with --no-float it
   * runs with `--no-index` (no float product), as the GDAL script then writes none either.
   */
  s2changeDetect?: RunStats;
  gdal: RunStats;
  /** s2change (engine) median / GDAL median. */
  ratio: number;
  /** s2change detect (whole command) median / GDAL median. */
  ratioDetect?: number;
  /**
   * Loss, gain and nodata (incl. cloud-masked) pixel counts of both sides: the same rule, so float rounding at the
   * threshold may move a few loss/gain pixels; nodata must be equal.
   */
  classCounts: { s2change: ClassCounts; gdal: ClassCounts };
}

export interface ClassCounts {
  loss: number;
  gain: number;
  nodata: number;
}

export interface BenchReport {
  date: string;
  machine: { cpus: number; model: string; memoryGB: number; node: string; gdal: string };
  command: string;
  noFloat: boolean;
  layout: BenchLayout;
  results: SizeResult[];
}

/** The benchmark's cache folder. */
export function benchCacheDir(): string {
  return process.env.S2CHANGE_BENCH_CACHE ?? path.join(homedir(), '.cache', 's2change', 'bench');
}

export function exec(cmd: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    p.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    p.on('error', reject);
    p.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

/** Folder-name suffix of a layout's cached pairs and outputs: s2048 (default), s2048-l2a. */
function layoutSuffix(layout: BenchLayout): string {
  return layout === 'default' ? '' : `-${layout}`;
}

/** What a finished pair's DONE file holds (bench/make_synthetic.py `done_marker`). */
function doneMarker(size: number, layout: BenchLayout): string {
  return layout === 'l2a' ? `${size} l2a v2` : `${size}`;
}

/** Make (once) the synthetic pair of size x size pixels; returns its folder. */
export async function ensureSyntheticPair(size: number, cacheDir: string, log: (m: string) => void,
  layout: BenchLayout = 'default'): Promise<string> {
  const dir = path.join(cacheDir, `s${size}${layoutSuffix(layout)}`);
  const done = path.join(dir, 'DONE');
  if (existsSync(done) && readFileSync(done, 'utf8').trim() === doneMarker(size, layout)) return dir;
  // Missing, half-made or made by an older generator (e.g. l2a pairs without overviews): made again.
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(cacheDir, { recursive: true });
  log(`generating the synthetic ${size}x${size} tile pair (${layout} layout) in ${dir} (once)...`);
  const r = await exec(PYTHON, [path.join(REPO, 'bench', 'make_synthetic.py'), String(size), dir, '--layout', layout]);
  if (r.code !== 0) throw new Error(`bench/make_synthetic.py failed (${r.code}):\n${r.stderr}`);
  return dir;
}

/** Run a command under /usr/bin/time -v: wall seconds, peak RSS in MB, stdout. */
/** Run a command under /usr/bin/time -v: its wall time, peak RSS (MB) and stdout. */
export async function timed(cmd: string, args: string[]): Promise<{ seconds: number; rssMB: number; stdout: string }> {
  const r = await exec(TIME, ['-v', cmd, ...args]);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.code}):\n${r.stderr.slice(-4000)}`);
  const wall = /Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)/.exec(r.stderr)?.[1];
  const rss = /Maximum resident set size \(kbytes\): (\d+)/.exec(r.stderr)?.[1];
  if (!wall || !rss) throw new Error(`could not read /usr/bin/time -v output:\n${r.stderr.slice(-2000)}`);
  const parts = wall.split(':').map(Number);
  const seconds = parts.reduce((s, v) => s * 60 + v, 0);
  return { seconds, rssMB: Number(rss) / 1024, stdout: r.stdout };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function stats(runs: { seconds: number; rssMB: number }[]): RunStats {
  return {
    runsSeconds: runs.map((r) => Number(r.seconds.toFixed(2))),
    medianSeconds: Number(median(runs.map((r) => r.seconds)).toFixed(2)),
    peakRssMB: Math.round(Math.max(...runs.map((r) => r.rssMB))),
  };
}

/** Run the benchmark. Needs /usr/bin/time, /usr/bin/python3 with numpy + GDAL, and a built dist/. */
export async function runBench(opts: BenchOptions): Promise<BenchReport> {
  const log = opts.log ?? ((m: string) => process.stderr.write(`${m}\n`));
  for (const [tool, fix] of [[TIME, 'apt-get install -y time'], [PYTHON, 'apt-get install -y python3-gdal python3-numpy']] as const) {
    if (!existsSync(tool)) {
      throw new UsageError('benchmark tool missing', { input: 'bench', expected: tool, found: 'nothing', fix });
    }
  }
  const engine = path.join(REPO, 'dist', 'bench', 'engine-run.js');
  if (!existsSync(engine)) throw new UsageError('s2change is not built', { input: 'bench', expected: engine, found: 'nothing', fix: 'npm run build' });
  const cacheDir = opts.cacheDir ?? benchCacheDir();
  const layout = opts.layout ?? 'default';
  const outRoot = path.join(cacheDir, 'out');
  const results: SizeResult[] = [];
  for (const size of opts.sizes) {
    const data = await ensureSyntheticPair(size, cacheDir, log, layout);
    const before = path.join(data, 'before');
    const after = path.join(data, 'after');
    const ours: { seconds: number; rssMB: number }[] = [];
    const command: { seconds: number; rssMB: number }[] = [];
    const theirs: { seconds: number; rssMB: number }[] = [];
    let oursOut = '';
    let theirsOut = '';
    for (let i = 0; i < opts.runs; i++) {
      // Alternate who goes first so that page-cache warmth is shared fairly.
      const contenders = ['ours', 'gdal', 'detect'];
      const order = contenders.map((_, k) => contenders[(k + i) % contenders.length]!);
      for (const who of order) {
        const out = path.join(outRoot, `${who}-${size}${layoutSuffix(layout)}`);
        rmSync(out, { recursive: true, force: true });
        mkdirSync(out, { recursive: true });
        if (who === 'detect') {
          const cli = path.join(REPO, 'dist', 'cli', 'main.js');
          const r = await timed(process.execPath, [cli, 'detect', '--before', before, '--after', after, '--preset', 'vegetation',
            '--engine', 'blocks', '--out', out, '--overwrite', ...(opts.noFloat ? ['--no-index'] : []), ...(opts.threads !== undefined ? ['--threads', String(opts.threads)] : [])]);
          command.push(r);
          log(`${size}: s2change detect run ${i + 1}: ${r.seconds.toFixed(2)} s, ${r.rssMB.toFixed(0)} MB`);
        } else if (who === 'ours') {
          const args = [engine, before, after, out, ...(opts.noFloat ? ['--no-float'] : []), ...(opts.threads !== undefined ? ['--threads', String(opts.threads)] : [])];
          const r = await timed(process.execPath, args);
          ours.push(r);
          oursOut = r.stdout;
          log(`${size}: s2change run ${i + 1}: ${r.seconds.toFixed(2)} s, ${r.rssMB.toFixed(0)} MB`);
        } else {
          // --scl: the l2a pair must be cloud-masked (the script would silently skip a missing SCL.tif otherwise).
          const r = await timed(PYTHON, [path.join(REPO, 'bench', 'gdal_baseline.py'), before, after, out,
            ...(opts.noFloat ? ['--no-float'] : []), ...(layout === 'l2a' ? ['--scl'] : [])]);
          theirs.push(r);
          theirsOut = r.stdout;
          log(`${size}: GDAL+numpy run ${i + 1}: ${r.seconds.toFixed(2)} s, ${r.rssMB.toFixed(0)} MB`);
        }
      }
    }
    const o = JSON.parse(oursOut.trim().split('\n').at(-1)!) as { areas: [number, number][]; valid: number };
    const g = JSON.parse(theirsOut.trim().split('\n').at(-1)!.replace(/'/g, '"')) as ClassCounts;
    const count = (v: number) => o.areas.find((a) => a[0] === v)?.[1] ?? 0;
    const s = stats(ours);
    const t = stats(theirs);
    const c = command.length ? stats(command) : undefined;
    results.push({
      size, megapixels: Number((size * size / 1e6).toFixed(1)), s2change: s, s2changeDetect: c, gdal: t,
      ratio: Number((s.medianSeconds / t.medianSeconds).toFixed(2)),
      ratioDetect: c ? Number((c.medianSeconds / t.medianSeconds).toFixed(2)) : undefined,
      classCounts: {
        s2change: { loss: count(1), gain: count(2), nodata: size * size - o.valid },
        gdal: { loss: g.loss, gain: g.gain, nodata: g.nodata },
      },
    });
  }
  const gdalVersion = (await exec('gdalinfo', ['--version'])).stdout.trim();
  return {
    date: new Date().toISOString(),
    machine: { cpus: availableParallelism(), model: cpus()[0]?.model ?? 'unknown', memoryGB: Math.round(totalmem() / 2 ** 30), node: process.version, gdal: gdalVersion },
    command: `s2change bench speed --size ${opts.sizes.join(',')} --runs ${opts.runs}${opts.noFloat ? ' --no-float' : ''}${layout === 'default' ? '' : ` --layout ${layout}`}`,
    noFloat: Boolean(opts.noFloat),
    layout,
    results,
  };
}

/** Check a --layout value. */
export function parseLayout(text: string): BenchLayout {
  if (!(BENCH_LAYOUTS as readonly string[]).includes(text)) {
    throw new UsageError('invalid --layout', { input: `--layout ${text}`, expected: BENCH_LAYOUTS.join(' | '), found: text, fix: 'e.g. --layout l2a' });
  }
  return text as BenchLayout;
}

/** Parse "2048,5490" into sizes. */
export function parseSizes(text: string): number[] {
  const sizes = text.split(',').map((s) => (/^\d+$/.test(s.trim()) ? Number(s.trim()) : NaN)); // decimal digits only (no 0x800)
  if (!sizes.length || sizes.some((s) => !Number.isInteger(s) || s < 256 || s > 20000)) {
    throw new UsageError('invalid --size', { input: `--size ${text}`, expected: 'comma-separated integers 256..20000', found: text, fix: 'e.g. --size 2048,5490,10980' });
  }
  return sizes;
}

/** The benchmark's own package version (for the report). */
export function packageVersion(): string {
  return (JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { version: string }).version;
}
