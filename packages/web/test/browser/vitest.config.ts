import { defineConfig } from 'vitest/config';

// The conformance suite and the demo's end-to-end test: headless Chromium and SwiftShader, so
// they run one file at a time and outside the package's unit tests (`pnpm test:conformance`).
export default defineConfig({
  test: {
    root: new URL('.', import.meta.url).pathname,
    include: ['*.e2e.ts'],
    fileParallelism: false,
    testTimeout: 420_000,
    hookTimeout: 240_000,
  },
});
