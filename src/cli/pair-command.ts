/**
 * `s2change pair`: the best before/after pair for an event over an AOI, ranked by the clear share of the AOI
 * measured from each scene's SCL overview, with the runners-up explained.
 */
import type { Command } from 'commander';
import { UsageError } from '../errors.js';
import type { Bounds } from '../raster/grid.js';
import type { RemoteReadOptions } from '../io/stac-scene.js';
import type { DiscoveredPair, Discovery } from '../pipeline/discover.js';
import { parseBbox, parseNumber } from './options.js';
import { addNetworkOptions, remoteOptions, stacTarget, type NetworkFlags } from './search-command.js';

/** Flags shared by `pair` and `detect --event-date`. */
export interface PairFlags extends NetworkFlags {
  eventDate?: string;
  windowDays?: string;
  maxCloud?: string;
  limit?: string;
}

/** Add --event-date, --window-days, --max-cloud, --limit. */
export function addPairOptions(cmd: Command, { required }: { required: boolean }): Command {
  const text = 'the event date (YYYY-MM-DD): the before scene is chosen before it, the after scene on or after it';
  if (required) cmd.requiredOption('--event-date <date>', text);
  else cmd.option('--event-date <date>', `${text}; finds both scenes by STAC search instead of --before/--after`);
  return cmd
    .option('--window-days <n>', 'look this many days before and after the event', '30')
    .option('--max-cloud <pct>', 'search only scenes with eo:cloud_cover below this percentage (the ranking uses the AOI clear share)')
    .option('--limit <n>', 'at most this many search results', '100');
}

/** Parse --event-date strictly (a real calendar date). */
export function parseEventDate(text: string): string {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text.trim());
  const d = m ? new Date(`${text.trim()}T00:00:00Z`) : null;
  if (!m || !d || Number.isNaN(d.getTime()) || d.toISOString().slice(0, 10) !== text.trim()) {
    throw new UsageError('invalid --event-date', { input: '--event-date', expected: 'a date YYYY-MM-DD', found: JSON.stringify(text), fix: 'Example: --event-date 2024-07-15' });
  }
  return text.trim();
}

/** Run the discovery the flags describe (`remote`: the read options of the flags unless given). */
export async function runPairDiscovery(f: PairFlags, bbox: Bounds, log: (m: string) => void, remote?: RemoteReadOptions): Promise<DiscoveredPair> {
  const { discoverPair } = await import('../pipeline/discover.js');
  remote ??= await remoteOptions(f);
  return discoverPair({
    ...stacTarget(f), bbox, eventDate: parseEventDate(f.eventDate ?? ''),
    windowDays: parseNumber('--window-days', f.windowDays ?? '30', 1, 3650),
    maxCloud: f.maxCloud !== undefined ? parseNumber('--max-cloud', f.maxCloud, 0, 100) : undefined,
    limit: parseNumber('--limit', f.limit ?? '100', 1, 10_000),
    remote, log,
  });
}

/** The human-readable account of a discovery. */
export function describeDiscovery(d: Discovery): string {
  const lines = [
    `before: ${d.before.id}  (${(d.before.datetime ?? '?').slice(0, 10)})`,
    `after:  ${d.after.id}  (${(d.after.datetime ?? '?').slice(0, 10)})`,
    `ranking of ${d.ranking.length} scenes found within ±${d.windowDays} days of ${d.eventDate}:`,
    ...d.ranking.map((r) => `  ${r.chosen ? '*' : ' '} ${r.role.padEnd(6)} ${r.id}: ${r.reason}`),
    `SCL reads: ${(d.sclReads.bytesFetched / 1024).toFixed(1)} KB in ${d.sclReads.requests} requests`,
  ];
  return `${lines.join('\n')}\n`;
}

interface PairCmdFlags extends PairFlags {
  bbox: string;
  json?: boolean;
}

/** Register `s2change pair`. */
export function registerPair(program: Command): void {
  const cmd = program
    .command('pair')
    .description('choose the best before/after scene pair for an event over an area (STAC search + SCL clear share of the AOI)')
    .requiredOption('--bbox <minx,miny,maxx,maxy>', 'area of interest in WGS84 degrees (lon/lat)');
  addPairOptions(cmd, { required: true });
  cmd.option('--json', 'machine-readable output on stdout');
  addNetworkOptions(cmd);
  cmd.action(async (f: PairCmdFlags) => {
    const bbox = parseBbox(f.bbox);
    const { discovery } = await runPairDiscovery(f, bbox, (m) => process.stderr.write(`${m}\n`));
    if (f.json) process.stdout.write(`${JSON.stringify(discovery, null, 2)}\n`);
    else process.stdout.write(describeDiscovery(discovery));
  });
}
