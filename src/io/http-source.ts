/**
 * Reading over HTTP(S), safely: every URL (and every redirect target) passes the URL policy, the socket connects to
 * the checked address only, requests time out, transient failures (429, 5xx, resets, timeouts) are retried with
 * jittered exponential backoff, and the total bytes one source may fetch are capped.
 *
 * `httpSource(url)` is a ByteSource over HTTP Range requests (the TIFF reader works on it unchanged);
 * `httpFetch` is the plain request used by the STAC client.
 */
import http, { type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import https from 'node:https';
import { CorruptTiffError, LimitExceededError, NetworkError, S2ChangeError, TimeLimitError } from '../errors.js';
import type { ByteSource } from './byte-source.js';
import type { RangeCache } from './range-cache.js';
import { checkUrl, pinnedLookup, redact, type CheckedUrl, type UrlPolicyOptions } from './url-policy.js';

/** Limits how many requests run at once; share one between sources to bound the total. */
export interface Limiter {
  run<T>(fn: () => Promise<T>): Promise<T>;
  readonly active: number;
  readonly max: number;
}

/** A FIFO limiter allowing `max` concurrent tasks. */
export function createLimiter(max: number): Limiter {
  if (!Number.isInteger(max) || max < 1) throw new RangeError(`concurrency must be a positive integer, got ${max}`);
  let active = 0;
  const queue: Array<() => void> = [];
  const next = (): void => {
    if (active < max && queue.length > 0) {
      active++;
      queue.shift()!();
    }
  };
  return {
    get active() {
      return active;
    },
    max,
    run<T>(fn: () => Promise<T>): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        queue.push(() => {
          fn()
            .then(resolve, reject)
            .finally(() => {
              active--;
              next();
            });
        });
        next();
      });
    },
  };
}

/** The process-wide default limiter (8 concurrent requests). */
export const sharedLimiter: Limiter = createLimiter(8);

/** Transport options common to `httpFetch` and `httpSource`. */
export interface HttpOptions extends Pick<UrlPolicyOptions, 'allowPrivateNetwork' | 'allowHosts' | 'resolve'> {
  /** Max wait for response headers and max silence between body chunks, per request. Default 15000 ms. */
  timeoutMs?: number;
  /**
   * Max total time of one request, headers and whole body (option --request-time): a server dripping a few bytes a
   * second never trips `timeoutMs`. TimeLimitError, not retried. Default 120000 ms.
   */
  requestTimeMs?: number;
  /** Retries after the first attempt on 429, 5xx, resets and timeouts. Default 4. */
  retries?: number;
  /** Backoff base: attempt n waits about base * 2^n, jittered. Default 250 ms. */
  retryBaseMs?: number;
  /** Longest wait honoured from a Retry-After header (and longest backoff). Default 30000 ms. */
  maxRetryDelayMs?: number;
  /** Max parallel requests of this source (own limiter); default: the shared limiter of 8. */
  concurrency?: number;
  /** An explicit limiter shared with other sources (wins over `concurrency`). */
  limiter?: Limiter;
  userAgent?: string;
}

/** Counters of what a source did on the wire. */
export interface HttpStats {
  requests: number;
  bytesFetched: number;
  retries: number;
  cacheHits: number;
}

/** A buffered HTTP response. */
export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Uint8Array;
  /** Final URL after redirects. */
  url: URL;
}

/** One request to make. `inspect` may throw (non-retryable) on seeing status/headers, before the body is read. */
interface RequestSpec {
  method: 'GET' | 'HEAD' | 'POST';
  headers?: Record<string, string>;
  body?: Uint8Array | string;
  inspect?: (status: number, headers: IncomingHttpHeaders, url: URL) => void;
  /** Called per body chunk with the chunk length; may throw (e.g. the byte cap). */
  onBytes?: (n: number) => void;
}

/** Default total time of one HTTP request (--request-time). */
export const DEFAULT_REQUEST_TIME_MS = 120_000;

const DEFAULT_UA = 's2change (+https://github.com/s2change/s2change)';
const MAX_REDIRECTS = 5;

