import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { isS2ChangeError } from '../src/errors.js';
import { httpFetch, httpSource, parseContentRange, parseRetryAfter, type HttpSourceOptions } from '../src/io/http-source.js';
import { checkUrl, nonPublicRange } from '../src/io/url-policy.js';
import { diskRangeCache, memoryRangeCache } from '../src/io/range-cache.js';
import { startRangeServer, type RangeServer } from './helpers/range-server.js';

const DATA = process.env.S2CHANGE_DATA ?? path.resolve(import.meta.dirname, '../../shared/data');
const SCENE = path.join(
  DATA,
  's2-l2a-cog-29RKH/tests/fixtures/sentinel-cogs/sentinel-s2-l2a-cogs/29/R/KH/2020/2/S2A_29RKH_20200219_0_L2A',
);
const B02 = readFileSync(path.join(SCENE, 'B02.tif'));
const SCL = readFileSync(path.join(SCENE, 'SCL.tif'));

/** Fast options for tests: private network allowed (the server is on 127.0.0.1), tiny backoff. */
const FAST: HttpSourceOptions = { allowPrivateNetwork: true, retryBaseMs: 5, timeoutMs: 2000 };

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

let srv: RangeServer;
let other: RangeServer;
beforeAll(async () => {
  srv = await startRangeServer(SCENE);
  other = await startRangeServer(SCENE);
});
afterAll(async () => {
  await srv.close();
  await other.close();
});
afterEach(() => {
  Object.assign(srv.faults, { fail503: 0, fail429: 0, dropMidBody: 0, hang: false, ignoreRange: false, noValidator: false, etagSuffix: '' });
  srv.faults.redirects.clear();
  srv.resetStats();
});

describe('httpSource reads', () => {
  it('returns exactly the file bytes for arbitrary ranges, and the size', async () => {
    const src = httpSource(srv.url('B02.tif'), FAST);
    expect(await src.size()).toBe(B02.length);
    await fc.assert(
      fc.asyncProperty(fc.nat(B02.length), fc.nat(300_000), async (off, len) => {
        const length = Math.min(len, B02.length - off);
        const got = await src.read(off, length);
        expect(got.length).toBe(length);
        expect(Buffer.from(got).equals(B02.subarray(off, off + length))).toBe(true);
      }),
      { numRuns: 40 },
    );
    expect(src.stats.bytesFetched).toBe(srv.stats.bytes);
    await expect(src.read(B02.length - 2, 10)).rejects.toMatchObject({ code: 'CORRUPT_TIFF' });
    await src.close();
  });

  it('serves small reads inside the first 64 KiB from the read-ahead block (one request)', async () => {
    const src = httpSource(srv.url('B02.tif'), FAST);
    await src.read(0, 8);
    await src.read(100, 2000);
    await src.read(60_000, 5536);
    expect(srv.stats.requests).toBe(1);
    expect(srv.stats.log[0]).toContain('bytes=0-65535');
    expect(src.stats.requests).toBe(1);
  });

  it('works under the TIFF reader: pixels equal GDAL', async () => {
    const { openTiff } = await import('../src/io/tiff/index.js');
    const tif = await openTiff(httpSource(srv.url('B02.tif'), FAST));
    const [px] = await tif.images[0].readWindow({ x: 100, y: 200, width: 4, height: 2 }, [0]);
    await tif.close();
    const gdal = execFileSync('/usr/bin/python3', [
      '-c',
      `from osgeo import gdal\nd = gdal.Open(${JSON.stringify(path.join(SCENE, 'B02.tif'))})\nprint(d.GetRasterBand(1).ReadAsArray(100, 200, 4, 2).flatten().tolist())`,
    ]).toString();
    expect(Array.from(px)).toEqual(JSON.parse(gdal));
  });

  it('limits parallel requests to `concurrency`', async () => {
    const slow = await startRangeServer(SCENE, { delayMs: 40 });
    try {
      const src = httpSource(slow.url('B02.tif'), { ...FAST, concurrency: 2, headerBytes: 1024 });
      await src.size();
      await Promise.all(Array.from({ length: 8 }, (_, i) => src.read(100_000 + i * 10_000, 5000)));
      expect(slow.stats.maxActive).toBeLessThanOrEqual(2);
      expect(slow.stats.requests).toBe(9);
    } finally {
      await slow.close();
    }
  });
});

