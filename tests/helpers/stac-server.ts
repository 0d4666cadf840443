/**
 * A minimal STAC API on 127.0.0.1 for tests: POST /search (and GET /search?token=) over a fixed item list,
 * filtering eo:cloud_cover by the `query` extension or a CQL2 `<` filter, paged by `limit` with next links.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface StacServer {
  readonly origin: string;
  readonly requests: Array<{ method: string; url: string; body: Record<string, unknown> | null }>;
  /** 'post' next links carry a body with a token (merge: true); 'get' next links are plain hrefs. */
  paging: 'post' | 'get';
  /** Answer every request with this status (e.g. 500) when set. */
  failWith: number | null;
  close(): Promise<void>;
}

type Item = Record<string, any>;

function cloudOk(item: Item, body: Record<string, any>): boolean {
  const cc = item.properties?.['eo:cloud_cover'];
  const lt = body.query?.['eo:cloud_cover']?.lt;
  if (lt !== undefined && !(cc < lt)) return false;
  const f = body.filter;
  if (f && f.op === '<' && f.args?.[0]?.property === 'eo:cloud_cover' && !(cc < f.args[1])) return false;
  return true;
}

/** Serve `items`; page size comes from the request's `limit` (default 10). */
export async function startStacServer(items: Item[]): Promise<StacServer> {
  const state: StacServer = {
    origin: '',
    requests: [],
    paging: 'post',
    failWith: null,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
  const getQueries = new Map<string, Record<string, any>>(); // GET tokens remember the search
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const u = new URL(req.url ?? '/', state.origin);
      let body: Record<string, any> | null = null;
      if (chunks.length) body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      state.requests.push({ method: req.method ?? '', url: u.pathname + u.search, body });
      if (state.failWith) {
        res.writeHead(state.failWith, { 'content-type': 'application/json' }).end('{"code":"Boom","description":"server error"}');
        return;
      }
      if (u.pathname !== '/search') {
        res.writeHead(404).end('{}');
        return;
      }
      let search: Record<string, any>;
      let start: number;
      if (req.method === 'POST' && body) {
        search = body;
        start = Number(body.next ?? 0);
      } else {
        const token = u.searchParams.get('token') ?? '';
        search = getQueries.get(token) ?? {};
        start = Number(token.split(':')[1] ?? 0);
      }
      const matching = items.filter(
        (it) => (!search.collections || search.collections.includes(it.collection)) && cloudOk(it, search),
      );
      const limit = Number(search.limit ?? 10);
      const page = matching.slice(start, start + limit);
      const links: Record<string, unknown>[] = [];
      if (start + limit < matching.length) {
        if (state.paging === 'post') {
          links.push({ rel: 'next', href: `${state.origin}/search`, method: 'POST', body: { next: String(start + limit) }, merge: true });
        } else {
          const token = `t${getQueries.size}:${start + limit}`;
          getQueries.set(token, search);
          links.push({ rel: 'next', href: `${state.origin}/search?token=${encodeURIComponent(token)}`, method: 'GET' });
        }
      }
      res.writeHead(200, { 'content-type': 'application/geo+json' });
      res.end(JSON.stringify({ type: 'FeatureCollection', features: page, links, numberMatched: matching.length }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  (state as { origin: string }).origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return state;
}