/** Error carrying the "retry me" bit through the attempt loop. */
class TransientError extends Error {
  constructor(
    message: string,
    readonly retryAfterMs: number | null = null,
    readonly response?: HttpResponse,
  ) {
    super(message);
  }
}

function agentsFor(): { http: http.Agent; https: https.Agent } {
  return { http: new http.Agent({ keepAlive: true }), https: new https.Agent({ keepAlive: true }) };
}

/** One attempt: connect to the pinned address, send, buffer the body (unless redirect). */
function attempt(
  checked: CheckedUrl,
  spec: RequestSpec,
  opts: Required<Pick<HttpOptions, 'timeoutMs' | 'requestTimeMs'>> & { userAgent: string },
  agents: { http: http.Agent; https: https.Agent },
): Promise<HttpResponse> {
  const { url } = checked;
  const isHttps = url.protocol === 'https:';
  const body = typeof spec.body === 'string' ? Buffer.from(spec.body) : spec.body;
  return new Promise<HttpResponse>((resolve, reject) => {
    let settled = false;
    let timer: NodeJS.Timeout | null = null;
    const fail = (err: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(total);
      if (timer) clearTimeout(timer);
      req.destroy();
      reject(err);
    };
    const arm = (what: string): void => {
      if (timer) clearTimeout(timer);
      timer = setTimeout(() => fail(new TransientError(`timeout: ${what} within ${opts.timeoutMs} ms`)), opts.timeoutMs);
    };
    // The whole request, however the bytes trickle in; not retried (a dripping server would only drip again).
    const total = setTimeout(() => fail(new TimeLimitError('request took too long', {
      input: redact(url), expected: `the whole answer within ${opts.requestTimeMs / 1000} s`,
      found: `still receiving after ${opts.requestTimeMs / 1000} s`,
      fix: 'The server is too slow; retry later, or raise the limit with --request-time SECONDS',
    })), opts.requestTimeMs);
    total.unref();
    const req = (isHttps ? https : http).request(
      url,
      {
        method: spec.method,
        agent: isHttps ? agents.https : agents.http,
        lookup: pinnedLookup(checked.addresses),
        headers: {
          'user-agent': opts.userAgent,
          'accept-encoding': 'identity',
          ...(body ? { 'content-length': String(body.length) } : {}),
          ...spec.headers,
        },
      },
      (res: IncomingMessage) => {
        const status = res.statusCode ?? 0;
        try {
          if (!(status >= 300 && status < 400 && res.headers.location)) spec.inspect?.(status, res.headers, url);
        } catch (err) {
          fail(err as Error);
          return;
        }
        if (spec.method === 'HEAD' || (status >= 300 && status < 400)) {
          res.resume();
          settled = true;
          clearTimeout(total);
          if (timer) clearTimeout(timer);
          resolve({ status, headers: res.headers, body: new Uint8Array(0), url });
          return;
        }
        const chunks: Buffer[] = [];
        let got = 0;
        arm('no body data');
        res.on('data', (chunk: Buffer) => {
          try {
            spec.onBytes?.(chunk.length);
          } catch (err) {
            fail(err as Error);
            return;
          }
          got += chunk.length;
          chunks.push(chunk);
          arm('no body data');
        });
        res.on('error', (err) => fail(new TransientError(`connection failed mid-body: ${err.message}`)));
        res.on('close', () => {
          if (settled) return;
          const expected = res.headers['content-length'] === undefined ? null : Number(res.headers['content-length']);
          if (!res.complete || (expected !== null && got !== expected)) {
            fail(new TransientError(`connection closed mid-body after ${got}${expected !== null ? ` of ${expected}` : ''} bytes`));
            return;
          }
          settled = true;
          clearTimeout(total);
          if (timer) clearTimeout(timer);
          resolve({ status, headers: res.headers, body: new Uint8Array(Buffer.concat(chunks)), url });
        });
      },
    );
    arm('no response headers');
    req.on('error', (err: NodeJS.ErrnoException) => {
      const code = err.code ?? '';
      if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code.startsWith('ERR_TLS') || code.includes('CERT')) {
        fail(new NetworkError('cannot connect', { input: redact(url), expected: 'a reachable HTTP server', found: `${code} ${err.message}`, cause: err }));
      } else {
        fail(new TransientError(`${code || 'error'}: ${err.message}`));
      }
    });
    req.end(body);
  });
}