describe('httpSource faults', () => {
  it('retries 503 and 429 and still returns the right bytes', async () => {
    srv.faults.fail503 = 2;
    srv.faults.fail429 = 1;
    const src = httpSource(srv.url('B02.tif'), FAST);
    const got = await src.read(200_000, 1000);
    expect(Buffer.from(got).equals(B02.subarray(200_000, 201_000))).toBe(true);
    expect(src.stats.retries).toBe(3);
  });

  it('honours Retry-After, capped by maxRetryDelayMs', async () => {
    srv.faults.fail503 = 1;
    srv.faults.retryAfter = '30';
    const src = httpSource(srv.url('SCL.tif'), { ...FAST, maxRetryDelayMs: 300 });
    const t0 = Date.now();
    await src.size();
    const dt = Date.now() - t0;
    srv.faults.retryAfter = undefined;
    expect(dt).toBeGreaterThanOrEqual(280); // backoff alone would be <= 5 ms
    expect(dt).toBeLessThan(3000);
  });

  it('survives a connection dropped mid-body', async () => {
    const src = httpSource(srv.url('B02.tif'), FAST);
    await src.size();
    srv.faults.dropMidBody = 2;
    const got = await src.read(500_000, 300_000);
    expect(Buffer.from(got).equals(B02.subarray(500_000, 800_000))).toBe(true);
    expect(src.stats.retries).toBe(2);
  });

  it('gives up on a server that never answers with NetworkError, in bounded time', async () => {
    srv.faults.hang = true;
    const src = httpSource(srv.url('B02.tif'), { ...FAST, timeoutMs: 150, retries: 1 });
    const t0 = Date.now();
    const err = await rejection(src.size());
    expect(isS2ChangeError(err, 'NETWORK')).toBe(true);
    expect(String(err)).toMatch(/timeout/);
    expect(Date.now() - t0).toBeLessThan(2000);
  });

  it('reports the final status after exhausting retries on persistent 503', async () => {
    srv.faults.fail503 = 100;
    const err = await rejection(httpSource(srv.url('B02.tif'), { ...FAST, retries: 2 }).size());
    expect(isS2ChangeError(err, 'NETWORK')).toBe(true);
    expect(String(err)).toContain('503');
    expect(srv.stats.requests).toBe(3);
  });

  it('enforces maxBytes with LimitExceededError naming --max-fetch-mb', async () => {
    const src = httpSource(srv.url('B02.tif'), { ...FAST, maxBytes: 100_000 });
    await src.read(0, 100); // 64 KiB read-ahead
    const err = await rejection(src.read(1_000_000, 50_000));
    expect(isS2ChangeError(err, 'LIMIT_EXCEEDED')).toBe(true);
    expect(String(err)).toContain('--max-fetch-mb');
    expect(srv.stats.bytes).toBeLessThanOrEqual(100_000); // refused before asking
    expect(Buffer.from(await src.read(1_000_000, 30_000)).equals(B02.subarray(1_000_000, 1_030_000))).toBe(true);
  });

  it('accepts a server ignoring Range for a small file only', async () => {
    srv.faults.ignoreRange = true;
    const small = httpSource(srv.url('SCL.tif'), FAST);
    expect(await small.size()).toBe(SCL.length);
    expect(Buffer.from(await small.read(SCL.length - 10, 10)).equals(SCL.subarray(SCL.length - 10))).toBe(true);
    const err = await rejection(httpSource(srv.url('B02.tif'), FAST).read(0, 10));
    expect(isS2ChangeError(err, 'NETWORK')).toBe(true);
    expect(String(err)).toMatch(/ignores HTTP Range/);
  });

  it('refuses to mix versions when the ETag changes between reads', async () => {
    const src = httpSource(srv.url('B02.tif'), FAST);
    await src.size();
    srv.faults.etagSuffix = '-v2';
    const err = await rejection(src.read(300_000, 10));
    expect(String(err)).toMatch(/changed while being read/);
  });

  it('follows redirects to another port and path', async () => {
    srv.faults.redirects.set('/moved/B02.tif', other.url('B02.tif'));
    srv.faults.redirects.set('/rel/B02.tif', '/moved/B02.tif');
    const src = httpSource(srv.url('rel/B02.tif'), FAST);
    expect(Buffer.from(await src.read(1_500_000, 100)).equals(B02.subarray(1_500_000, 1_500_100))).toBe(true);
  });

  it('stops after 5 redirects', async () => {
    srv.faults.redirects.set('/loop', '/loop');
    const err = await rejection(httpSource(srv.url('loop'), FAST).size());
    expect(String(err)).toMatch(/too many redirects/);
    expect(srv.stats.requests).toBe(6);
  });
});

