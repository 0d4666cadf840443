/**
 * Batch job files: a JSON array (or `{"jobs": [...]}`) or a CSV with a header, one job per element/row. A job is an
 * `id` (a safe folder name, unique) and `detect`'s long options without the dashes (`before`, `after`, `preset`,
 * `bbox`, `event-date`, `min-area`, …). The whole file is checked before anything runs: an unknown key, a duplicate
 * or unsafe id, a missing required key or a value of the wrong kind is a typed error naming the job and the key.
 *
 * Pure module apart from the caller reading the file: no process spawning, no Redis.
 */
import { createHash } from 'node:crypto';
import { parse as parseCsv } from 'csv-parse/sync';
import { UsageError } from '../errors.js';

/** What `detect` accepts for one long option (taken from the command's definition, not a copy of it). */
export interface DetectOptionSpec {
  /** Long name without dashes, e.g. "min-area". */
  name: string;
  /** true when the option takes a value (`--min-area 0.5`), false for a flag (`--polygons`). */
  takesValue: boolean;
  /** true for `--no-x` options: the job writes `"x": false`. */
  negate: boolean;
}

/** Options a job may not set: the batch decides them for every job. */
export const BATCH_OWNED_OPTIONS: readonly string[] = ['out', 'json', 'overwrite', 'help'];

/** A checked job: its id and its detect options (values as strings, flags as booleans). */
export interface BatchJob {
  id: string;
  options: Record<string, string | boolean>;
  /** SHA-256 of the canonical form of the options and id: equal hashes mean equal parameters. */
  hash: string;
}

const SAFE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

/** Parse and check a job file's text. `source` names the file in errors. */
export function parseJobFile(
  text: string, source: string, detectOptions: readonly DetectOptionSpec[],
  /** Rewrites a value before it is hashed (e.g. local paths made absolute, so a file named two ways is one job). */
  normalise: (key: string, value: string) => string = (_k, v) => v,
): BatchJob[] {
  const raw = looksLikeJson(text) ? jsonRows(text, source) : csvRows(text, source);
  if (raw.length === 0) {
    throw new UsageError('the job file has no jobs', { input: source, expected: 'at least one job', found: 'none', fix: 'Add one object (JSON) or one row (CSV) per job' });
  }
  const specs = new Map(detectOptions.map((o) => [o.name, o]));
  const seen = new Map<string, number>();
  return raw.map((row, i) => {
    const where = `job ${i + 1}`;
    const idValue = row.id;
    if (idValue === undefined || idValue === '') {
      throw jobError(source, where, 'id', 'an "id" for every job (a safe folder name)', 'no id', 'Give the job an id such as "fire-2024-07"');
    }
    const id = String(idValue);
    if (!SAFE_ID.test(id) || id === '.' || id === '..') {
      throw jobError(source, `${where} (id "${id}")`, 'id', 'letters, digits, ".", "_" and "-", starting with a letter or digit, at most 100 characters',
        JSON.stringify(id), 'Rename the job: the id becomes a folder under --out');
    }
    const folded = id.toLowerCase(); // one folder per id even on case-insensitive file systems
    if (seen.has(folded)) {
      throw jobError(source, `${where} (id "${id}")`, 'id', 'unique ids (compared without case)', `the same id as job ${seen.get(folded)! + 1}`, 'Give each job its own id');
    }
    seen.set(folded, i);
    const options: Record<string, string | boolean> = {};
    for (const [key, value] of Object.entries(row)) {
      if (key === 'id' || value === undefined || value === null || value === '') continue;
      const spec = specs.get(key);
      if (!spec || BATCH_OWNED_OPTIONS.includes(key)) {
        const owned = BATCH_OWNED_OPTIONS.includes(key);
        throw jobError(source, `job "${id}"`, key, owned ? 'only per-job options (the batch sets this one for every job)' : "one of detect's long options without the dashes",
          `"${key}"`, owned ? `Remove "${key}": batch sets it` : `Check the spelling; the options are: ${[...specs.keys()].filter((k) => !BATCH_OWNED_OPTIONS.includes(k)).join(', ')}`);
      }
      const v = optionValue(value, spec, source, id);
      options[key] = typeof v === 'string' ? normalise(key, v) : v;
    }
    if (options.preset === undefined) {
      throw jobError(source, `job "${id}"`, 'preset', 'a "preset" (flood, wildfire, urban, vegetation, water, generic …)', 'none', 'Add "preset" to the job');
    }
    if (options.after === undefined && options['event-date'] === undefined) {
      throw jobError(source, `job "${id}"`, 'after', '"after" (and "before"), or "event-date" with "bbox"', 'neither', 'Add the scenes or an event date');
    }
    return { id, options, hash: jobHash(id, options) };
  });
}

