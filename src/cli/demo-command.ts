/**
 * `s2change demo`: every sample event in data/events.json, from the shared sample data into out/<event>/,
 * with a one-line summary per event and, where the event has reference labels, its accuracy.
 */
import path from 'node:path';
import type { Command } from 'commander';
import { InputNotFoundError, InvalidInputError, S2ChangeError, UsageError } from '../errors.js';
import type { ChangeMethod } from '../change/presets/types.js';
import type { RunSummary } from '../pipeline/run-detect.js';
import { PACKAGE_ROOT, resolveDataRoot } from './data-root.js';
import { parseList } from './options.js';
import { addNetworkOptions, type NetworkFlags } from './search-command.js';
import { runLine } from './summary-line.js';

export interface SampleEvent {
  id: string;
  title: string;
  preset: string;
  before?: string;
  after: string;
  beforeScl?: string;
  afterScl?: string;
  bands?: string[];
  method?: ChangeMethod;
  minAreaHa?: number;
  truth?: { path: string; change: number[]; noChange: number[]; ignore?: number[] };
  licence?: string;
  /** Where and when, so that `demo` can fetch the event's scenes by STAC search when the samples are absent. */
  place?: EventPlace;
}

/** An event's place and time: WGS84 bbox [minLon, minLat, maxLon, maxLat], event date, search window in days. */
export interface EventPlace {
  bbox: [number, number, number, number];
  eventDate: string;
  windowDays: number;
  /** Where the bbox and date come from. */
  source?: string;
}

/** The sample events shipped with s2change (paths relative to the sample data folder). */
export async function loadEvents(file = path.join(PACKAGE_ROOT, 'data', 'events.json')): Promise<SampleEvent[]> {
  const { readJsonFile } = await import('../io/local-file.js');
  const json = await readJsonFile(file, 'an events file ({ "events": [...] })') as { events?: unknown } | null;
  if (!json || typeof json !== 'object' || !Array.isArray(json.events)) {
    throw new InvalidInputError('not an events file', {
      input: file, expected: 'JSON of the form { "events": [ { "id": …, … } ] }', found: json && typeof json === 'object' ? 'no "events" array' : `a JSON ${json === null ? 'null' : typeof json}`,
      fix: 'See data/events.json in the package for the format',
    });
  }
  return json.events as SampleEvent[];
}

export interface DemoEventResult {
  id: string;
  ok: boolean;
  out: string;
  summary?: RunSummary;
  accuracy?: { f1: number; precision: number; recall: number; iou: number; kappa: number; pixels: number };
  error?: string;
}

/** Run one sample event into `outRoot/<id>` (replacing earlier demo output there). */
export async function runEvent(ev: SampleEvent, dataRoot: string, outRoot: string): Promise<DemoEventResult> {
  const { runDetect } = await import('../pipeline/run-detect.js');
  const at = (p?: string) => (p ? path.join(dataRoot, p) : undefined);
  const out = path.join(outRoot, ev.id);
  // The run scores itself against the event's labels: summary.json's `accuracy` and the report's section.
  const summary = await runDetect({
    before: at(ev.before), after: at(ev.after)!, preset: ev.preset, out, overwrite: true, bands: ev.bands,
    beforeScl: at(ev.beforeScl), afterScl: at(ev.afterScl), method: ev.method, minAreaHa: ev.minAreaHa, title: ev.title,
    truth: ev.truth ? { path: at(ev.truth.path)!, change: ev.truth.change, noChange: ev.truth.noChange, ignore: ev.truth.ignore, licence: ev.licence } : undefined,
  });
  const result: DemoEventResult = { id: ev.id, ok: true, out, summary };
  if (summary.accuracy) result.accuracy = { ...summary.accuracy.scores, pixels: summary.accuracy.pixels };
  return result;
}

interface DemoFlags extends NetworkFlags { data?: string; out: string; only?: string; events?: string; fetch?: boolean; json?: boolean }

export function registerDemo(program: Command): void {
  const cmd = program
    .command('demo')
    .description('run every sample event of data/events.json from the shared sample data into out/<event>/')
    .option('--data <dir>', 'sample data folder (default $S2CHANGE_DATA or ../shared/data)')
    .option('--out <dir>', 'output root', 'out')
    .option('--only <ids>', 'comma-separated event ids')
    .option('--events <file>', 'another events file')
    .option('--fetch', "fetch each event's scenes from the STAC API even when the sample folder exists")
    .option('--json', 'machine-readable results on stdout');
  addNetworkOptions(cmd);
  cmd.action(async (o: DemoFlags) => {
      const { getPreset } = await import('../change/presets/index.js');
      let dataRoot: string | null = null;
      let missing: S2ChangeError | null = null;
      try {
        if (!o.fetch) dataRoot = resolveDataRoot(o.data);
      } catch (err) {
        if (!(err instanceof S2ChangeError)) throw err;
        missing = err;
      }
      let events = await loadEvents(o.events);
      if (o.only) {
        const ids = parseList(o.only, '--only');
        const unknown = ids.filter((id) => !events.some((e) => e.id === id));
        if (unknown.length) {
          throw new UsageError('unknown event id', { input: '--only', expected: events.map((e) => e.id).join(', '), found: unknown.join(', ') });
        }
        events = events.filter((e) => ids.includes(e.id));
      }
      if (!dataRoot) {
        await fetchDemo(events, o, missing);
        return;
      }
      process.stderr.write(`s2change demo: ${events.length} sample events from ${dataRoot} into ${path.resolve(o.out)}/\n`);
      const results: DemoEventResult[] = [];
      for (const ev of events) {
        const t0 = Date.now();
        try {
          const r = await runEvent(ev, dataRoot, o.out);
          results.push(r);
          const acc = r.accuracy ? `  F1 ${(100 * r.accuracy.f1).toFixed(1)} % vs reference` : '';
          process.stdout.write(`${ev.id.padEnd(20)} ${runLine(r.out, r.summary!, getPreset(ev.preset).changeClasses)}${acc}  (${((Date.now() - t0) / 1000).toFixed(1)} s)\n`);
        } catch (err) {
          const msg = err instanceof S2ChangeError ? `[${err.code}] ${err.message}` : String((err as Error)?.stack ?? err);
          results.push({ id: ev.id, ok: false, out: path.join(o.out, ev.id), error: msg });
          process.stdout.write(`${ev.id.padEnd(20)} FAILED: ${msg}\n`);
        }
      }
      reportResults(results, o);
    });
}