/** Milliseconds from a Retry-After header (seconds or HTTP date), or null. */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | null {
  const v = Array.isArray(value) ? value[0] : value;
  if (!v) return null;
  if (/^\s*\d+(\.\d+)?\s*$/.test(v)) return Math.round(Number(v) * 1000);
  const t = Date.parse(v);
  return Number.isNaN(t) ? null : Math.max(0, t - now);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Shared engine: policy check, pinned connect, manual redirects (each re-checked), retries, limiter, stats. */
class HttpClient {
  readonly agents = agentsFor();
  readonly stats: HttpStats = { requests: 0, bytesFetched: 0, retries: 0, cacheHits: 0 };
  readonly timeoutMs: number;
  readonly requestTimeMs: number;
  readonly retries: number;
  readonly retryBaseMs: number;
  readonly maxRetryDelayMs: number;
  readonly limiter: Limiter;
  readonly userAgent: string;

  constructor(readonly opts: HttpOptions) {
    this.timeoutMs = opts.timeoutMs ?? 15000;
    this.requestTimeMs = opts.requestTimeMs ?? DEFAULT_REQUEST_TIME_MS;
    this.retries = opts.retries ?? 4;
    this.retryBaseMs = opts.retryBaseMs ?? 250;
    this.maxRetryDelayMs = opts.maxRetryDelayMs ?? 30000;
    this.limiter = opts.limiter ?? (opts.concurrency ? createLimiter(opts.concurrency) : sharedLimiter);
    this.userAgent = opts.userAgent ?? DEFAULT_UA;
  }

  /** Follow up to 5 redirects, re-checking each target against the URL policy. */
  private async once(start: URL, spec: RequestSpec): Promise<HttpResponse> {
    let url = start;
    let current = spec;
    for (let hop = 0; ; hop++) {
      const checked = await checkUrl(url, this.opts);
      this.stats.requests++;
      const res = await this.limiter.run(() =>
        attempt(checked, current, { timeoutMs: this.timeoutMs, requestTimeMs: this.requestTimeMs, userAgent: this.userAgent }, this.agents),
      );
      const loc = res.headers.location;
      if (res.status >= 300 && res.status < 400 && loc) {
        if (hop >= MAX_REDIRECTS) {
          throw new NetworkError('too many redirects', {
            input: redact(start),
            expected: `at most ${MAX_REDIRECTS} redirects`,
            found: `more, last to ${redact(new URL(loc, url))}`,
            fix: 'Use the final URL directly',
          });
        }
        const next = new URL(loc, url);
        if (res.status === 303 || ((res.status === 301 || res.status === 302) && current.method === 'POST')) {
          current = { ...current, method: 'GET', body: undefined, headers: withoutBodyHeaders(current.headers) };
        }
        url = next;
        continue;
      }
      return res;
    }
  }

  /** Request with retries on transient failures. */
  async request(url: URL, spec: RequestSpec): Promise<HttpResponse> {
    let last: TransientError | null = null;
    for (let i = 0; i <= this.retries; i++) {
      if (i > 0) {
        this.stats.retries++;
        const backoff = Math.min(this.maxRetryDelayMs, this.retryBaseMs * 2 ** (i - 1)) * (0.5 + Math.random() * 0.5);
        const wait = last?.retryAfterMs != null ? Math.min(this.maxRetryDelayMs, Math.max(backoff, last.retryAfterMs)) : backoff;
        await sleep(wait);
      }
      try {
        const res = await this.once(url, spec);
        if (res.status === 429 || res.status >= 500) {
          last = new TransientError(`HTTP ${res.status}`, parseRetryAfter(res.headers['retry-after']), res);
          continue;
        }
        return res;
      } catch (err) {
        if (err instanceof TransientError) {
          last = err;
          continue;
        }
        throw err;
      }
    }
    if (last?.response) return last.response; // the caller reports the final status
    throw new NetworkError('request failed', {
      input: redact(url),
      expected: 'an answer from the server',
      found: `${last?.message ?? 'no answer'} (after ${this.retries + 1} attempts)`,
      fix: 'Check the network or the server; raise the timeout (timeoutMs) or retries if the server is slow',
      cause: last ?? undefined,
    });
  }

  close(): void {
    this.agents.http.destroy();
    this.agents.https.destroy();
  }
}

function withoutBodyHeaders(h: Record<string, string> | undefined): Record<string, string> | undefined {
  if (!h) return h;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) if (!/^content-(type|length)$/i.test(k)) out[k] = v;
  return out;
}

