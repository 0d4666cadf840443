/**
 * The preset catalogue. Pure.
 */
import { UsageError } from '../../errors.js';
import { flood } from './flood.js';
import { generic } from './generic.js';
import type { Preset } from './types.js';
import { urban } from './urban.js';
import { vegetation } from './vegetation.js';
import { water } from './water.js';
import { wildfire } from './wildfire.js';

export const PRESETS: readonly Preset[] = [flood, wildfire, urban, vegetation, generic, water];

/** The preset of that name, or a UsageError listing the known ones. */
export function getPreset(name: string): Preset {
  const p = PRESETS.find((x) => x.name === name);
  if (!p) {
    throw new UsageError('unknown preset', {
      input: `--preset ${name}`, expected: PRESETS.map((x) => x.name).join(' | '), found: JSON.stringify(name),
      fix: 'Pick one of the presets listed (s2change detect --help)',
    }, 'UNKNOWN_PRESET');
  }
  return p;
}

export type { Preset } from './types.js';