describe('URL policy', () => {
  it('refuses loopback without allowPrivateNetwork, before connecting', async () => {
    const err = await rejection(httpSource(srv.url('B02.tif')).size());
    expect(isS2ChangeError(err, 'URL_REFUSED')).toBe(true);
    expect(String(err)).toContain('127.0.0.1');
    expect(String(err)).toContain('--allow-private-network');
    expect(srv.stats.requests).toBe(0);
  });

  it('re-checks redirect targets: an allowed host redirecting to a private one is refused', async () => {
    other.resetStats();
    srv.faults.redirects.set('/B02.tif', other.url('B02.tif'));
    const err = await rejection(httpSource(srv.url('B02.tif'), { retryBaseMs: 5, allowHosts: [`127.0.0.1:${srv.port}`] }).size());
    expect(isS2ChangeError(err, 'URL_REFUSED')).toBe(true);
    expect(String(err)).toContain(String(other.port));
    expect(srv.stats.requests).toBe(1);
    expect(other.stats.requests).toBe(0);
    srv.faults.redirects.set('/B02.tif', 'file:///etc/passwd');
    expect(await rejection(httpSource(srv.url('B02.tif'), FAST).size())).toMatchObject({ code: 'URL_REFUSED' });
  });

  it('refuses file:// and ftp:// and names what is allowed', async () => {
    for (const u of ['file:///etc/passwd', 'ftp://example.com/x.tif', 'gopher://x/']) {
      const err = await rejection(checkUrl(u, { allowPrivateNetwork: true }));
      expect(isS2ChangeError(err, 'URL_REFUSED')).toBe(true);
      expect(String(err)).toContain('http:// or https://');
    }
  });

  it('judges addresses by the RFC ranges (incl. IPv4-mapped IPv6)', () => {
    const nonPublic = ['127.0.0.1', '127.255.0.9', '10.1.2.3', '172.16.0.1', '172.31.255.255', '192.168.1.1', '169.254.169.254',
      '100.64.0.1', '100.127.255.254', '0.0.0.0', '224.0.0.251', '255.255.255.255', '::1', '::', 'fe80::1', 'fd12:3456::1',
      'fc00::1', 'ff02::1', '::ffff:127.0.0.1', '::ffff:7f00:1', '::ffff:169.254.169.254', '64:ff9b::a00:1', '::ffff:10.0.0.1'];
    const pub = ['8.8.8.8', '1.1.1.1', '172.32.0.1', '100.128.0.1', '169.255.0.1', '52.92.0.1', '2001:4860:4860::8888',
      '::ffff:8.8.8.8', '2600:1f18::1'];
    for (const ip of nonPublic) expect(nonPublicRange(ip), ip).not.toBeNull();
    for (const ip of pub) expect(nonPublicRange(ip), ip).toBeNull();
    expect(nonPublicRange('169.254.169.254')).toContain('metadata');
  });

  it('refuses a host name that resolves to a private address (any of several)', async () => {
    const resolve = async () => [{ address: '93.184.216.34', family: 4 as const }, { address: '10.0.0.7', family: 4 as const }];
    const err = await rejection(checkUrl('https://rebind.example/x.tif', { resolve }));
    expect(String(err)).toContain('10.0.0.7');
    const e2 = await rejection(checkUrl('http://[::ffff:127.0.0.1]:80/x', {}));
    expect(isS2ChangeError(e2, 'URL_REFUSED')).toBe(true);
  });

  it('connects to the checked address, never re-resolving the name (DNS rebinding)', async () => {
    // "pinned.invalid" cannot resolve through real DNS; the request can only reach the server via the pinned address.
    const resolve = async () => [{ address: '127.0.0.1', family: 4 as const }];
    const src = httpSource(`http://pinned.invalid:${srv.port}/SCL.tif`, { ...FAST, resolve });
    expect(await src.size()).toBe(SCL.length);
  });
});

