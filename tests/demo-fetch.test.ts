/**
 * `s2change demo` on a machine without the sample folder: each event with a `place` is fetched by STAC search and
 * HTTP range reads, here from a STAC API and a Range server on 127.0.0.1 serving the real 29RKH COGs (items shaped
 * like Earth Search v1); a second run takes the tiles from the cache; with neither samples nor network one plain
 * message says both ways to run it.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dataDir } from './helpers/gdal.js';
import { startRangeServer, type RangeServer } from './helpers/range-server.js';
import { startStacServer, type StacServer } from './helpers/stac-server.js';

const D = path.join(dataDir(), 's2-l2a-cog-29RKH/tests/fixtures/sentinel-cogs/sentinel-s2-l2a-cogs/29/R/KH/2020/2/S2A_29RKH_20200219_0_L2A');
const CLI = path.resolve('dist/cli/main.js');
const tmp = mkdtempSync(path.join(os.tmpdir(), 's2change-demo-fetch-'));
const AOI = [-11.765, 24.68, -11.69, 24.745];
let real: RangeServer;
let stac: StacServer;
let items: Record<string, any>[];

function variant(id: string, datetime: string, item: string): Record<string, any> {
  const base = JSON.parse(readFileSync(path.join(D, 'S2A_29RKH_20200219_0_L2A.json'), 'utf8'));
  base.id = id;
  base.properties.datetime = datetime;
  base.links = base.links.filter((l: any) => l.rel !== 'self' && l.rel !== 'canonical');
  for (const a of Object.values<any>(base.assets)) {
    const m = /\/([^/]+)$/.exec(a.href);
    if (m) a.href = `${real.url(m[1]!)}?item=${item}`;
  }
  return base;
}

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, S2CHANGE_DATA: path.join(tmp, 'no-samples-here') } });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (c: Buffer) => { stdout += c; });
    p.stderr.on('data', (c: Buffer) => { stderr += c; });
    p.on('error', reject);
    p.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

const ready = existsSync(D) && existsSync(CLI);
const events = path.join(tmp, 'events.json');

beforeAll(async () => {
  if (!ready) return;
  real = await startRangeServer(D);
  items = [variant('S2A_29RKH_20200201_0_L2A', '2020-02-01T11:34:25Z', 'A'), variant('S2A_29RKH_20200219_0_L2A', '2020-02-19T11:34:25Z', 'C')];
  stac = await startStacServer(items);
  writeFileSync(events, JSON.stringify({ events: [
    { id: 'desert-vegetation', title: 'test event in 29RKH', preset: 'vegetation', before: 'nowhere/b', after: 'nowhere/a',
      place: { bbox: AOI, eventDate: '2020-02-15', windowDays: 30 } },
    { id: 'no-place', title: 'an event with sample files only', preset: 'flood', before: 'x.png', after: 'y.png' },
  ] }));
});

afterAll(async () => {
  await Promise.all([real?.close(), stac?.close()]);
});

describe.skipIf(!ready)('demo without the sample folder', () => {
  const out = path.join(tmp, 'out');
  const net = () => ['--stac-api', stac.origin, '--allow-private-network', '--cache-dir', path.join(tmp, 'cache')];
  let first: Awaited<ReturnType<typeof cli>>;

  it('fetches the events that have a place and runs them; skips the others, saying why', async () => {
    first = await cli(['demo', '--events', events, '--out', out, ...net()]);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).toMatch(/sample data folder was not found; fetching/);
    expect(first.stdout).toMatch(/no-place\s+skipped: no place/);
    const summary = JSON.parse(readFileSync(path.join(out, 'desert-vegetation', 'summary.json'), 'utf8'));
    expect([summary.discovery.before.id, summary.discovery.after.id]).toEqual([items[0]!.id, items[1]!.id]);
    expect(summary.inputs.every((i: any) => i.bytesFetched > 0)).toBe(true);
    // the same real files on both dates: nothing changed
    expect(summary.areas.filter((a: any) => a.value !== 0).every((a: any) => a.pixels === 0)).toBe(true);
  }, 120_000);

  it('a second run takes the tiles from the cache', async () => {
    const before = JSON.parse(readFileSync(path.join(out, 'desert-vegetation', 'summary.json'), 'utf8'));
    const again = await cli(['demo', '--events', events, '--out', out, ...net()]);
    expect(again.code, again.stderr).toBe(0);
    const after = JSON.parse(readFileSync(path.join(out, 'desert-vegetation', 'summary.json'), 'utf8'));
    const bytes = (s: any) => s.inputs.reduce((t: number, i: any) => t + i.bytesFetched, 0);
    expect(bytes(after)).toBeLessThan(bytes(before) / 2);
    expect(after.areas).toEqual(before.areas);
  }, 120_000);

  it('with neither samples nor network it says plainly what it needs', async () => {
    const closed = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => { const p = (s.address() as { port: number }).port; s.close(() => resolve(p)); });
    });
    const r = await cli(['demo', '--events', events, '--out', path.join(tmp, 'offline'), '--stac-api', `http://127.0.0.1:${closed}`, '--allow-private-network', '--timeout', '2']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/needs its sample data or the network, and has neither/);
    expect(r.stderr).toMatch(/--data DIR/);
    expect(r.stderr).toMatch(/no-samples-here/);
  }, 60_000);
});
