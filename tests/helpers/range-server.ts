/**
 * A test HTTP server on 127.0.0.1 serving files from a folder with Range support, counting requests/bytes and
 * injecting faults (503s, mid-body drops, silence, ignored Range, redirects, changing ETag).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { readFileSync, statSync } from 'node:fs';
import { join, normalize } from 'node:path';
import type { AddressInfo, Socket } from 'node:net';

export interface Faults {
  /** Answer this many upcoming requests with 503 (optionally with Retry-After seconds). */
  fail503: number;
  retryAfter?: string;
  /** Answer this many upcoming requests with 429. */
  fail429: number;
  /** Send half the body of this many upcoming requests, then destroy the socket. */
  dropMidBody: number;
  /** Never answer (keep the socket open). */
  hang: boolean;
  /** Ignore Range headers: 200 with the whole file. */
  ignoreRange: boolean;
  /** Redirect requests for a path to a Location (absolute or relative). */
  redirects: Map<string, string>;
  /** Send no ETag/Last-Modified. */
  noValidator: boolean;
  /** Suffix added to the ETag (change it to simulate a file rewritten on the server). */
  etagSuffix: string;
}

export interface RangeServer {
  readonly port: number;
  readonly origin: string;
  url(path: string): string;
  readonly faults: Faults;
  readonly stats: { requests: number; bytes: number; active: number; maxActive: number; log: string[] };
  resetStats(): void;
  close(): Promise<void>;
}

/** Start serving `root` on 127.0.0.1 (random port). `delayMs` delays every answer (to observe concurrency). */
export async function startRangeServer(root: string, opts: { delayMs?: number } = {}): Promise<RangeServer> {
  const faults: Faults = {
    fail503: 0,
    fail429: 0,
    dropMidBody: 0,
    hang: false,
    ignoreRange: false,
    redirects: new Map(),
    noValidator: false,
    etagSuffix: '',
  };
  const stats = { requests: 0, bytes: 0, active: 0, maxActive: 0, log: [] as string[] };
  const sockets = new Set<Socket>();

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    stats.requests++;
    stats.active++;
    stats.maxActive = Math.max(stats.maxActive, stats.active);
    res.on('close', () => stats.active--);
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    stats.log.push(`${req.method} ${path} ${req.headers.range ?? ''}`);
    if (opts.delayMs) await new Promise((r) => setTimeout(r, opts.delayMs));
    if (faults.hang) return;
    if (faults.fail503 > 0) {
      faults.fail503--;
      res.writeHead(503, faults.retryAfter ? { 'retry-after': faults.retryAfter } : {}).end('busy');
      return;
    }
    if (faults.fail429 > 0) {
      faults.fail429--;
      res.writeHead(429, faults.retryAfter ? { 'retry-after': faults.retryAfter } : {}).end('slow down');
      return;
    }
    const loc = faults.redirects.get(path);
    if (loc) {
      res.writeHead(302, { location: loc }).end();
      return;
    }
    const file = join(root, normalize(path).replace(/^(\.\.[/\\])+/, ''));
    let data: Buffer;
    let mtime: Date;
    try {
      data = readFileSync(file);
      mtime = statSync(file).mtime;
    } catch {
      res.writeHead(404).end('not found');
      return;
    }
    const headers: Record<string, string> = { 'accept-ranges': 'bytes' };
    if (!faults.noValidator) {
      headers.etag = `"${data.length}-${mtime.getTime()}${faults.etagSuffix}"`;
      headers['last-modified'] = mtime.toUTCString();
    }
    let start = 0;
    let end = data.length - 1;
    let status = 200;
    const m = /^bytes=(\d*)-(\d*)$/.exec(req.headers.range ?? '');
    if (m && !faults.ignoreRange) {
      if (m[1] === '') {
        start = Math.max(0, data.length - Number(m[2]));
      } else {
        start = Number(m[1]);
        end = m[2] === '' ? data.length - 1 : Math.min(Number(m[2]), data.length - 1);
      }
      if (start >= data.length) {
        res.writeHead(416, { 'content-range': `bytes */${data.length}` }).end();
        return;
      }
      status = 206;
      headers['content-range'] = `bytes ${start}-${end}/${data.length}`;
    }
    const body = data.subarray(start, end + 1);
    headers['content-length'] = String(body.length);
    res.writeHead(status, headers);
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    if (faults.dropMidBody > 0) {
      faults.dropMidBody--;
      const half = body.subarray(0, Math.floor(body.length / 2));
      stats.bytes += half.length;
      res.write(half, () => setTimeout(() => res.socket?.destroy(), 5));
      return;
    }
    stats.bytes += body.length;
    res.end(body);
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err) => {
      res.destroy(err as Error);
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const origin = `http://127.0.0.1:${port}`;
  return {
    port,
    origin,
    url: (p: string) => `${origin}/${p.replace(/^\//, '')}`,
    faults,
    stats,
    resetStats() {
      Object.assign(stats, { requests: 0, bytes: 0, active: 0, maxActive: 0, log: [] });
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
