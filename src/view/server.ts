/**
 * The `s2change view` server: node:http on 127.0.0.1 only, serving the page bundle (dist/viewer), the manifest of
 * the run, the run's outputs and its input files, remote ones proxied through the HTTP layer (the allowlist of `planView`; a request path is only ever
 * looked up in that list, never joined to a folder), with single-range HTTP Range support and a strict
 * Content-Security-Policy. Requests from other addresses, or with a Host header other than this server's own
 * (DNS rebinding), are refused with 403.
 */
import { createReadStream, existsSync } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { S2ChangeError } from '../errors.js';
import type { HttpOptions } from '../io/http-source.js';
import { planView, type Basemap, type ServedFile, type ViewPlan } from './manifest.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
/** The page bundle built by `npm run build:viewer`: dist/viewer (beside dist/view, or from src/view when run from sources). */
export const VIEWER_DIR = [path.resolve(HERE, '../viewer'), path.resolve(HERE, '../../dist/viewer')]
  .find((d) => existsSync(path.join(d, 'index.html'))) ?? path.resolve(HERE, '../viewer');

/**
 * The page's Content-Security-Policy: scripts, styles and data only from this server; images also from data:/blob:
 * (canvas exports, OpenLayers icons); workers from blob: (geotiff.js builds its decoder worker from a blob).
 */
export const CONTENT_SECURITY_POLICY = contentSecurityPolicy(null);

/** The CSP, with the basemap's origin allowed for images when the user asked for one (--basemap). */
export function contentSecurityPolicy(basemapOrigin: string | null): string {
  return [
    "default-src 'none'", "script-src 'self'", "style-src 'self'", `img-src 'self' data: blob:${basemapOrigin ? ` ${basemapOrigin}` : ''}`,
    "connect-src 'self'", "worker-src 'self' blob:", "font-src 'self'", "base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'",
  ].join('; ');
}


/** `osm` or an http(s) XYZ template with {z}, {x} and {y} → the basemap; anything else is a usage error. */
export function parseBasemap(text: string): Basemap {
  if (text === 'osm') return { url: 'https://tile.openstreetmap.org/{z}/{x}/{y}.png', attribution: '© OpenStreetMap contributors' };
  let origin = '';
  try {
    origin = new URL(text.replace(/[{}]/g, '')).protocol;
  } catch { /* reported below */ }
  if (!/^https?:$/.test(origin) || !['{z}', '{x}', '{y}'].every((k) => text.includes(k))) {
    throw new S2ChangeError('USAGE', 'not a basemap', {
      input: '--basemap', expected: '"osm" or an http(s) XYZ tile URL with {z}, {x} and {y}', found: text,
      fix: 'e.g. --basemap osm, or --basemap "https://tiles.example.org/{z}/{x}/{y}.png"',
    }, 2);
  }
  return { url: text, attribution: `Basemap: ${new URL(text.replace(/[{}]/g, '')).host}` };
}

const BUNDLE_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.map': 'application/json', '.svg': 'image/svg+xml', '.png': 'image/png',
};

export interface ViewServerOptions {
  /** The run's --out folder. */
  dir: string;
  /** Port on 127.0.0.1; 0 (default) lets the system pick a free one. */
  port?: number;
  /** Folder of the page bundle; default dist/viewer. */
  bundleDir?: string;
  /** How remote input files are fetched (URL policy: public addresses only unless allowPrivateNetwork). */
  remote?: HttpOptions;
  /** A basemap under the layers (needs the network; off unless asked for). */
  basemap?: Basemap | null;
}

export interface ViewServer {
  readonly url: string;
  readonly port: number;
  readonly plan: ViewPlan;
  close(): Promise<void>;
}

/** True for the loopback addresses a local browser connects from. */
export function isLoopback(address: string | undefined): boolean {
  return address === '127.0.0.1' || address === '::ffff:127.0.0.1' || address === '::1';
}

/** A single `bytes=` range against a file of `size` bytes: the inclusive span, 'unsatisfiable', or null (ignore). */
export function parseRange(header: string | undefined, size: number): { start: number; end: number } | 'unsatisfiable' | null {
  if (!header) return null;
  const m = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (!m) return null; // several ranges or another unit: answer with the whole file (RFC 9110 allows ignoring Range)
  const [, a, b] = m;
  if (a === '' && b === '') return null;
  if (a === '') {
    const n = Number(b);
    if (n === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(a);
  if (start >= size) return 'unsatisfiable';
  const end = b === '' ? size - 1 : Math.min(Number(b), size - 1);
  if (end < start) return null;
  return { start, end };
}

async function bundleFiles(dir: string): Promise<Map<string, ServedFile>> {
  const out = new Map<string, ServedFile>();
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    throw new S2ChangeError('INPUT_NOT_FOUND', 'the viewer page is not built', {
      input: dir, expected: 'dist/viewer with index.html and viewer.js', found: (err as NodeJS.ErrnoException).code ?? String(err),
      fix: 'Run `npm run build` (or `npm run build:viewer`)', cause: err,
    });
  }
  for (const n of names) {
    const type = BUNDLE_TYPES[path.extname(n)];
    if (type && /^[A-Za-z0-9._-]+$/.test(n)) out.set(`/${n}`, { file: path.join(dir, n), type });
  }
  if (!out.has('/index.html')) {
    throw new S2ChangeError('INPUT_NOT_FOUND', 'the viewer page is not built', {
      input: dir, expected: 'index.html', found: names.join(', ') || 'an empty folder', fix: 'Run `npm run build` (or `npm run build:viewer`)',
    });
  }
  out.set('/', out.get('/index.html')!);
  return out;
}

function refuse(res: ServerResponse, status: number, text: string, sec: Record<string, string>): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(text), ...sec });
  res.end(text);
}

