import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

/** Lists the skipped tests, with their reasons, after each run (see the file). */
export const SKIPPED_TESTS_REPORTER = fileURLToPath(new URL('./vitest.skipped-reporter.ts', import.meta.url));

// Timeouts guard against hangs only: on a 2-core machine running every package's suite at
// once, a golden test can legitimately take tens of seconds. Speed is measured by `pnpm bench`.
export default defineConfig({
  test: {
    reporters: ['default', SKIPPED_TESTS_REPORTER],
    testTimeout: 180_000,
    hookTimeout: 180_000,
  },
});