/** detect's command-line arguments for a job (without --out, --json, --overwrite). */
export function jobArguments(job: BatchJob, detectOptions: readonly DetectOptionSpec[]): string[] {
  const specs = new Map(detectOptions.map((o) => [o.name, o]));
  const args: string[] = [];
  for (const key of Object.keys(job.options).sort()) {
    const value = job.options[key]!;
    const spec = specs.get(key)!;
    if (spec.takesValue) args.push(`--${key}`, String(value));
    else if (spec.negate) { if (value === false) args.push(`--no-${key}`); }
    else if (value === true) args.push(`--${key}`);
  }
  return args;
}

function optionValue(value: unknown, spec: DetectOptionSpec, source: string, id: string): string | boolean {
  if (spec.takesValue) {
    if (typeof value === 'string' || typeof value === 'number') return String(value);
    if (Array.isArray(value) && value.every((v) => typeof v === 'string' || typeof v === 'number')) return value.join(',');
    throw jobError(source, `job "${id}"`, spec.name, 'a string or a number (lists as "a,b,c" or an array)', JSON.stringify(value), `Write e.g. "${spec.name}": "…"`);
  }
  if (typeof value === 'boolean') {
    if (!spec.negate && value === false) return false;
    return value;
  }
  if (typeof value === 'string' && /^(true|false)$/i.test(value)) return value.toLowerCase() === 'true';
  throw jobError(source, `job "${id}"`, spec.name, 'true or false (a flag)', JSON.stringify(value), `Write "${spec.name}": ${spec.negate ? 'false' : 'true'}`);
}

function jobError(source: string, where: string, key: string, expected: string, found: string, fix: string): UsageError {
  return new UsageError(`${where}: bad "${key}"`, { input: `${source}: ${where}, key "${key}"`, expected, found, fix });
}

function looksLikeJson(text: string): boolean {
  const t = text.replace(/^\uFEFF/, '').trimStart();
  return t.startsWith('[') || t.startsWith('{');
}

function jsonRows(text: string, source: string): Record<string, unknown>[] {
  let json: unknown;
  try {
    json = JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch (err) {
    throw new UsageError('the job file is not valid JSON', { input: source, expected: 'a JSON array of jobs or {"jobs": [...]}', found: (err as Error).message, fix: 'Fix the JSON (or write a CSV with a header row)' });
  }
  const list = Array.isArray(json) ? json : (json as { jobs?: unknown })?.jobs;
  if (!Array.isArray(list)) {
    throw new UsageError('the job file holds no job list', { input: source, expected: 'a JSON array of jobs or {"jobs": [...]}', found: typeof json, fix: 'Wrap the jobs in [...] or {"jobs": [...]}' });
  }
  return list.map((row, i) => {
    if (!row || typeof row !== 'object' || Array.isArray(row)) {
      throw new UsageError(`job ${i + 1} is not an object`, { input: `${source}: job ${i + 1}`, expected: 'an object such as {"id": "a", "preset": "flood", …}', found: JSON.stringify(row), fix: 'Write each job as an object' });
    }
    return row as Record<string, unknown>;
  });
}

function csvRows(text: string, source: string): Record<string, unknown>[] {
  try {
    return parseCsv(text, { columns: true, skip_empty_lines: true, trim: true, bom: true }) as Record<string, unknown>[];
  } catch (err) {
    throw new UsageError('the job file is not a valid CSV', { input: source, expected: 'a CSV with a header row (id,preset,before,after,…) or a JSON array', found: (err as Error).message, fix: 'Fix the CSV' });
  }
}

function jobHash(id: string, options: Record<string, string | boolean>): string {
  const canonical = JSON.stringify([id, Object.keys(options).sort().map((k) => [k, options[k]])]);
  return createHash('sha256').update(canonical).digest('hex');
}
