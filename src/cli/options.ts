/**
 * Parsing and checking command-line values. Every refusal is a UsageError (exit 2) that names the option,
 * what was expected and what was received, in the style of sharp's `is.mjs`.
 *
 * Numbers are plain decimals only: `12`, `-0.5`, `.25`, `1e3`. JavaScript's `Number()` also takes `0x10`, `0b11`,
 * `0o7`, `Infinity`, `''` and `' '` (as 0) — none of which anyone means on a command line — so they are refused.
 * An empty value (`--bbox ''`, `--out ''`) is refused for every option by `refuseEmptyOptionValues`.
 */
import type { Command } from 'commander';
import { TimeLimitError, UsageError } from '../errors.js';
import type { Bounds } from '../raster/grid.js';

/** A plain decimal number: optional sign, digits with an optional fraction, optional exponent with digits. */
const DECIMAL = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;

/** The value of a plain decimal `text` (surrounding spaces allowed), or NaN for anything else. */
export function decimalValue(text: string): number {
  const t = text.trim();
  return DECIMAL.test(t) ? Number(t) : NaN;
}

/** "minLon,minLat,maxLon,maxLat" in WGS84 degrees. */
export function parseBbox(text: string): Bounds {
  const parts = text.split(',').map(decimalValue);
  const bad = parts.length !== 4 || parts.some((v) => !Number.isFinite(v));
  const [minX, minY, maxX, maxY] = parts as [number, number, number, number];
  const valid = (x0: number, y0: number, x1: number, y1: number) => x0 < x1 && y0 < y1 && x0 >= -180 && x1 <= 180 && y0 >= -90 && y1 <= 90;
  if (!bad && !valid(minX, minY, maxX, maxY) && valid(minY, minX, maxY, maxX)) {
    throw new UsageError('--bbox has latitude and longitude swapped', {
      input: '--bbox', expected: 'minLon,minLat,maxLon,maxLat (longitude first)',
      found: `${JSON.stringify(text)}: not a valid box read as lon,lat, a valid one read as lat,lon`,
      fix: `Use --bbox ${minY},${minX},${maxY},${maxX}`,
    });
  }
  if (bad || !valid(minX, minY, maxX, maxY)) {
    throw new UsageError('invalid --bbox', {
      input: '--bbox', expected: 'four decimal numbers minLon,minLat,maxLon,maxLat in WGS84 degrees with min < max',
      found: JSON.stringify(text), fix: 'Example: --bbox 19.40,41.70,19.60,41.85',
    });
  }
  return { minX, minY, maxX, maxY };
}

/** A finite plain decimal number within [min, max]. */
export function parseNumber(option: string, text: string, min = -Infinity, max = Infinity): number {
  const v = decimalValue(text);
  if (!Number.isFinite(v) || v < min || v > max) {
    const range = Number.isFinite(min) && Number.isFinite(max) ? ` between ${min} and ${max}`
      : Number.isFinite(min) ? ` >= ${min}` : Number.isFinite(max) ? ` <= ${max}` : '';
    throw new UsageError(`invalid ${option}`, {
      input: option, expected: `a decimal number${range} (digits, optional fraction and exponent; no hex, no Infinity)`,
      found: `${JSON.stringify(text)}`,
    });
  }
  return v;
}

/** A whole decimal number within [min, max] (e.g. --threads, --runs). */
export function parseInteger(option: string, text: string, min = -Infinity, max = Infinity): number {
  const v = parseNumber(option, text, min, max);
  if (!Number.isInteger(v)) {
    throw new UsageError(`invalid ${option}`, { input: option, expected: 'a whole number', found: JSON.stringify(text) });
  }
  return v;
}

/**
 * "B2,B3,B4" → ["B2","B3","B4"]. `option` names the flag in the refusal of an empty list or an empty entry
 * (`--bands ''`, `--bands B2,,B4`).
 */
export function parseList(text: string, option = 'list'): string[] {
  const items = text.split(',').map((s) => s.trim());
  if (items.some((s) => s === '')) {
    throw new UsageError(`invalid ${option}`, {
      input: option, expected: 'a comma-separated list of non-empty names, e.g. B2,B3,B4', found: JSON.stringify(text),
    });
  }
  return items;
}

/** One of `allowed`. */
export function parseChoice<T extends string>(option: string, text: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(text)) {
    throw new UsageError(`invalid ${option}`, { input: option, expected: allowed.join(' | '), found: JSON.stringify(text) });
  }
  return text as T;
}

/**
 * Refuse an empty (or blank) value given on the command line to any option of the command about to run:
 * `--out ''` would otherwise mean the current folder, `--bbox ''` no clipping, `--bands ''` the file's own names.
 * Installed once on the program as a `preAction` hook; defaults are not checked (only values from the CLI).
 */
export function refuseEmptyOptionValues(program: Command): void {
  program.hook('preAction', (_root, action) => {
    for (const opt of action.options) {
      const key = opt.attributeName();
      if (action.getOptionValueSource(key) !== 'cli') continue;
      const v = action.getOptionValue(key) as unknown;
      const values = Array.isArray(v) ? v : [v];
      if (values.some((x) => typeof x === 'string' && x.trim() === '')) {
        throw new UsageError(`empty value for ${opt.long ?? opt.flags}`, {
          input: opt.long ?? opt.flags, expected: `a value (${opt.description || opt.flags})`, found: 'an empty string',
          fix: `Give ${opt.long ?? opt.flags} a value, or leave the option out`,
        });
      }
    }
  });
}

/** Default of --max-time (seconds): one hour for a whole run. */
export const DEFAULT_MAX_TIME_S = 3600;

/**
 * Give every command that has a `--max-time SECONDS` option a run-wide deadline (0: none). When it passes, the run
 * ends with TIME_LIMIT (exit 1) after the same cleanup as SIGTERM: no unfinished output is left (src/io/interrupt.ts).
 * The timer is unref'd: it never keeps a finished process alive.
 */
export function installRunTimeLimit(program: Command): void {
  program.hook('preAction', (_root, action) => {
    if (!action.options.some((o) => o.attributeName() === 'maxTime')) return;
    const text = action.getOptionValue('maxTime') as string | undefined;
    const seconds = parseNumber('--max-time', text ?? String(DEFAULT_MAX_TIME_S), 0, 1e7);
    if (seconds === 0) return;
    const timer = setTimeout(() => {
      const err = new TimeLimitError('the run took too long', {
        input: `s2change ${action.name()}`, expected: `the run to finish within --max-time ${seconds} s`, found: 'still running',
        fix: 'Choose a smaller area (--bbox), or raise the limit with --max-time SECONDS (0: no limit)',
      });
      void import('../io/interrupt.js').then(({ endWithTimeLimit }) => endWithTimeLimit(err));
    }, seconds * 1000);
    timer.unref();
  });
}
