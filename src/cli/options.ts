/**
 * Parsing and checking command-line values. Every refusal is a UsageError (exit 2) that names the option,
 * what was expected and what was received, in the style of sharp's `is.mjs`.
 */
import { UsageError } from '../errors.js';
import type { Bounds } from '../raster/grid.js';

/** "minLon,minLat,maxLon,maxLat" in WGS84 degrees. */
export function parseBbox(text: string): Bounds {
  const parts = text.split(',').map((s) => Number(s.trim()));
  const bad = parts.length !== 4 || parts.some((v) => !Number.isFinite(v));
  const [minX, minY, maxX, maxY] = parts as [number, number, number, number];
  if (bad || minX >= maxX || minY >= maxY || minX < -180 || maxX > 180 || minY < -90 || maxY > 90) {
    throw new UsageError('invalid --bbox', {
      input: '--bbox', expected: 'four numbers minLon,minLat,maxLon,maxLat in WGS84 degrees with min < max',
      found: JSON.stringify(text), fix: 'Example: --bbox 19.40,41.70,19.60,41.85',
    });
  }
  return { minX, minY, maxX, maxY };
}

/** A finite number within [min, max]. */
export function parseNumber(option: string, text: string, min = -Infinity, max = Infinity): number {
  const v = Number(text);
  if (text.trim() === '' || !Number.isFinite(v) || v < min || v > max) {
    throw new UsageError(`invalid ${option}`, {
      input: option, expected: `a number between ${min} and ${max}`, found: `${JSON.stringify(text)}`,
    });
  }
  return v;
}

/** "B2,B3,B4" → ["B2","B3","B4"]. */
export function parseList(text: string): string[] {
  return text.split(',').map((s) => s.trim()).filter((s, i, a) => s !== '' || a.length === 1);
}

/** One of `allowed`. */
export function parseChoice<T extends string>(option: string, text: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(text)) {
    throw new UsageError(`invalid ${option}`, { input: option, expected: allowed.join(' | '), found: JSON.stringify(text) });
  }
  return text as T;
}
