/**
 * Issue #19 item 1: a remote STAC item never reaches the local filesystem. A 127.0.0.1 server serves malicious items
 * (file:///etc/passwd-like hrefs, a relative ../../ path, a local GeoTIFF's path, an ftp:// href); each must be the
 * typed URL_REFUSED error, no local file may be opened (the file source is spied on), and no byte of the "secret"
 * file may appear in a message. A local item may still name local files. Redirects to link-local/metadata addresses
 * stay refused with allowPrivateNetwork; --allow-host lets exactly one private host through.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';

const opened = vi.hoisted(() => [] as string[]);
vi.mock('../src/io/file-source.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../src/io/file-source.js')>();
  return { ...real, fileSource: (p: string) => { opened.push(p); return real.fileSource(p); } };
});

import { isS2ChangeError } from '../src/errors.js';
import { writeCog } from '../src/io/cog-writer.js';
import { openScene } from '../src/io/scene.js';
import { assetTarget } from '../src/io/stac-scene.js';
import { httpFetch } from '../src/io/http-source.js';
import { checkUrl, metadataRange } from '../src/io/url-policy.js';
import { normalizeItem } from '../src/io/stac-search.js';
import { measureClearFraction } from '../src/pipeline/discover.js';
import { startFaultServer, type FaultServer } from './helpers/fault-server.js';
import { rejection } from './helpers/rejection.js';

const FAST = { allowPrivateNetwork: true, retryBaseMs: 5, timeoutMs: 2000, retries: 0 };
const SECRET_TEXT = 'root:x:0:0:TOPSECRET-7f3a:/root:/bin/bash\n';
const tmp = mkdtempSync(path.join(os.tmpdir(), 's2change-item-origin-'));
const SECRET = path.join(tmp, 'passwd');
const LOCAL_TIF = path.join(tmp, 'B04.tif');
let srv: FaultServer;

/** A minimal Earth Search v1-shaped item whose red and nir assets have these hrefs. */
function item(red: string, nir = red): Record<string, unknown> {
  return {
    type: 'Feature', stac_version: '1.0.0', id: 'S2A_EVIL_20200219_0_L2A', bbox: [0, 0, 1, 1],
    geometry: { type: 'Polygon', coordinates: [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]] },
    properties: { datetime: '2020-02-19T11:00:00Z', platform: 'sentinel-2a', 's2:processing_baseline': '04.00' },
    links: [],
    assets: { red: { href: red, type: 'image/tiff; application=geotiff' }, nir: { href: nir, type: 'image/tiff; application=geotiff' } },
  };
}

/** No byte of the secret file (as text or as hex) in the message. */
function expectNoSecret(err: Error): void {
  expect(err.message).not.toContain('TOPSECRET');
  expect(err.message).not.toContain('root:x');
  expect(err.message).not.toMatch(/72 6f 6f 74/); // "root" as hex
}

beforeAll(async () => {
  writeFileSync(SECRET, SECRET_TEXT);
  const grid = { crs: { epsg: 32629 }, transform: [200000, 10, 0, 2800000, 0, -10] as [number, number, number, number, number, number], width: 8, height: 8 };
  await writeCog(LOCAL_TIF, { grid, bands: [new Uint16Array(64).fill(1234)] }, { nodata: 0 });
  srv = await startFaultServer();
  srv.routes.set('/items/passwd.json', { kind: 'json', body: item(`file://${SECRET}`) });
  srv.routes.set('/items/relative.json', { kind: 'json', body: item('../../../../../..' + SECRET) });
  srv.routes.set('/items/local-tif-path.json', { kind: 'json', body: item(LOCAL_TIF) });
  srv.routes.set('/items/local-tif-file-url.json', { kind: 'json', body: item(`file://localhost${LOCAL_TIF}`) });
  srv.routes.set('/items/mixed.json', { kind: 'json', body: item(srv.url('nothing-here.tif'), `file://${LOCAL_TIF}`) });
  srv.routes.set('/items/ftp.json', { kind: 'json', body: item('ftp://127.0.0.1/B04.tif') });
  srv.routes.set('/items/to-metadata.json', { kind: 'redirect', to: 'http://169.254.169.254/latest/meta-data/iam/' });
  srv.routes.set('/items/to-metadata-v6.json', { kind: 'redirect', to: 'http://[fd00:ec2::254]/latest/meta-data/' });
  srv.routes.set('/items/to-mapped-metadata.json', { kind: 'redirect', to: 'http://[::ffff:169.254.169.254]/latest/' });
});

