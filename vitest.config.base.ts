import { defineConfig } from 'vitest/config';

// Timeouts guard against hangs only: on a 2-core machine running every package's suite at
// once, a golden test can legitimately take tens of seconds. Speed is measured by `pnpm bench`.
export default defineConfig({
  test: {
    testTimeout: 180_000,
    hookTimeout: 180_000,
  },
});
