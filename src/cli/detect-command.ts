/**
 * `s2change detect`: two scenes → change map, polygons, hectares, report.
 */
import type { Command } from 'commander';
import { PRESETS } from '../change/presets/index.js';
import type { ChangeMethod } from '../change/presets/types.js';
import { canonicalBand, type BandName } from '../indices/bands.js';
import { UsageError } from '../errors.js';
import { runDetect } from '../pipeline/run-detect.js';
import { parseBbox, parseChoice, parseList, parseNumber } from './options.js';
import { printRunLine } from './summary-line.js';

interface DetectFlags {
  before?: string; after?: string; preset: string; out?: string; bbox?: string; method?: string; threshold?: string;
  minArea?: string; bands?: string; beforeBands?: string; afterBands?: string; beforeScl?: string; afterScl?: string;
  cvaBands?: string; scale?: string; offset?: string; cloudBuffer?: string; json?: boolean; overwrite?: boolean;
  float?: boolean; maxPixels?: string;
}

const METHODS: readonly ChangeMethod[] = ['otsu', 'threshold', 'cva'];

export function registerDetect(program: Command): void {
  program
    .command('detect')
    .description('map change between a before and an after scene')
    .option('--before <src>', 'before scene: band folder, multi-band GeoTIFF, STAC item .json, or PNG')
    .requiredOption('--after <src>', 'after scene (the only one needed for --preset water)')
    .requiredOption('--preset <name>', `one of ${PRESETS.map((p) => p.name).join(' | ')}`)
    .requiredOption('--out <dir>', 'output folder')
    .option('--bbox <minx,miny,maxx,maxy>', 'clip to this WGS84 box (lon/lat degrees)')
    .option('--method <m>', `change method: ${METHODS.join(' | ')} (default: the preset's)`)
    .option('--threshold <x>', "override the preset's main threshold")
    .option('--min-area <ha>', 'minimum mapping unit in hectares: smaller patches become no change', '0')
    .option('--bands <list>', 'band names of a multi-band file or PNG in order, e.g. B2,B3,B4,B8,B12 (- skips a band)')
    .option('--before-bands <list>', '--bands for the before file only')
    .option('--after-bands <list>', '--bands for the after file only')
    .option('--before-scl <tif>', 'separate SCL file for the before date')
    .option('--after-scl <tif>', 'separate SCL file for the after date')
    .option('--cva-bands <list>', 'bands for CVA (generic preset / --method cva)')
    .option('--scale <x>', 'override radiometric scale (reflectance = (DN + offset) × scale)')
    .option('--offset <dn>', 'override radiometric offset in DN (e.g. -1000 for processing baseline 04.00+)')
    .option('--cloud-buffer <px>', 'grow the SCL cloud/shadow mask by this many pixels', '2')
    .option('--max-pixels <n>', 'refuse images larger than this many pixels (safety limit)')
    .option('--json', 'print the run summary as JSON on stdout')
    .option('--overwrite', 'replace existing outputs in --out')
    .action(async (f: DetectFlags) => {
      const method = f.method ? parseChoice('--method', f.method, METHODS) : undefined;
      const summary = await runDetect({
        before: f.before, after: f.after!, preset: f.preset, out: f.out!, overwrite: !!f.overwrite,
        bbox: f.bbox ? parseBbox(f.bbox) : null,
        method,
        threshold: f.threshold !== undefined ? parseNumber('--threshold', f.threshold) : undefined,
        minAreaHa: parseNumber('--min-area', f.minArea ?? '0', 0),
        bands: f.bands ? parseList(f.bands) : undefined,
        beforeBands: f.beforeBands ? parseList(f.beforeBands) : undefined,
        afterBands: f.afterBands ? parseList(f.afterBands) : undefined,
        beforeScl: f.beforeScl, afterScl: f.afterScl,
        cvaBands: f.cvaBands ? parseList(f.cvaBands).map(toBand) : undefined,
        cloudBuffer: parseNumber('--cloud-buffer', f.cloudBuffer ?? '2', 0, 100),
        scene: {
          scale: f.scale !== undefined ? parseNumber('--scale', f.scale, 0) : undefined,
          offset: f.offset !== undefined ? parseNumber('--offset', f.offset) : undefined,
          limits: f.maxPixels ? { maxPixels: parseNumber('--max-pixels', f.maxPixels, 1) } : undefined,
        },
        log: (m) => process.stderr.write(`${m}\n`),
      });
      if (f.json) process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
      else printRunLine(process.stderr, f.out!, summary);
    });
}

function toBand(s: string): BandName {
  const b = canonicalBand(s);
  if (!b) throw new UsageError('unknown band in --cva-bands', { input: '--cva-bands', expected: 'B1…B12, B8A', found: s });
  return b;
}