/** Options of `httpFetch`. */
export interface HttpFetchOptions extends HttpOptions {
  method?: 'GET' | 'POST' | 'HEAD';
  headers?: Record<string, string>;
  body?: string | Uint8Array;
  /** Max response body size; default 64 MiB. */
  maxResponseBytes?: number;
}

/**
 * One HTTP request with the URL policy, redirects, retries and timeouts of `httpSource`, body buffered.
 * Returns the final response whatever its status (a 4xx is the caller's to explain); 429/5xx are retried first.
 */
export async function httpFetch(url: string | URL, opts: HttpFetchOptions = {}): Promise<HttpResponse> {
  const client = new HttpClient(opts);
  const start = typeof url === 'string' ? (await checkUrl(url, opts)).url : url;
  const cap = opts.maxResponseBytes ?? 64 * 1024 * 1024;
  let got = 0;
  try {
    return await client.request(start, {
      method: opts.method ?? 'GET',
      headers: opts.headers,
      body: opts.body,
      onBytes: (n) => {
        got += n;
        if (got > cap) {
          throw new LimitExceededError('response too large', {
            input: redact(start),
            expected: `at most ${cap} bytes`,
            found: `more than ${cap} bytes`,
          });
        }
      },
    });
  } finally {
    client.close();
  }
}

/** Options of `httpSource`. */
export interface HttpSourceOptions extends HttpOptions {
  /** Cap on the total bytes this source may fetch (option --max-fetch-mb). Default unlimited. */
  maxBytes?: number;
  /** Range cache (only used when the server sends an ETag or Last-Modified). */
  cache?: RangeCache;
  /** Bytes read ahead on the first request to serve the COG header. Default 65536. */
  headerBytes?: number;
  /** Largest file accepted from a server that ignores Range and sends the whole file. Default 1 MiB. */
  maxWholeFileBytes?: number;
}

/** A ByteSource over HTTP with wire statistics. */
export interface HttpSource extends ByteSource {
  readonly stats: HttpStats;
  close(): Promise<void>;
}

interface ContentRange {
  start: number;
  end: number;
  total: number | null;
}

/** Parse `Content-Range: bytes a-b/total` (total may be '*'), or `bytes * /total` (start = -1). */
export function parseContentRange(v: string | undefined): ContentRange | null {
  if (!v) return null;
  let m = /^\s*bytes\s+(\d+)-(\d+)\/(\d+|\*)\s*$/i.exec(v);
  if (m) return { start: Number(m[1]), end: Number(m[2]), total: m[3] === '*' ? null : Number(m[3]) };
  m = /^\s*bytes\s+\*\/(\d+)\s*$/i.exec(v);
  if (m) return { start: -1, end: -1, total: Number(m[1]) };
  return null;
}

/**
 * A ByteSource reading `url` with HTTP Range requests. The first request reads ahead `headerBytes` (64 KiB) from
 * offset 0, which also yields the size (Content-Range) and the validator (ETag/Last-Modified); small reads inside that
 * block are served from memory. Each later read is one `Range: bytes=a-b` request that must answer 206 with exactly
 * the asked bytes. A server that ignores Range (200 + whole body) is accepted only for files up to 1 MiB.
 * If the ETag changes between requests the file changed while being read: NetworkError, no mixing of versions.
 */
