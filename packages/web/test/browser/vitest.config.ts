import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// The conformance suite and the demo's end-to-end test: headless Chromium and SwiftShader, so
// they run one file at a time and outside the package's unit tests (`pnpm test:conformance`).
export default defineConfig({
  test: {
    root: new URL('.', import.meta.url).pathname,
    include: ['*.e2e.ts'],
    // Lists the skipped rows with their reasons after the run (a path, so TypeScript does not follow it out of the package).
    reporters: ['default', fileURLToPath(new URL('../../../../vitest.skipped-reporter.ts', import.meta.url))],
    fileParallelism: false,
    testTimeout: 420_000,
    hookTimeout: 240_000,
  },
});
