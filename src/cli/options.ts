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