describe('range caches', () => {
  it('a second source sharing a cache reads from it, not the server', async () => {
    const cache = memoryRangeCache();
    const a = httpSource(srv.url('B02.tif'), { ...FAST, cache });
    await a.read(1_000_000, 20_000);
    const b = httpSource(srv.url('B02.tif'), { ...FAST, cache });
    srv.resetStats();
    const got = await b.read(1_000_000, 20_000);
    expect(Buffer.from(got).equals(B02.subarray(1_000_000, 1_020_000))).toBe(true);
    expect(b.stats.cacheHits).toBe(1);
    expect(srv.stats.log.every((l) => l.includes('bytes=0-65535'))).toBe(true); // only the header read
  });

  it('does not cache without a validator (ETag/Last-Modified)', async () => {
    srv.faults.noValidator = true;
    const cache = memoryRangeCache();
    const a = httpSource(srv.url('B02.tif'), { ...FAST, cache });
    await a.read(1_000_000, 100);
    expect(cache.bytes).toBe(0);
  });

  it('on disk: round-trips, ignores damaged entries, evicts least recently used beyond the cap', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 's2c-cache-'));
    try {
      const cache = diskRangeCache({ dir, maxBytes: 2500 });
      const key = (offset: number) => ({ url: 'http://h/f.tif', validator: '"e1"', offset, length: 1000 });
      const bytes = (v: number) => new Uint8Array(1000).fill(v);
      await cache.put(key(0), bytes(1));
      await cache.put(key(1000), bytes(2));
      expect(Array.from((await cache.get(key(0)))!.slice(0, 3))).toEqual([1, 1, 1]);
      expect(await cache.get({ ...key(0), validator: '"e2"' })).toBeUndefined();
      // make entry 1000 the oldest, then exceed the cap
      const f = readdirSync(dir).map((n) => path.join(dir, n));
      const older = f.find((p) => readFileSync(p)[0] === 2)!;
      const { utimesSync } = await import('node:fs');
      utimesSync(older, new Date(2000, 1, 1), new Date(2000, 1, 1));
      await cache.put(key(2000), bytes(3));
      expect(await cache.get(key(1000))).toBeUndefined();
      expect(await cache.get(key(0))).toBeDefined();
      const total = readdirSync(dir).reduce((s, n) => s + statSync(path.join(dir, n)).size, 0);
      expect(total).toBeLessThanOrEqual(2500);
      // damage an entry: truncated file is a miss
      for (const n of readdirSync(dir)) writeFileSync(path.join(dir, n), new Uint8Array(10));
      expect(await cache.get(key(0))).toBeUndefined();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('header parsing', () => {
  it('parses Content-Range and Retry-After', () => {
    expect(parseContentRange('bytes 0-65535/2251637')).toEqual({ start: 0, end: 65535, total: 2251637 });
    expect(parseContentRange('bytes 5-9/*')).toEqual({ start: 5, end: 9, total: null });
    expect(parseContentRange('bytes */0')).toEqual({ start: -1, end: -1, total: 0 });
    expect(parseContentRange('items 0-1/2')).toBeNull();
    expect(parseRetryAfter('3')).toBe(3000);
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:28:10 GMT', Date.UTC(2015, 9, 21, 7, 28, 0))).toBe(10_000);
    expect(parseRetryAfter('soon')).toBeNull();
  });

  it('httpFetch returns 404 as a response (the caller explains it)', async () => {
    const res = await httpFetch(srv.url('nope.json'), FAST);
    expect(res.status).toBe(404);
  });
});
