/**
 * `s2change detect`: two scenes → change map, polygons, hectares, report.
 */
import type { Command } from 'commander';
import { PRESET_NAMES } from '../change/presets/names.js';
import type { ChangeMethod } from '../change/presets/types.js';
import { canonicalBand, type BandName } from '../indices/bands.js';
import { existsSync } from 'node:fs';
import { InputNotFoundError, UsageError } from '../errors.js';
import { BLOCK_ENGINE_MIN_PIXELS, POLYGON_MAX_PIXELS } from '../pipeline/detect-limits.js';
import type { DetectEngine, RunDetectOptions } from '../pipeline/run-detect.js';
import { parseBbox, parseChoice, parseInteger, parseList, parseNumber } from './options.js';
import { addPairOptions, runPairDiscovery, type PairFlags } from './pair-command.js';
import { addNetworkOptions, remoteOptions, stacTarget } from './search-command.js';
import { printRunLine } from './summary-line.js';

interface DetectFlags {
  before?: string; after?: string; preset: string; out?: string; bbox?: string; method?: string; threshold?: string;
  minArea?: string; bands?: string; beforeBands?: string; afterBands?: string; beforeScl?: string; afterScl?: string;
  cvaBands?: string; scale?: string; offset?: string; cloudBuffer?: string; json?: boolean; overwrite?: boolean;
  index?: boolean; maxPixels?: string; maxMemory?: string; model?: string; engine?: string; polygons?: boolean; threads?: string;
  decodeTimeout?: string; decodeMemory?: string; coregister?: boolean; truth?: string; truthChange: string; truthNochange: string; truthIgnore?: string;
}

type Flags = DetectFlags & PairFlags;

const METHODS: readonly ChangeMethod[] = ['otsu', 'threshold', 'cva', 'pca-kmeans', 'mad', 'irmad', 'supervised', 'learned'];
const ENGINES: readonly DetectEngine[] = ['auto', 'blocks', 'whole'];