const SECURITY_HEADERS: Record<string, string> = {
  'Content-Security-Policy': CONTENT_SECURITY_POLICY,
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'Cross-Origin-Opener-Policy': 'same-origin',
};

async function sendFile(req: IncomingMessage, res: ServerResponse, f: ServedFile, sec: Record<string, string>): Promise<void> {
  let size: number;
  let mtime: Date;
  try {
    const s = await stat(f.file);
    size = s.size;
    mtime = s.mtime;
  } catch {
    refuse(res, 404, 'not found\n', sec);
    return;
  }
  const headers: Record<string, string | number> = {
    ...sec, 'Content-Type': f.type, 'Accept-Ranges': 'bytes', 'Cache-Control': 'no-cache',
    'Last-Modified': mtime.toUTCString(), ETag: `"${size.toString(16)}-${Math.floor(mtime.getTime()).toString(16)}"`,
  };
  const range = parseRange(req.headers.range, size);
  if (range === 'unsatisfiable') {
    res.writeHead(416, { ...headers, 'Content-Range': `bytes */${size}`, 'Content-Length': 0 });
    res.end();
    return;
  }
  const { start, end } = range ?? { start: 0, end: size - 1 };
  const length = size === 0 ? 0 : end - start + 1;
  res.writeHead(range ? 206 : 200, { ...headers, 'Content-Length': length, ...(range ? { 'Content-Range': `bytes ${start}-${end}/${size}` } : {}) });
  if (req.method === 'HEAD' || length === 0) {
    res.end();
    return;
  }
  const stream = createReadStream(f.file, { start, end });
  stream.on('error', () => res.destroy());
  stream.pipe(res);
}

/**
 * Answer a request for a remote input file by fetching it through the project's HTTP layer (URL policy, retries,
 * timeouts), forwarding a single Range; at most 16 MiB per answer (the page asks for tiles, not whole files).
 */
async function proxyFile(req: IncomingMessage, res: ServerResponse, f: ServedFile, remote: HttpOptions, sec: Record<string, string>): Promise<void> {
  const { httpFetch } = await import('../io/http-source.js');
  const range = typeof req.headers.range === 'string' && /^\s*bytes\s*=\s*\d*\s*-\s*\d*\s*$/i.test(req.headers.range) ? req.headers.range : undefined;
  let r;
  try {
    r = await httpFetch(f.remoteUrl!, { ...remote, method: req.method === 'HEAD' ? 'HEAD' : 'GET', headers: range ? { Range: range } : {}, maxResponseBytes: 16 * 1024 * 1024 });
  } catch (err) {
    return refuse(res, 502, `remote input not fetched: ${(err as Error).message}\n`, sec);
  }
  if (r.status !== 200 && r.status !== 206 && r.status !== 416) return refuse(res, 502, `remote input answered HTTP ${r.status}\n`, sec);
  const headers: Record<string, string | number> = { ...sec, 'Content-Type': f.type, 'Accept-Ranges': 'bytes', 'Cache-Control': 'no-cache', 'Content-Length': r.body.length };
  for (const h of ['content-range', 'etag', 'last-modified'] as const) {
    const v = r.headers[h];
    if (typeof v === 'string') headers[h] = v;
  }
  res.writeHead(r.status, headers);
  res.end(req.method === 'HEAD' ? undefined : Buffer.from(r.body.buffer, r.body.byteOffset, r.body.length));
}

/** Start serving the run in `opts.dir`; resolves once listening on 127.0.0.1. */
export async function startViewServer(opts: ViewServerOptions): Promise<ViewServer> {
  const plan = await planView(opts.dir);
  const bundle = await bundleFiles(opts.bundleDir ?? VIEWER_DIR);
  const basemap = opts.basemap ?? null;
  const manifestBody = Buffer.from(JSON.stringify({ ...plan.manifest, basemap }));
  const sec = { ...SECURITY_HEADERS, 'Content-Security-Policy': contentSecurityPolicy(basemap ? new URL(basemap.url.replace(/[{}]/g, '')).origin : null) };
  let port = 0;
  const server: Server = createServer((req, res) => {
    if (!isLoopback(req.socket.remoteAddress)) return refuse(res, 403, 'only 127.0.0.1 may connect\n', sec);
    const host = (req.headers.host ?? '').toLowerCase();
    if (host !== `127.0.0.1:${port}` && host !== `localhost:${port}`) return refuse(res, 403, 'unexpected Host header\n', sec);
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      return refuse(res, 405, 'method not allowed\n', sec);
    }
    let pathname: string;
    try {
      pathname = new URL(req.url ?? '/', `http://127.0.0.1:${port}`).pathname;
    } catch {
      return refuse(res, 400, 'bad request\n', sec);
    }
    if (pathname === '/manifest.json') {
      res.writeHead(200, { ...sec, 'Content-Type': 'application/json', 'Content-Length': manifestBody.length, 'Cache-Control': 'no-cache' });
      res.end(req.method === 'HEAD' ? undefined : manifestBody);
      return;
    }
    const f = bundle.get(pathname) ?? plan.files.get(pathname);
    if (!f) return refuse(res, 404, 'not found\n', sec);
    (f.remoteUrl ? proxyFile(req, res, f, opts.remote ?? {}, sec) : sendFile(req, res, f, sec)).catch(() => res.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => reject(new S2ChangeError('USAGE', 'cannot listen', {
      input: `127.0.0.1:${opts.port ?? 0}`, expected: 'a free port', found: err.code ?? err.message, fix: 'Pick another --port, or omit it to use any free port', cause: err,
    }, 2)));
    server.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
  });
  port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/`,
    port,
    plan,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
