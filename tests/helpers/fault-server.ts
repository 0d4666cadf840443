/**
 * An HTTP server on 127.0.0.1 for fault tests: each path answers with a fixed behaviour (JSON body, redirect, a body
 * dripped a few bytes at a time, headers never sent). Every request is recorded, so a test can assert what was asked.
 */
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export type Route =
  | { kind: 'json'; body: unknown }
  | { kind: 'bytes'; body: Uint8Array; type?: string }
  | { kind: 'redirect'; to: string; status?: number }
  /** Send `total` bytes of `fill`, `bytesPerSecond` per second (in 4 slices a second), Content-Length announced. */
  | { kind: 'drip'; total: number; bytesPerSecond: number; fill?: number }
  /** Accept the request and never answer. */
  | { kind: 'silent' };

export interface FaultServer {
  readonly origin: string;
  url(p: string): string;
  readonly routes: Map<string, Route>;
  /** Paths requested, in order (with the query string). */
  readonly requests: string[];
  close(): Promise<void>;
}

export async function startFaultServer(): Promise<FaultServer> {
  const routes = new Map<string, Route>();
  const requests: string[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://x');
    requests.push(u.pathname + u.search);
    const r = routes.get(u.pathname);
    if (!r) return void res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
    answer(r, res);
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  const answer = (r: Route, res: ServerResponse): void => {
    switch (r.kind) {
      case 'json':
        res.writeHead(200, { 'content-type': 'application/geo+json' }).end(JSON.stringify(r.body));
        return;
      case 'bytes':
        res.writeHead(200, { 'content-type': r.type ?? 'application/octet-stream', 'content-length': String(r.body.length) }).end(r.body);
        return;
      case 'redirect':
        res.writeHead(r.status ?? 302, { location: r.to }).end();
        return;
      case 'silent':
        return;
      case 'drip': {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(r.total) });
        let sent = 0;
        const slice = Math.max(1, Math.round(r.bytesPerSecond / 4));
        const t = setInterval(() => {
          if (res.destroyed || sent >= r.total) {
            clearInterval(t);
            timers.delete(t);
            if (!res.destroyed) res.end();
            return;
          }
          const n = Math.min(slice, r.total - sent);
          res.write(Buffer.alloc(n, r.fill ?? 0x20));
          sent += n;
        }, 250);
        timers.add(t);
      }
    }
  };
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    origin,
    url: (p) => `${origin}/${p.replace(/^\//, '')}`,
    routes,
    requests,
    close: () => new Promise<void>((resolve) => {
      for (const t of timers) clearInterval(t);
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }),
  };
}