/** Register `s2change detect`. */
export function registerDetect(program: Command): void {
  const cmd = program
    .command('detect')
    .description('map change between a before and an after scene')
    .option('--before <src>', 'before scene: band folder, SAFE product (.SAFE folder or .zip), multi-band GeoTIFF, STAC item (.json file, URL, or collection/id), or PNG')
    .option('--after <src>', 'after scene (the only one needed for --preset water); required unless --event-date')
    .requiredOption('--preset <name>', `one of ${PRESET_NAMES.join(' | ')}`)
    .requiredOption('--out <dir>', 'output folder')
    .option('--bbox <minx,miny,maxx,maxy>', 'clip to this WGS84 box (lon/lat degrees)')
    .option('--method <m>', `change method: ${METHODS.join(' | ')} (default: the preset's; urban: the learned model when one is given or cached)`)
    .option('--threshold <x>', "override the preset's main threshold")
    .option('--min-area <ha>', 'minimum mapping unit in hectares: smaller patches (the preset\'s change classes together) become no change', '0')
    .option('--bands <list>', 'band names of a multi-band file or PNG in order, e.g. B2,B3,B4,B8,B12 (- skips a band)')
    .option('--before-bands <list>', '--bands for the before file only')
    .option('--after-bands <list>', '--bands for the after file only')
    .option('--before-scl <tif>', 'separate SCL file for the before date')
    .option('--after-scl <tif>', 'separate SCL file for the after date')
    .option('--cva-bands <list>', 'bands for CVA (generic preset / --method cva)')
    .option('--scale <x>', 'override radiometric scale (reflectance = (DN + offset) × scale)')
    .option('--offset <dn>', 'override radiometric offset in DN (e.g. -1000 for processing baseline 04.00+)')
    .option('--cloud-buffer <px>', 'grow the SCL cloud/shadow mask by this many pixels', '2')
    .option('--no-coregister', 'do not co-register the after date onto the before date (default: a sub-pixel shift measured by phase correlation on a 10 m band is applied when confident and ≥ 0.1 px)')
    .option('--max-pixels <n>', 'refuse images larger than this many pixels (safety limit)')
    .option('--max-memory <mb>', 'refuse a single window read larger than this many MB (safety limit, default 4096)')
    .option('--model <file>', 'trained model JSON (from s2change bench accuracy --train FILE): the learned urban model for --preset urban (default: urban-model.json in $S2CHANGE_CACHE, $XDG_CACHE_HOME/s2change or ~/.cache/s2change), or the random forest of --method supervised')
    .option('--engine <mode>', `auto | blocks | whole: the block engine streams whole tiles in bounded memory (every preset and method but supervised); auto uses it above ${BLOCK_ENGINE_MIN_PIXELS / 1e6} M pixels`, 'auto')
    .option('--polygons', `with the block engine, write change.geojson even above ${POLYGON_MAX_PIXELS / 1e6} M pixels (needs the whole class map in memory)`)
    .option('--threads <n>', 'block engine worker threads (default: one per core)')
    .option('--decode-timeout <ms>', 'time budget per date for decoding its local TIFFs in a sandbox before the run (inputs read over HTTP are not preflighted)', '60000')
    .option('--decode-memory <mb>', 'heap budget (MB, >= 256) of that sandbox worker', '1024')
    .option('--no-index', "do not write the preset's float product (e.g. dnbr.tif); it is the slowest output of a whole tile")
    .option('--truth <tif|png>', 'reference labels: score the change map against them (summary.json accuracy, the report)')
    .option('--truth-change <values>', 'label values meaning change', '1')
    .option('--truth-nochange <values>', 'label values meaning no change', '0')
    .option('--truth-ignore <values>', 'label values to skip (e.g. -1)')
    .option('--json', 'print the run summary as JSON on stdout')
    .option('--overwrite', 'replace existing outputs in --out');
  addPairOptions(cmd, { required: false });
  addNetworkOptions(cmd);
  cmd.action(async (f: Flags) => {
      const { getPreset } = await import('../change/presets/index.js');
      const { checkModel } = await import('../change/supervised.js');
      const { discoveredSceneOpener, itemUrlOpener, layersFor } = await import('../pipeline/discover.js');
      const { runDetect } = await import('../pipeline/run-detect.js');
      const { chooseUrbanModel } = await import('../pipeline/urban-model-choice.js');
      const method = f.method ? parseChoice('--method', f.method, METHODS) : undefined;
      const engine = parseChoice('--engine', f.engine ?? 'auto', ENGINES);
      const preset = getPreset(f.preset); // an unknown preset is a usage error before any network or file access
      // Every value is parsed here, before any file or network access: a malformed option costs nothing.
      const parsed = {
        threads: f.threads !== undefined ? parseInteger('--threads', f.threads, 0, 256) : undefined,
        decodeBudget: {
          timeMs: parseNumber('--decode-timeout', f.decodeTimeout ?? '60000', 1),
          memoryMb: parseNumber('--decode-memory', f.decodeMemory ?? '1024', 256),
        },
        threshold: f.threshold !== undefined ? parseNumber('--threshold', f.threshold) : undefined,
        minAreaHa: parseNumber('--min-area', f.minArea ?? '0', 0),
        bands: f.bands !== undefined ? parseList(f.bands, '--bands') : undefined,
        beforeBands: f.beforeBands !== undefined ? parseList(f.beforeBands, '--before-bands') : undefined,
        afterBands: f.afterBands !== undefined ? parseList(f.afterBands, '--after-bands') : undefined,
        cvaBands: f.cvaBands !== undefined ? parseList(f.cvaBands, '--cva-bands').map(toBand) : undefined,
        cloudBuffer: parseNumber('--cloud-buffer', f.cloudBuffer ?? '2', 0, 100),
        scale: f.scale !== undefined ? parseNumber('--scale', f.scale, 0) : undefined,
        offset: f.offset !== undefined ? parseNumber('--offset', f.offset) : undefined,
        limits: f.maxPixels !== undefined || f.maxMemory !== undefined ? {
          ...(f.maxPixels !== undefined ? { maxPixels: parseNumber('--max-pixels', f.maxPixels, 1) } : {}),
          ...(f.maxMemory !== undefined ? { maxWindowBytes: parseNumber('--max-memory', f.maxMemory, 1) * 1024 * 1024 } : {}),
        } : undefined,
      };
      const { readJsonFile } = await import('../io/local-file.js');
      // Urban runs take the learned model (--model, or the one in the cache directory); --method supervised its forest.
      const urban = preset.name === 'urban' && method !== 'supervised' ? await chooseUrbanModel({ method, modelPath: f.model }) : null;
      const supervisedModel = f.model !== undefined && !urban ? checkModel(await readJsonFile(f.model, 'the --model file (a model JSON from s2change bench accuracy --train)'), f.model) : undefined;
      const urbanOptions = urban ? {
        method: urban.method, urbanModel: urban.model, urbanModelSource: urban.info?.path, urbanModelInfo: urban.info, notes: urban.notes,
      } : { method };
      const bbox = f.bbox !== undefined ? parseBbox(f.bbox) : null;
      const remote = await remoteOptions(f);
      const log = (m: string): void => void process.stderr.write(`${m}\n`);
      let inputs: Pick<RunDetectOptions, 'before' | 'after' | 'open' | 'discovery'>;
      if (f.eventDate !== undefined) {
        if (f.before !== undefined || f.after !== undefined) {
          throw new UsageError('--event-date and --before/--after exclude each other', {
            input: '--event-date', expected: 'either --event-date (scenes found by STAC search) or --before/--after', found: 'both',
            fix: 'Drop --before/--after to let s2change choose the pair, or drop --event-date to use your scenes',
          });
        }
        if (!bbox) {
          throw new UsageError('--event-date needs --bbox', { input: '--event-date', expected: '--bbox minLon,minLat,maxLon,maxLat', found: 'no --bbox', fix: 'Example: --bbox 19.40,41.70,19.60,41.85' });
        }
        const found = await runPairDiscovery(f, bbox, log, remote);
        log(`pair: before ${found.discovery.before.id}, after ${found.discovery.after.id}`);
        inputs = {
          before: found.scenes.before.href, after: found.scenes.after.href,
          open: discoveredSceneOpener([found.scenes.before, found.scenes.after], remote,
            layersFor(preset, [...found.scenes.before.members, ...found.scenes.after.members],
              { ...urbanOptions, supervisedModel, cvaBands: parsed.cvaBands })),
          discovery: found.discovery as unknown as Record<string, unknown>,
        };
      } else {
        if (f.after === undefined) {
          throw new UsageError('missing --after', { input: 'detect', expected: '--after SRC (and --before SRC), or --event-date with --bbox', found: 'neither', fix: 'Pass --before/--after, or --event-date DATE --bbox … to find the scenes' });
        }
        const before = f.before !== undefined ? itemRef(f.before, f) : undefined;
        const after = itemRef(f.after, f);
        const srcs = preset.singleDate || before === undefined ? [after] : [before, after];
        const open = await itemUrlOpener(srcs, remote, preset, { ...urbanOptions, supervisedModel, cvaBands: parsed.cvaBands });
        inputs = { before, after, ...(open ? { open } : {}) };
      }
      if (f.truth !== undefined && !existsSync(f.truth)) {
        throw new InputNotFoundError('no such label file', { input: f.truth, expected: 'reference labels (GeoTIFF or PNG) for --truth', found: 'nothing at that path', fix: 'Check the --truth path' });
      }
      const labelValues = (option: string, text: string) => parseList(text).map((v) => parseNumber(option, v));
      const summary = await runDetect({
        ...inputs, preset: f.preset, out: f.out!, overwrite: !!f.overwrite,
        truth: f.truth !== undefined ? {
          path: f.truth, change: labelValues('--truth-change', f.truthChange ?? '1'), noChange: labelValues('--truth-nochange', f.truthNochange ?? '0'),
          ...(f.truthIgnore ? { ignore: labelValues('--truth-ignore', f.truthIgnore) } : {}),
        } : undefined,
        bbox, engine, polygons: !!f.polygons, writeIndex: f.index !== false,
        threads: parsed.threads,
        ...urbanOptions, supervisedModel, coregister: f.coregister !== false,
        decodeBudget: parsed.decodeBudget,
        threshold: parsed.threshold,
        minAreaHa: parsed.minAreaHa,
        bands: parsed.bands,
        beforeBands: parsed.beforeBands,
        afterBands: parsed.afterBands,
        beforeScl: f.beforeScl, afterScl: f.afterScl,
        cvaBands: parsed.cvaBands,
        cloudBuffer: parsed.cloudBuffer,
        scene: {
          scale: parsed.scale,
          offset: parsed.offset,
          limits: parsed.limits,
          remote,
        },
        log,
      });
      const remoteInputs = summary.inputs.filter((i) => i.bytesFetched !== undefined);
      if (remoteInputs.length) {
        log(`fetched over HTTP: ${remoteInputs.map((i) => `${i.role} ${(i.bytesFetched! / 1048576).toFixed(2)} MB in ${i.requests} requests`).join(', ')}`);
      }
      if (f.json) process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
      else printRunLine(process.stderr, f.out!, summary);
    });
}

/**
 * An ITEM argument: a local path as given; an http(s) URL as given; `collection/id` (when no such local path
 * exists) → the item URL in the STAC API (--stac-api).
 */
export function itemRef(src: string, f: { stacApi?: string }): string {
  if (/^https?:\/\//i.test(src) || existsSync(src)) return src;
  const m = /^([A-Za-z0-9._-]+)\/([A-Za-z0-9._-]+)$/.exec(src);
  if (!m) return src; // openScene reports the missing path
  return `${stacTarget(f).stacApi.replace(/\/+$/, '')}/collections/${encodeURIComponent(m[1]!)}/items/${encodeURIComponent(m[2]!)}`;
}

function toBand(s: string): BandName {
  const b = canonicalBand(s);
  if (!b) throw new UsageError('unknown band in --cva-bands', { input: '--cva-bands', expected: 'B1…B12, B8A', found: s });
  return b;
}
