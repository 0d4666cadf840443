/**
 * Where the sample data lives: --data DIR, else $S2CHANGE_DATA, else ../shared/data beside the repository.
 * The sample data is never part of the repository (its licences differ).
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { InputNotFoundError } from '../errors.js';

/** The repository (package) root, from this file's location in src/cli or dist/cli. */
export const PACKAGE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Resolve the sample data folder, or throw a message saying how to point at it. */
export function resolveDataRoot(option?: string): string {
  const candidates = option ? [option] : process.env.S2CHANGE_DATA ? [process.env.S2CHANGE_DATA]
    : [path.resolve(PACKAGE_ROOT, '..', 'shared', 'data'), path.resolve(process.cwd(), '..', 'shared', 'data')];
  for (const c of candidates) if (existsSync(c)) return path.resolve(c);
  throw new InputNotFoundError('sample data folder not found', {
    input: option ? `--data ${option}` : process.env.S2CHANGE_DATA ? `S2CHANGE_DATA=${process.env.S2CHANGE_DATA}` : '../shared/data',
    expected: 'the folder holding oscd/, wildfire-calfire-s2/, ombria-flood/, sen1floods11-sample/ …',
    found: `nothing at ${candidates.join(' or ')}`, fix: 'Pass --data DIR or set S2CHANGE_DATA',
  });
}