function reportResults(results: DemoEventResult[], o: DemoFlags): void {
  if (o.json) process.stdout.write(`${JSON.stringify(results.map(({ summary, ...rest }) => ({ ...rest, areas: summary?.areas })), null, 2)}\n`);
  const failed = results.filter((r) => !r.ok);
  if (failed.length) {
    throw new S2ChangeError('INPUT_NOT_FOUND', `${failed.length} of ${results.length} sample events failed`, {
      input: failed.map((f) => f.id).join(', '), fix: 'See the messages above',
    });
  }
}

/**
 * The demo without the sample folder: each event that has a `place` is run as `detect --event-date` (the clearest
 * L2A pair over its bbox, found in the STAC API, read by HTTP range requests into the user's range cache, so a
 * second run takes the tiles from the cache). Events without a place are skipped with the reason. When the STAC
 * API cannot be reached either, one plain message says both ways to run the demo.
 */
async function fetchDemo(events: SampleEvent[], o: DemoFlags, missing: S2ChangeError | null): Promise<void> {
  const { runCli } = await import('../batch/run-job.js');
  const { defaultRangeCacheDir } = await import('../io/range-cache.js');
  const { getPreset } = await import('../change/presets/index.js');
  const cacheDir = o.cacheDir ?? defaultRangeCacheDir(); // the detect children's own default unless --cache-dir
  const net = [
    ...(o.stacApi ? ['--stac-api', o.stacApi] : []), ...(o.collection ? ['--collection', o.collection] : []),
    ...(o.allowPrivateNetwork ? ['--allow-private-network'] : []), ...(o.timeout ? ['--timeout', o.timeout] : []),
    ...(o.maxFetchMb ? ['--max-fetch-mb', o.maxFetchMb] : []), ...(o.cache === false ? ['--no-cache'] : o.cacheDir ? ['--cache-dir', o.cacheDir] : []),
  ];
  const why = missing ? 'the sample data folder was not found' : '--fetch';
  process.stderr.write(`s2change demo: ${why}; fetching each event's scenes from ${o.stacApi ?? 'Earth Search (https://earth-search.aws.element84.com/v1)'} `
    + `by STAC search and HTTP range reads (tiles cached in ${o.cache === false ? 'no cache' : cacheDir}) into ${path.resolve(o.out)}/\n`);
  const results: DemoEventResult[] = [];
  let unreachable: string | null = null;
  for (const ev of events) {
    const out = path.join(o.out, ev.id);
    if (!ev.place) {
      process.stdout.write(`${ev.id.padEnd(20)} skipped: no place in the events file (${ev.licence ?? 'sample data only'}); it needs the sample folder\n`);
      continue;
    }
    const t0 = Date.now();
    const args = ['detect', '--event-date', ev.place.eventDate, '--window-days', String(ev.place.windowDays), '--bbox', ev.place.bbox.join(','),
      '--preset', ev.preset, ...(ev.method ? ['--method', ev.method] : []), ...(ev.minAreaHa ? ['--min-area', String(ev.minAreaHa)] : []),
      '--out', out, '--overwrite', '--json', ...net];
    const r = await runCli(args, (line) => { if (/^pair:|fetched over HTTP/.test(line)) process.stderr.write(`  ${ev.id}: ${line}\n`); });
    if (r.code === 0) {
      const summary = JSON.parse(r.stdout) as RunSummary;
      results.push({ id: ev.id, ok: true, out, summary });
      process.stdout.write(`${ev.id.padEnd(20)} ${runLine(out, summary, getPreset(ev.preset).changeClasses)}  (fetched scenes; not scored: the labels are on the sample's grid)  (${((Date.now() - t0) / 1000).toFixed(1)} s)\n`);
    } else {
      const msg = /s2change: error \[[A-Z_]+\]: .*/.exec(r.stderrTail.join('\n'))?.[0] ?? r.stderrTail.slice(-2).join(' ');
      if (/\[NETWORK\]|\[STAC\]/.test(msg) && /reach|connect|ENOTFOUND|EAI_AGAIN|ECONNREFUSED/i.test(msg)) unreachable = msg;
      results.push({ id: ev.id, ok: false, out, error: msg });
      process.stdout.write(`${ev.id.padEnd(20)} FAILED: ${msg}\n`);
      if (unreachable) break;
    }
  }
  if (unreachable) {
    throw new InputNotFoundError('the demo needs its sample data or the network, and has neither', {
      input: missing?.input ?? 'demo --fetch',
      expected: 'the sample folder (oscd/, wildfire-calfire-s2/, …) or a reachable STAC API',
      found: `${missing ? `${missing.found}; ` : ''}${unreachable.replace(/^s2change: /, '')}`,
      fix: 'Either put the samples at ../shared/data (or pass --data DIR / set S2CHANGE_DATA), or run online: the demo then fetches each event\'s scenes from Earth Search (a few MB per event, cached for the next run)',
    });
  }
  reportResults(results, o);
}