afterAll(async () => {
  await srv?.close();
  rmSync(tmp, { recursive: true, force: true });
});

beforeEach(() => {
  opened.length = 0;
});

describe('a remote STAC item never reaches the local filesystem', () => {
  it.each([
    ['passwd.json', /scheme file:\/\//],
    ['local-tif-file-url.json', /scheme file:\/\//],
    ['mixed.json', /scheme file:\/\//],
    ['ftp.json', /scheme ftp:\/\//],
  ])('%s: URL_REFUSED, no local file opened, no secret bytes echoed', async (name, found) => {
    const err = await rejection(openScene(srv.url(`items/${name}`), { remote: FAST }));
    expect(isS2ChangeError(err, 'URL_REFUSED'), err.message).toBe(true);
    expect(err.message).toMatch(found);
    expect(err.message).toContain(`items/${name}`);
    expectNoSecret(err);
    expect(opened).toEqual([]);
  });

  it.each(['relative.json', 'local-tif-path.json'])('%s: a relative or absolute path resolves against the item URL (stays on the server), never the disk', async (name) => {
    srv.requests.length = 0;
    const err = await rejection(openScene(srv.url(`items/${name}`), { remote: FAST }));
    expect(opened).toEqual([]);
    // The asset was asked of the item's own server, at the path the URL rules give (dot segments clamp at its root).
    expect(srv.requests).toContain(name === 'relative.json' ? SECRET : LOCAL_TIF);
    expect(isS2ChangeError(err), err.message).toBe(true);
    expect(err.message).toMatch(/HTTP 404/);
    expectNoSecret(err);
  });

  it('a local item may name local files (positive control: the same GeoTIFF opens)', async () => {
    const local = path.join(tmp, 'item.json');
    writeFileSync(local, JSON.stringify(item('B04.tif', `file://${LOCAL_TIF}`)));
    const scene = await openScene(local);
    try {
      expect([...scene.bands.keys()].sort()).toEqual(['B04', 'B08']);
      expect(opened.sort()).toEqual([LOCAL_TIF, LOCAL_TIF]);
    } finally {
      await scene.close();
    }
  });

  it('a local item naming a non-image file: NotATiff error without its bytes', async () => {
    const local = path.join(tmp, 'item-secret.json');
    writeFileSync(local, JSON.stringify(item('passwd')));
    const err = await rejection(openScene(local));
    expect(isS2ChangeError(err, 'NOT_A_TIFF'), err.message).toBe(true);
    expect(err.message).toMatch(/plain text \(content not shown\)/);
    expectNoSecret(err);
  });

  it('a search result whose SCL href is file:// (pair discovery): URL_REFUSED, the SCL file never opened', async () => {
    const json = item(srv.url('B04.tif'));
    (json.assets as Record<string, unknown>).scl = { href: `file://${LOCAL_TIF}`, type: 'image/tiff; application=geotiff' };
    (json.properties as Record<string, unknown>)['eo:cloud_cover'] = 10;
    const err = await rejection(measureClearFraction(normalizeItem(json, srv.url('search')), { minX: 0, minY: 0, maxX: 1, maxY: 1 }, FAST));
    expect(isS2ChangeError(err, 'URL_REFUSED'), err.message).toBe(true);
    expect(opened).toEqual([]);
  });

  it('assetTarget: the rule table (remote: http(s) only; local: also paths and file:///; no other scheme)', () => {
    const ok = (href: string, origin: 'local' | 'remote') => assetTarget(href, origin, 'item.json', 'red');
    const refused = (href: string, origin: 'local' | 'remote') => {
      try {
        ok(href, origin);
      } catch (err) {
        return isS2ChangeError(err, 'URL_REFUSED');
      }
      return false;
    };
    expect(ok('https://h/x.tif', 'remote')).toEqual({ kind: 'url', url: 'https://h/x.tif' });
    expect(ok('HTTP://h/x.tif', 'remote').kind).toBe('url');
    for (const h of ['file:///etc/passwd', '/etc/passwd', '../../etc/passwd', 'B04.tif', 'ftp://h/x', 's3://b/k.tif', 'data:,x', 'jar:file:///x!/y', 'FILE:///etc/passwd']) {
      expect(refused(h, 'remote'), h).toBe(true);
    }
    expect(ok('file:///d/B04.tif', 'local')).toEqual({ kind: 'file', path: '/d/B04.tif' });
    expect(ok('file:///d/B%2004.tif', 'local')).toEqual({ kind: 'file', path: '/d/B 04.tif' });
    expect(ok('/d/B04.tif', 'local')).toEqual({ kind: 'file', path: '/d/B04.tif' });
    for (const h of ['ftp://h/x', 's3://b/k.tif', 'data:,x', 'file://otherhost/etc/passwd']) expect(refused(h, 'local'), h).toBe(true);
  });
});

describe('link-local and metadata addresses stay refused with allowPrivateNetwork', () => {
  it.each(['to-metadata.json', 'to-metadata-v6.json', 'to-mapped-metadata.json'])('redirect %s -> URL_REFUSED', async (name) => {
    const err = await rejection(openScene(srv.url(`items/${name}`), { remote: FAST }));
    expect(isS2ChangeError(err, 'URL_REFUSED'), err.message).toBe(true);
    expect(err.message).toMatch(/metadata|link-local/);
    expect(err.message).toMatch(/--allow-host/);
  });

  it('checkUrl: metadata ranges refused with allowPrivateNetwork, a named --allow-host passes, other private hosts pass', async () => {
    for (const u of ['http://169.254.169.254/', 'http://169.254.1.1/', 'http://[fd00:ec2::254]/', 'http://[fe80::1]/', 'http://100.100.100.200/']) {
      const err = await rejection(checkUrl(u, { allowPrivateNetwork: true }));
      expect(isS2ChangeError(err, 'URL_REFUSED'), u).toBe(true);
    }
    await expect(checkUrl('http://169.254.169.254/', { allowHosts: ['169.254.169.254'] })).resolves.toBeTruthy();
    await expect(checkUrl('http://10.0.0.5:8080/', { allowPrivateNetwork: true })).resolves.toBeTruthy();
    await expect(checkUrl('http://[fd00:1::5]/', { allowPrivateNetwork: true })).resolves.toBeTruthy();
    // A DNS name that resolves to the metadata address is judged by the address.
    const err = await rejection(checkUrl('http://metadata.example/', { allowPrivateNetwork: true, resolve: async () => [{ address: '169.254.169.254', family: 4 }] }));
    expect(isS2ChangeError(err, 'URL_REFUSED')).toBe(true);
    expect(metadataRange('8.8.8.8')).toBeNull();
    expect(metadataRange('10.0.0.1')).toBeNull();
  });

  it('allowHosts opens exactly the named host:port, not the rest of the private network', async () => {
    srv.routes.set('/hello.json', { kind: 'json', body: { ok: 1 } });
    const host = new URL(srv.origin).host;
    const res = await httpFetch(srv.url('hello.json'), { allowHosts: [host], retries: 0 });
    expect(res.status).toBe(200);
    const err = await rejection(httpFetch('http://127.0.0.2:9/x', { allowHosts: [host], retries: 0 }));
    expect(isS2ChangeError(err, 'URL_REFUSED')).toBe(true);
  });
});

describe.skipIf(!existsSync(path.resolve('dist/cli/main.js')))('through the compiled CLI', () => {
  it.each(['passwd.json', 'local-tif-file-url.json'])('detect --after <remote item %s>: exit 1 URL_REFUSED, nothing in --out, no secret', async (name) => {
    const out = path.join(tmp, `cli-${name}`);
    // Asynchronous spawn: the item server runs in this process and must keep answering.
    const child = spawn(process.execPath, [path.resolve('dist/cli/main.js'), 'detect', '--preset', 'water', '--after', srv.url(`items/${name}`),
      '--allow-private-network', '--no-cache', '--out', out], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, HOME: tmp } });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += String(d)));
    const kill = setTimeout(() => child.kill('SIGKILL'), 60_000);
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    clearTimeout(kill);
    expect(code, stderr).toBe(1);
    expect(stderr).toMatch(/error \[URL_REFUSED\].*remote STAC item may not name local files/);
    expect(stderr).not.toContain('TOPSECRET');
    expect(existsSync(out)).toBe(false);
  });
});
