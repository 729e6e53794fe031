import { describe, expect, it } from 'vitest';
import { planGpuSteps } from '../src/gpu/gpu-plan.js';
import { summaryLines, vitestTestsLine } from '../src/gpu/gpu-summary.js';

const VITEST_END = [
  ' Test Files  1 failed (1)',
  '      Tests  \u001b[1m\u001b[31m2 failed\u001b[39m\u001b[22m\u001b[2m | \u001b[22m\u001b[1m\u001b[32m38 passed\u001b[39m\u001b[22m\u001b[2m | \u001b[22m\u001b[33m4 skipped\u001b[39m (44)',
  '   Start at  10:00:00',
].join('\n');

describe('vitestTestsLine', () => {
  it("reads vitest's closing test count, colors or not", () => {
    expect(vitestTestsLine(VITEST_END)).toBe('Tests 2 failed | 38 passed | 4 skipped (44)');
    expect(vitestTestsLine('      Tests  10 passed (10)\n')).toBe('Tests 10 passed (10)');
  });

  it('finds none in output that never got that far', () => {
    expect(vitestTestsLine('Error: Cannot find module\n    at Tests (x.js:1)')).toBeUndefined();
  });
});

describe('summaryLines', () => {
  it('gives one aligned line per step: its devices, command, result, headline and log', () => {
    const [conformance, vision] = planGpuSteps(['cuda']);
    const lines = summaryLines(
      [
        { step: conformance, outcome: { exitCode: 1, seconds: 612.4, outputTail: VITEST_END, logFile: '/repo/.cache/test-gpu/conformance.log' } },
        { step: vision, outcome: { exitCode: 0, seconds: 95.6, outputTail: 'fp32  1.0  2.0\n', logFile: '/repo/.cache/test-gpu/bench-vision-cuda.log' } },
      ],
      '/repo',
    );
    expect(lines).toEqual([
      'backend  what ran                                                result         headline                                            full output',
      'cuda     QWEN_VL_REQUIRE_DEVICES=cuda pnpm test:conformance      FAIL (exit 1)  Tests 2 failed | 38 passed | 4 skipped (44); 612 s  .cache/test-gpu/conformance.log',
      'cuda     node packages/bench/dist/index.js vision --device cuda  pass           96 s                                                .cache/test-gpu/bench-vision-cuda.log',
    ]);
  });
});
