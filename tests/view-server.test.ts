/**
 * The `s2change view` server on a real run (the CAL FIRE INCIDENT chip, detect run by the test into a temp dir):
 * Range answers checked against the file's own bytes, 127.0.0.1 only (listening address, Host header, a
 * non-loopback interface refused), path traversal and unlisted files refused, the CSP header, and the CLI serving
 * until SIGTERM.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dataDir } from './helpers/gdal.js';
import { isLoopback, parseBasemap, parseRange, startViewServer, type ViewServer } from '../src/view/server.js';
import { parseRadiometry } from '../src/view/manifest.js';

const CLI = path.resolve('dist/cli/main.js');
const FIRE = path.join(dataDir(), 'wildfire-calfire-s2', 'data');
const BEFORE = path.join(FIRE, 'pre_fire', '5_INCIDENT_20240715.tif');
const AFTER = path.join(FIRE, 'post_fire', '5_INCIDENT_20240715.tif');
const ready = existsSync(CLI) && existsSync(BEFORE) && existsSync(path.resolve('dist/viewer/index.html'));

/** A raw GET: the path is sent exactly as given (no URL normalisation), with optional headers. */
function get(port: number, rawPath: string, headers: Record<string, string> = {}, method = 'GET', host = '127.0.0.1'):
  Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request({ host, port, path: rawPath, method, headers: { Host: `127.0.0.1:${port}`, ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('view server helpers', () => {
  it('parses single byte ranges like RFC 9110', () => {
    expect(parseRange('bytes=0-9', 100)).toEqual({ start: 0, end: 9 });
    expect(parseRange('bytes=90-', 100)).toEqual({ start: 90, end: 99 });
    expect(parseRange('bytes=-5', 100)).toEqual({ start: 95, end: 99 });
    expect(parseRange('bytes=95-200', 100)).toEqual({ start: 95, end: 99 });
    expect(parseRange('bytes=100-', 100)).toBe('unsatisfiable');
    expect(parseRange('bytes=-0', 100)).toBe('unsatisfiable');
    expect(parseRange('bytes=0-1,5-6', 100)).toBeNull();
    expect(parseRange('items=0-1', 100)).toBeNull();
    expect(parseRange(undefined, 100)).toBeNull();
  });

  it('knows loopback addresses only', () => {
    for (const a of ['127.0.0.1', '::ffff:127.0.0.1', '::1']) expect(isLoopback(a)).toBe(true);
    for (const a of ['10.0.0.5', '192.168.1.2', '::ffff:10.0.0.5', '127.0.0.2x', undefined]) expect(isLoopback(a)).toBe(false);
  });

  it('accepts a basemap only as "osm" or an http(s) XYZ template', () => {
    expect(parseBasemap('osm').url).toBe('https://tile.openstreetmap.org/{z}/{x}/{y}.png');
    expect(parseBasemap('https://tiles.example.org/{z}/{x}/{y}.png').attribution).toContain('tiles.example.org');
    for (const bad of ['ftp://tiles.example.org/{z}/{x}/{y}.png', 'https://tiles.example.org/{z}/{x}.png', 'javascript:alert(1)//{z}{x}{y}', 'tiles']) {
      expect(() => parseBasemap(bad), bad).toThrow(/--basemap: not a basemap/);
    }
  });

  it('reads the radiometry summary.json writes', () => {
    expect(parseRadiometry('(DN − 1000) × 0.0001; nodata 0; baseline 04.00')).toEqual({ scale: 0.0001, offset: -1000, nodata: 0 });
    expect(parseRadiometry('(DN + 0) × 0.0001; nodata null; float values')).toEqual({ scale: 0.0001, offset: 0, nodata: null });
    expect(parseRadiometry('something else')).toBeNull();
  });
});

describe.skipIf(!ready)('view server on a real run', () => {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 's2change-view-'));
  const out = path.join(tmp, 'incident');
  let server: ViewServer;

  beforeAll(async () => {
    const r = spawnSync(process.execPath, [CLI, 'detect', '--before', BEFORE, '--after', AFTER, '--preset', 'wildfire', '--out', out], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    writeFileSync(path.join(out, 'not-an-output.txt'), 'secret');
    server = await startViewServer({ dir: out });
  });
  afterAll(async () => { await server?.close(); });

  it('listens on 127.0.0.1 only and says so in its URL', () => {
    expect(server.url).toBe(`http://127.0.0.1:${server.port}/`);
  });

  it('answers Range requests with 206 and the file\'s own bytes, 416 past the end', async () => {
    const file = readFileSync(path.join(out, 'change.tif'));
    const a = await get(server.port, '/run/change.tif', { Range: 'bytes=10-19' });
    expect(a.status).toBe(206);
    expect(a.headers['content-range']).toBe(`bytes 10-19/${file.length}`);
    expect(a.body.equals(file.subarray(10, 20))).toBe(true);
    const tail = await get(server.port, '/run/change.tif', { Range: 'bytes=-7' });
    expect(tail.status).toBe(206);
    expect(tail.body.equals(file.subarray(file.length - 7))).toBe(true);
    const whole = await get(server.port, '/run/change.tif');
    expect(whole.status).toBe(200);
    expect(whole.headers['accept-ranges']).toBe('bytes');
    expect(whole.body.equals(file)).toBe(true);
    const past = await get(server.port, '/run/change.tif', { Range: `bytes=${file.length}-` });
    expect(past.status).toBe(416);
    expect(past.headers['content-range']).toBe(`bytes */${file.length}`);
    const input = readFileSync(BEFORE);
    const inp = await get(server.port, `/input/before/${encodeURIComponent(path.basename(BEFORE))}`, { Range: 'bytes=100-1123' });
    expect(inp.status).toBe(206);
    expect(inp.body.equals(input.subarray(100, 1124))).toBe(true);
  });

  it('refuses other Host headers (DNS rebinding) and other methods', async () => {
    expect((await get(server.port, '/', { Host: 'evil.example' })).status).toBe(403);
    expect((await get(server.port, '/', { Host: `attacker.test:${server.port}` })).status).toBe(403);
    expect((await get(server.port, '/', { Host: `localhost:${server.port}` })).status).toBe(200);
    expect((await get(server.port, '/run/summary.json', {}, 'POST')).status).toBe(405);
  });

  it('is not reachable on a non-loopback interface', async () => {
    const external = Object.values(os.networkInterfaces()).flat().find((i) => i && i.family === 'IPv4' && !i.internal);
    if (!external) return; // no other interface on this machine: the listening address test above covers it
    await expect(get(server.port, '/', { Host: `${external.address}:${server.port}` }, 'GET', external.address)).rejects.toThrow(/ECONNREFUSED/);
  });

  it('serves only the run\'s listed outputs and inputs: traversal and unlisted files are 404', async () => {
    expect((await get(server.port, '/run/report.html')).status).toBe(200);
    expect((await get(server.port, '/run/summary.json')).status).toBe(200);
    for (const p of [
      '/run/../../../../etc/passwd', '/run/..%2F..%2F..%2F..%2Fetc%2Fpasswd', '/run/%2e%2e/%2e%2e/etc/passwd',
      '/input/before/..%2F..%2F..%2F..%2Fetc%2Fpasswd', '/input/before/../post_fire/5_INCIDENT_20240715.tif',
      '/run/not-an-output.txt', '/not-an-output.txt', '/run/', '/input/', '/../package.json', '//etc/passwd',
      '/run/change.tif%00.html', `/input/before/${encodeURIComponent(BEFORE)}`,
    ]) {
      const r = await get(server.port, p);
      expect(r.status, p).toBe(404);
      expect(r.body.toString()).not.toContain('root:');
      expect(r.body.toString()).not.toContain('secret');
    }
  });

  it('sends a strict Content-Security-Policy with the page and every file', async () => {
    for (const p of ['/', '/viewer.js', '/manifest.json', '/run/change.tif']) {
      const r = await get(server.port, p);
      expect(r.status, p).toBe(200);
      const csp = String(r.headers['content-security-policy']);
      expect(csp).toContain("default-src 'none'");
      expect(csp).toContain("script-src 'self'");
      expect(csp).toContain("connect-src 'self'");
      expect(csp).not.toMatch(/unsafe-inline|unsafe-eval|\*/);
      expect(r.headers['x-content-type-options']).toBe('nosniff');
    }
    const page = (await get(server.port, '/')).body.toString();
    expect(page).not.toMatch(/<script(?![^>]*\bsrc=)/); // no inline script
    expect(page).not.toMatch(/https?:\/\//); // nothing from a CDN
  });

  it('has no basemap unless asked; with one, its origin only is allowed for images', async () => {
    const plain = JSON.parse((await get(server.port, '/manifest.json')).body.toString());
    expect(plain.basemap).toBeNull();
    const withMap = await startViewServer({ dir: out, basemap: parseBasemap('https://tiles.example.org/{z}/{x}/{y}.png') });
    try {
      const r = await get(withMap.port, '/');
      const csp = String(r.headers['content-security-policy']);
      expect(csp).toContain("img-src 'self' data: blob: https://tiles.example.org;");
      expect(csp).toContain("connect-src 'self';");
      const mf = JSON.parse((await get(withMap.port, '/manifest.json')).body.toString());
      expect(mf.basemap.url).toBe('https://tiles.example.org/{z}/{x}/{y}.png');
    } finally {
      await withMap.close();
    }
  });

  it('describes the run for the page: band files and samples, the index and the mean pixel area', async () => {
    const mf = JSON.parse((await get(server.port, '/manifest.json')).body.toString());
    const before = mf.inputs.find((i: any) => i.role === 'before');
    // band descriptions of the file, as gdalinfo lists them: B2 B3 B4 B8 B12
    expect(before.bands.B04.sample).toBe(3);
    expect(before.bands.B12.sample).toBe(5);
    expect(before.bands.B08.scale).toBe(0.0001);
    expect(mf.index).toMatchObject({ url: '/run/dnbr.tif', perDateIndex: 'NBR' });
    const summary = JSON.parse(readFileSync(path.join(out, 'summary.json'), 'utf8'));
    // 20 m pixels at 35.8° N: about 0.0324 ha each (ellipsoidal area as the run measured it)
    expect(mf.hectaresPerPixel).toBeCloseTo(summary.areas.reduce((s: number, a: any) => s + a.hectares, 0) / summary.pixels.valid, 10);
    expect(mf.hectaresPerPixel).toBeGreaterThan(0.030);
    expect(mf.hectaresPerPixel).toBeLessThan(0.034);
  });
});

describe.skipIf(!ready)('s2change view (CLI)', () => {
  it('prints the URL, serves, and exits 0 on SIGTERM', async () => {
    const tmp = mkdtempSync(path.join(os.tmpdir(), 's2change-view-cli-'));
    const out = path.join(tmp, 'run');
    const r = spawnSync(process.execPath, [CLI, 'detect', '--before', BEFORE, '--after', AFTER, '--preset', 'wildfire', '--out', out], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const child = spawn(process.execPath, [CLI, 'view', out, '--no-open'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const url = await new Promise<string>((resolve, reject) => {
      let buf = '';
      child.stdout.on('data', (d: Buffer) => { buf += d.toString(); const m = /http:\/\/127\.0\.0\.1:\d+\//.exec(buf); if (m) resolve(m[0]); });
      child.on('exit', (code) => reject(new Error(`view exited early with ${code}`)));
    });
    const port = Number(new URL(url).port);
    expect((await get(port, '/')).status).toBe(200);
    const code = await new Promise<number | null>((resolve) => { child.removeAllListeners('exit'); child.on('exit', (c) => resolve(c)); child.kill('SIGTERM'); });
    expect(code).toBe(0);
  });

  it('refuses a folder without summary.json with a typed error and exit 1', () => {
    const r = spawnSync(process.execPath, [CLI, 'view', os.tmpdir(), '--no-open'], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/INPUT_NOT_FOUND.*summary\.json/);
  });
});

describe('what the viewer serves of a run (planView)', () => {
  it('maps a band folder\'s files to bands, skips SCL and unlisted or outside paths, and shows no remote input', async () => {
    const { planView } = await import('../src/view/manifest.js');
    const tmp = mkdtempSync(path.join(os.tmpdir(), 's2change-view-plan-'));
    const bands = path.join(tmp, 'imgs_1');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(bands);
    for (const f of ['T22LHH_B02.tif', 'T22LHH_B03.tif', 'T22LHH_B04.tif', 'T22LHH_SCL.tif']) writeFileSync(path.join(bands, f), 'x');
    const run = path.join(tmp, 'run');
    mkdirSync(run);
    for (const f of ['change.tif', 'dndvi.tif']) writeFileSync(path.join(run, f), 'x');
    writeFileSync(path.join(run, 'summary.json'), JSON.stringify({
      preset: { name: 'vegetation', title: 'Vegetation' }, method: 'threshold', thresholds: [{ name: 't', value: 0.2, source: 'fixed' }],
      inputs: [
        { role: 'before', input: bands, format: 'band-folder', provenance: { files: ['T22LHH_B02.tif', 'T22LHH_B03.tif', 'T22LHH_B04.tif', 'T22LHH_SCL.tif', '../../etc/passwd'] },
          radiometry: { B04: '(DN − 1000) × 0.0001; nodata 0; baseline 04.00' } },
        { role: 'after', input: 'https://example.test/items/x.json', format: 'stac-item', provenance: {} },
      ],
      areas: [{ value: 0, pixels: 300, hectares: 3 }, { value: 1, pixels: 100, hectares: 1 }],
      outputs: [{ name: 'change.tif' }, { name: 'dndvi.tif' }, { name: '../secret' }, { name: 'missing.png' }],
    }));
    const plan = await planView(run);
    const before = plan.manifest.inputs[0]!;
    expect(Object.keys(before.bands).sort()).toEqual(['B02', 'B03', 'B04']);
    expect(before.bands.B04).toEqual({ url: '/input/before/T22LHH_B04.tif', sample: 1, scale: 0.0001, offset: -1000, nodata: 0 });
    expect(plan.files.get('/input/before/T22LHH_B04.tif')?.file).toBe(path.join(bands, 'T22LHH_B04.tif'));
    expect(plan.manifest.inputs[1]!.notShown).toMatch(/remote/);
    expect(plan.remote).toEqual([]);
    // only listed outputs that exist, never a path outside the folder
    expect([...plan.files.keys()].sort()).toEqual(['/input/before/T22LHH_B02.tif', '/input/before/T22LHH_B03.tif', '/input/before/T22LHH_B04.tif', '/run/change.tif', '/run/dndvi.tif', '/run/summary.json']);
    expect(plan.manifest.index).toMatchObject({ url: '/run/dndvi.tif', perDateIndex: 'NDVI', sign: 'after-before' });
    expect(plan.manifest.hectaresPerPixel).toBeCloseTo(0.01, 12);
  });
});

describe('remote inputs: proxied through the HTTP layer and its URL policy', () => {
  it('serves a local STAC item\'s URL assets by range through the view server; a private address is refused by default', async () => {
    const { startRangeServer } = await import('./helpers/range-server.js');
    const { mkdirSync, copyFileSync } = await import('node:fs');
    const COG = path.join(dataDir(), 's2-l2a-cog-29RKH', 'tests');
    const b04 = (await import('node:child_process')).execFileSync('find', [COG, '-name', 'B04.tif'], { encoding: 'utf8' }).trim().split('\n')[0]!;
    if (!b04) return;
    const tmp = mkdtempSync(path.join(os.tmpdir(), 's2change-view-remote-'));
    const served = path.join(tmp, 'served');
    mkdirSync(served);
    copyFileSync(b04, path.join(served, 'B04.tif'));
    const remote = await startRangeServer(served);
    try {
      const item = path.join(tmp, 'item.json');
      writeFileSync(item, JSON.stringify({
        type: 'Feature', id: 'x', properties: { datetime: '2020-02-19T11:34:25Z' }, geometry: null, links: [],
        assets: { red: { href: remote.url('/B04.tif'), type: 'image/tiff' }, nir: { href: 'B08.tif' } },
      }));
      const run = path.join(tmp, 'run');
      mkdirSync(run);
      writeFileSync(path.join(run, 'summary.json'), JSON.stringify({
        preset: { name: 'vegetation', title: 'Vegetation' }, method: 'threshold',
        inputs: [{ role: 'before', input: item, format: 'stac-item', provenance: {} }], outputs: [],
      }));
      const bytes = readFileSync(b04);
      const open = await startViewServer({ dir: run, remote: { allowPrivateNetwork: true, retries: 0 } });
      try {
        const ref = open.plan.manifest.inputs[0]!.bands.B04!;
        expect(ref.url).toBe('/input/before/B04.tif');
        const r = await get(open.port, ref.url, { Range: 'bytes=1000-1999' });
        expect(r.status).toBe(206);
        expect(r.headers['content-range']).toBe(`bytes 1000-1999/${bytes.length}`);
        expect(r.body.equals(bytes.subarray(1000, 2000))).toBe(true);
        expect(r.headers['content-security-policy']).toContain("default-src 'none'");
      } finally {
        await open.close();
      }
      // the CLI's default policy: public addresses only, so a 127.0.0.1 asset is refused (502), never fetched
      const strict = await startViewServer({ dir: run, remote: { retries: 0 } });
      try {
        const before = remote.stats.requests;
        const r = await get(strict.port, '/input/before/B04.tif', { Range: 'bytes=0-99' });
        expect(r.status).toBe(502);
        expect(r.body.toString()).toMatch(/refused|private|loopback|not public/i);
        expect(remote.stats.requests).toBe(before);
      } finally {
        await strict.close();
      }
      // the CLI: `view --allow-private-network` lets the proxy reach the 127.0.0.1 asset (as a run made with that flag)
      if (existsSync(CLI)) {
        const child = spawn(process.execPath, [CLI, 'view', run, '--no-open', '--allow-private-network'], { stdio: ['ignore', 'pipe', 'pipe'] });
        try {
          const port = await new Promise<string>((resolve, reject) => {
            let buf = '';
            child.stdout.on('data', (d: Buffer) => { buf += d.toString(); const m = /http:\/\/127\.0\.0\.1:(\d+)\//.exec(buf); if (m) resolve(m[1]!); });
            child.on('exit', (c) => reject(new Error(`view exited ${c}`)));
          });
          const r = await get(Number(port), '/input/before/B04.tif', { Range: 'bytes=0-99' });
          expect(r.status).toBe(206);
          expect(r.body.equals(bytes.subarray(0, 100))).toBe(true);
        } finally {
          child.kill('SIGTERM');
        }
      }
    } finally {
      await remote.close();
    }
  });
});