export function httpSource(url: string, opts: HttpSourceOptions = {}): HttpSource {
  const client = new HttpClient(opts);
  const headerBytes = opts.headerBytes ?? 65536;
  const maxWhole = opts.maxWholeFileBytes ?? 1024 * 1024;
  const maxBytes = opts.maxBytes ?? Infinity;
  const stats = client.stats;
  const inflight = new Map<string, Promise<Uint8Array>>();
  let parsed: URL | null = null;
  let name = url;
  try {
    parsed = new URL(url);
    name = redact(parsed);
  } catch {
    /* checkUrl reports it on first use */
  }
  let init: Promise<void> | null = null;
  let size = -1;
  let head: Uint8Array = new Uint8Array(0);
  let etag: string | undefined;
  let validator: string | undefined;

  const countBytes = (n: number): void => {
    stats.bytesFetched += n;
    if (stats.bytesFetched > maxBytes) throw capError(name, maxBytes, stats.bytesFetched);
  };
  const checkCap = (n: number): void => {
    if (stats.bytesFetched + n > maxBytes) throw capError(name, maxBytes, stats.bytesFetched + n);
  };
  const refuseWhole = (status: number, headers: IncomingHttpHeaders): void => {
    if (status !== 200) return;
    const len = headers['content-length'] === undefined ? null : Number(headers['content-length']);
    if (len !== null && len > maxWhole) throw ignoresRange(name, len, maxWhole);
  };
  const wholeCap = (n: number, soFar: { n: number }): void => {
    soFar.n += n;
    if (soFar.n > maxWhole) throw ignoresRange(name, null, maxWhole);
  };
  const checkEtag = (headers: IncomingHttpHeaders): void => {
    const e = headers.etag;
    if (etag !== undefined && e !== undefined && e !== etag) {
      throw new NetworkError('the remote file changed while being read', {
        input: name,
        expected: `ETag ${etag}`,
        found: `ETag ${e}`,
        fix: 'Run again; if it keeps happening the file is being rewritten on the server',
      });
    }
  };

  async function startUrl(): Promise<URL> {
    if (!parsed) parsed = (await checkUrl(url, opts)).url; // throws the policy's error for a bad URL
    return parsed;
  }

  async function doInit(): Promise<void> {
    const u = await startUrl();
    checkCap(Math.min(headerBytes, maxWhole));
    const whole = { n: 0 };
    let status = 0;
    const res = await client.request(u, {
      method: 'GET',
      headers: { range: `bytes=0-${headerBytes - 1}` },
      inspect: (s, h) => {
        status = s;
        refuseWhole(s, h);
      },
      onBytes: (n) => {
        countBytes(n);
        if (status === 200) wholeCap(n, whole);
      },
    });
    etag = res.headers.etag;
    validator = etag ?? res.headers['last-modified'];
    if (res.status === 206) {
      const cr = parseContentRange(res.headers['content-range']);
      if (!cr || cr.start !== 0 || cr.end - cr.start + 1 !== res.body.length) throw badRange(name, res.headers['content-range'], 0, res.body.length);
      head = res.body;
      size = cr.total ?? (await headSize(u));
    } else if (res.status === 200) {
      head = res.body;
      size = res.body.length;
    } else if (res.status === 416) {
      const cr = parseContentRange(res.headers['content-range']);
      size = cr?.total ?? (await headSize(u));
      if (size !== 0) throw statusError(name, res);
    } else {
      throw statusError(name, res);
    }
  }

  async function headSize(u: URL): Promise<number> {
    const res = await client.request(u, { method: 'HEAD' });
    const len = Number(res.headers['content-length']);
    if (res.status !== 200 || !Number.isSafeInteger(len)) {
      throw new NetworkError('cannot tell the size of the remote file', {
        input: name,
        expected: 'a Content-Range total or a Content-Length',
        found: `HTTP ${res.status}, Content-Length ${res.headers['content-length'] ?? 'absent'}`,
      });
    }
    return len;
  }

  const ready = (): Promise<void> => {
    init ??= doInit().catch((err) => {
      init = null;
      throw err;
    });
    return init;
  };

  async function fetchRange(offset: number, length: number): Promise<Uint8Array> {
    const u = await startUrl();
    const key = validator ? { url: u.href, validator, offset, length } : null;
    if (key && opts.cache) {
      const hit = await opts.cache.get(key);
      if (hit) {
        stats.cacheHits++;
        return hit;
      }
    }
    checkCap(length);
    const whole = { n: 0 };
    let status = 0;
    const res = await client.request(u, {
      method: 'GET',
      headers: { range: `bytes=${offset}-${offset + length - 1}`, ...(etag ? { 'if-range': etag } : {}) },
      inspect: (s, h) => {
        status = s;
        checkEtag(h);
        refuseWhole(s, h);
      },
      onBytes: (n) => {
        countBytes(n);
        if (status === 200) wholeCap(n, whole);
      },
    });
    let out: Uint8Array;
    if (res.status === 206) {
      const cr = parseContentRange(res.headers['content-range']);
      if (!cr || cr.start !== offset || cr.end !== offset + length - 1 || res.body.length !== length) {
        throw badRange(name, res.headers['content-range'], offset, res.body.length, length);
      }
      out = res.body;
    } else if (res.status === 200 && res.body.length === size) {
      out = res.body.slice(offset, offset + length);
    } else {
      throw statusError(name, res);
    }
    if (key && opts.cache) await opts.cache.put(key, out);
    return out;
  }

  return {
    name,
    stats,
    async size() {
      await ready();
      return size;
    },
    async read(offset: number, length: number) {
      await ready();
      if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > size) {
        throw new CorruptTiffError('read past the end of the remote file (truncated or corrupt TIFF)', {
          input: name,
          expected: `bytes ${offset}..${offset + length} within a file of ${size} bytes`,
          found: `a file of ${size} bytes`,
          fix: 'Check the URL points to a complete file',
        });
      }
      if (offset + length <= head.length) return head.slice(offset, offset + length);
      if (length === 0) return new Uint8Array(0);
      const k = `${offset}:${length}`;
      let p = inflight.get(k);
      if (!p) {
        p = fetchRange(offset, length).finally(() => inflight.delete(k));
        inflight.set(k, p);
      }
      return (await p).slice();
    },
    async close() {
      client.close();
    },
  };
}

