/**
 * `s2change search`: Sentinel-2 scenes over a box and a date range from a STAC API (Earth Search v1 by default).
 * Also home of the network options shared by `search`, `pair` and `detect`.
 */
import type { Command } from 'commander';
import { DEFAULT_STAC_API } from '../io/stac-defaults.js';
import type { RemoteReadOptions } from '../io/stac-scene.js';
import { UsageError } from '../errors.js';
import { DEFAULT_MAX_TIME_S, parseBbox, parseNumber } from './options.js';

/** Flags of the network options. */
export interface NetworkFlags {
  stacApi?: string;
  collection?: string;
  allowPrivateNetwork?: boolean;
  /** --allow-host, repeatable. */
  allowHost?: string[];
  maxFetchMb?: string;
  cacheDir?: string;
  /** commander's --no-cache negation (true unless --no-cache). */
  cache?: boolean;
  timeout?: string;
  requestTime?: string;
  maxTime?: string;
}

/**
 * Add --stac-api, --collection, --allow-private-network, --allow-host, --timeout, --request-time, --max-time and
 * (for commands that read scenes) --max-fetch-mb, --cache-dir/--no-cache.
 */
export function addNetworkOptions(cmd: Command, { reads = true }: { reads?: boolean } = {}): Command {
  cmd
    .option('--stac-api <url>', `STAC API root (default ${DEFAULT_STAC_API})`)
    .option('--collection <name>', 'STAC collection (default sentinel-2-l2a)')
    .option('--allow-private-network', 'allow URLs on loopback/private addresses (local test servers, lab mirrors); link-local and cloud metadata addresses (169.254.0.0/16, fd00:ec2::254, …) stay refused')
    .option('--allow-host <host>', 'allow this one host (host or host:port) even on a private, loopback or link-local address, without opening the whole private network; repeatable', collectHost, [] as string[])
    .option('--timeout <s>', 'per-request timeout in seconds: the longest wait for an answer or between two pieces of it (default 15)')
    .option('--request-time <s>', 'total time limit of one HTTP request in seconds, however slowly the bytes come (default 120)')
    .option('--max-time <s>', `time limit of the whole run in seconds, 0 for none (default ${DEFAULT_MAX_TIME_S})`);
  if (reads) {
    cmd
      .option('--max-fetch-mb <mb>', 'refuse to fetch more than this many MB over HTTP in total (default 500)')
      .option('--cache-dir <dir>', 'folder of the local HTTP range cache (default ~/.cache/s2change/ranges)')
      .option('--no-cache', 'do not use the local range cache');
  }
  return cmd;
}

export function collectHost(value: string, previous: string[]): string[] {
  const v = value.trim();
  if (v === '' || /[\s/?#@]/.test(v)) {
    throw new UsageError('invalid --allow-host', {
      input: '--allow-host', expected: 'a host name or address, optionally with :port (e.g. 10.0.0.5:8080 or mirror.lab)',
      found: JSON.stringify(value), fix: 'Give the host alone, not a URL',
    });
  }
  return [...previous, v];
}

/** The policy and time parts of those flags (URL policy, --timeout, --request-time). */
export function policyOptions(f: NetworkFlags): { allowPrivateNetwork: boolean; allowHosts?: string[]; timeoutMs?: number; requestTimeMs?: number } {
  return {
    allowPrivateNetwork: !!f.allowPrivateNetwork, ...(f.allowHost?.length ? { allowHosts: f.allowHost } : {}),
    ...(f.timeout !== undefined ? { timeoutMs: parseNumber('--timeout', f.timeout, 0.1) * 1000 } : {}),
    ...(f.requestTime !== undefined ? { requestTimeMs: parseNumber('--request-time', f.requestTime, 0.1) * 1000 } : {}),
  };
}

/** The read options those flags describe (one byte budget for the whole command). */
export async function remoteOptions(f: NetworkFlags): Promise<RemoteReadOptions> {
  const { diskRangeCache } = await import('../io/range-cache.js');
  const { createFetchBudget } = await import('../io/stac-scene.js');
  const maxMb = f.maxFetchMb !== undefined ? parseNumber('--max-fetch-mb', f.maxFetchMb, 0) : 500;
  return {
    ...policyOptions(f),
    cache: f.cache === false ? undefined : diskRangeCache(f.cacheDir ? { dir: f.cacheDir } : {}),
    budget: createFetchBudget(maxMb * 1024 * 1024),
  };
}

/** --stac-api and --collection with their defaults. */
export function stacTarget(f: NetworkFlags): { stacApi: string; collections: string[] } {
  return { stacApi: f.stacApi ?? DEFAULT_STAC_API, collections: [f.collection ?? 'sentinel-2-l2a'] };
}

interface SearchFlags extends NetworkFlags {
  bbox: string;
  datetime: string;
  maxCloud?: string;
  limit?: string;
  json?: boolean;
}

/** Register `s2change search`. */
export function registerSearch(program: Command): void {
  const cmd = program
    .command('search')
    .description('list Sentinel-2 scenes over a box and a date range (STAC API search)')
    .requiredOption('--bbox <minx,miny,maxx,maxy>', 'area of interest in WGS84 degrees (lon/lat)')
    .requiredOption('--datetime <from/to>', 'date range, e.g. 2024-06-01/2024-07-31 (whole UTC days) or RFC 3339')
    .option('--max-cloud <pct>', 'keep scenes with eo:cloud_cover below this percentage')
    .option('--limit <n>', 'at most this many scenes', '100')
    .option('--json', 'machine-readable output on stdout');
  addNetworkOptions(cmd, { reads: false });
  cmd.action(async (f: SearchFlags) => {
    const { briefOf, searchScenes } = await import('../pipeline/discover.js');
    const bbox = parseBbox(f.bbox);
    const target = stacTarget(f);
    const { params, items } = await searchScenes({
      ...target, bbox, datetime: f.datetime,
      maxCloud: f.maxCloud !== undefined ? parseNumber('--max-cloud', f.maxCloud, 0, 100) : undefined,
      limit: parseNumber('--limit', f.limit ?? '100', 1, 10_000),
      remote: policyOptions(f),
    });
    const rows = items.map((i) => ({ ...briefOf(i, params.stacApi), assets: Object.keys(i.assets) }));
    if (f.json) {
      process.stdout.write(`${JSON.stringify({ search: params, count: rows.length, items: rows }, null, 2)}\n`);
      return;
    }
    process.stdout.write(`${rows.length} scenes from ${params.stacApi} (${params.collections.join(',')}, ${params.datetime})\n`);
    for (const r of rows) {
      const cc = r.cloudCover !== null ? `${r.cloudCover.toFixed(1).padStart(5)} % cloud` : '  ? % cloud';
      const orbit = r.relativeOrbit !== null ? `R${String(r.relativeOrbit).padStart(3, '0')}` : 'R???';
      process.stdout.write(`${(r.datetime ?? '?').slice(0, 19)}  ${cc}  ${r.tile ?? '?'} ${orbit}  ${r.id}\n`);
    }
  });
}
