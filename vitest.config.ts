import os from 'node:os';
import path from 'node:path';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    reporters: ['default', './tests/helpers/summary-reporter.ts'],
    // A cache directory that does not exist: no test (nor the CLI it spawns) picks up a user's trained urban model.
    env: { S2CHANGE_CACHE: path.join(os.tmpdir(), 's2change-tests-no-cache-do-not-create') },
  },
});