function capError(name: string, cap: number, would: number): LimitExceededError {
  return new LimitExceededError('fetch byte cap reached', {
    input: name,
    expected: `at most ${cap} bytes fetched (${(cap / 1048576).toFixed(1)} MB)`,
    found: `${would} bytes needed`,
    fix: 'Raise the cap with --max-fetch-mb, or choose a smaller area (--bbox) so fewer tiles are read',
  });
}

function ignoresRange(name: string, len: number | null, max: number): NetworkError {
  return new NetworkError('server ignores HTTP Range requests and the file is too large to download whole', {
    input: name,
    expected: `206 Partial Content, or a whole file of at most ${max} bytes`,
    found: `200 OK with ${len === null ? `more than ${max}` : len} bytes`,
    fix: 'Download the file first (curl -o) and pass the local path, or use a server that supports Range',
  });
}

function badRange(name: string, cr: string | undefined, offset: number, got: number, want?: number): NetworkError {
  return new NetworkError('server answered a different byte range than asked', {
    input: name,
    expected: `bytes starting at ${offset}${want !== undefined ? `, ${want} bytes long` : ''}`,
    found: `Content-Range ${cr ?? 'absent'}, ${got} bytes`,
    fix: 'The server or a proxy mishandles Range requests; download the file and use the local path',
  });
}

function statusError(name: string, res: HttpResponse): S2ChangeError {
  const hint =
    res.status === 403 || res.status === 401
      ? 'The URL needs authorisation or has expired (pre-signed URLs expire); get a fresh URL'
      : res.status === 404
        ? 'Check the URL'
        : res.status >= 500 || res.status === 429
          ? 'The server kept failing after retries; try again later'
          : 'Check the URL';
  return new NetworkError(`HTTP ${res.status}`, {
    input: name,
    expected: '206 Partial Content for a byte-range read',
    found: `HTTP ${res.status}`,
    fix: hint,
  });
}
