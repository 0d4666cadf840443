/**
 * The preset names in catalogue order, as a plain list: the CLI's help names them without loading the presets,
 * whose methods pull in ml-matrix and the random forest (start-up time, see src/cli/main.ts).
 * tests/cli-startup.test.ts checks that it matches PRESETS.
 */
export const PRESET_NAMES = ['flood', 'wildfire', 'urban', 'vegetation', 'generic', 'water'] as const;
