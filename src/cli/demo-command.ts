/**
 * `s2change demo`: every sample event in data/events.json, from the shared sample data into out/<event>/,
 * with a one-line summary per event and, where the event has reference labels, its accuracy.
 */
import path from 'node:path';
import type { Command } from 'commander';
import { InvalidInputError, S2ChangeError, UsageError } from '../errors.js';
import type { ChangeMethod } from '../change/presets/types.js';
import type { RunSummary } from '../pipeline/run-detect.js';
import { PACKAGE_ROOT, resolveDataRoot } from './data-root.js';
import { DEFAULT_MAX_TIME_S, parseList } from './options.js';
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
  const { evaluateAgainst, readLabelRaster, readPrediction } = await import('../pipeline/evaluate.js');
  const at = (p?: string) => (p ? path.join(dataRoot, p) : undefined);
  const out = path.join(outRoot, ev.id);
  const summary = await runDetect({
    before: at(ev.before), after: at(ev.after)!, preset: ev.preset, out, overwrite: true, bands: ev.bands,
    beforeScl: at(ev.beforeScl), afterScl: at(ev.afterScl), method: ev.method, minAreaHa: ev.minAreaHa, title: ev.title,
  });
  const result: DemoEventResult = { id: ev.id, ok: true, out, summary };
  if (ev.truth) {
    const pred = await readPrediction(out);
    const ev2 = evaluateAgainst(pred.raster, pred.changeClasses, await readLabelRaster(at(ev.truth.path)!),
      { change: ev.truth.change, noChange: ev.truth.noChange, ignore: ev.truth.ignore });
    result.accuracy = { ...ev2.scores, pixels: ev2.pixels };
  }
  return result;
}

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('run every sample event of data/events.json from the shared sample data into out/<event>/')
    .option('--data <dir>', 'sample data folder (default $S2CHANGE_DATA or ../shared/data)')
    .option('--out <dir>', 'output root', 'out')
    .option('--only <ids>', 'comma-separated event ids')
    .option('--events <file>', 'another events file')
    .option('--max-time <s>', `time limit of the whole run in seconds, 0 for none (default ${DEFAULT_MAX_TIME_S})`)
    .option('--json', 'machine-readable results on stdout')
    .action(async (o: { data?: string; out: string; only?: string; events?: string; json?: boolean }) => {
      const { getPreset } = await import('../change/presets/index.js');
      const dataRoot = resolveDataRoot(o.data);
      let events = await loadEvents(o.events);
      if (o.only) {
        const ids = parseList(o.only, '--only');
        const unknown = ids.filter((id) => !events.some((e) => e.id === id));
        if (unknown.length) {
          throw new UsageError('unknown event id', { input: '--only', expected: events.map((e) => e.id).join(', '), found: unknown.join(', ') });
        }
        events = events.filter((e) => ids.includes(e.id));
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
      if (o.json) process.stdout.write(`${JSON.stringify(results.map(({ summary, ...rest }) => ({ ...rest, areas: summary?.areas })), null, 2)}\n`);
      const failed = results.filter((r) => !r.ok);
      if (failed.length) {
        throw new S2ChangeError('INPUT_NOT_FOUND', `${failed.length} of ${results.length} sample events failed`, {
          input: failed.map((f) => f.id).join(', '), fix: 'See the messages above',
        });
      }
    });
}
