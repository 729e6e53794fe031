import { relative } from 'node:path';
import { formatTable } from '../table.js';
import type { GpuStep } from './gpu-plan.js';
import type { StepOutcome } from './run-step.js';

export interface StepResult {
  readonly step: GpuStep;
  readonly outcome: StepOutcome;
}

// Colors, should a run force them (FORCE_COLOR): the headline is read from plain text.
const ANSI_ESCAPE = /\u001b\[[0-9;]*m/g;

/** vitest's closing count of tests, `Tests  2 failed | 40 passed | 6 skipped (48)`, in one line. */
export function vitestTestsLine(output: string): string | undefined {
  const lines = output.replace(ANSI_ESCAPE, '').split('\n');
  const tests = lines.findLast((line) => /^\s*Tests\s+\d/.test(line));
  return tests?.trim().replace(/\s+/g, ' ');
}

/** What the summary says of a step beyond pass or fail: its headline when it has one, and its time. */
function headline({ step, outcome }: StepResult): string {
  const time = `${outcome.seconds.toFixed(0)} s`;
  const tests = step.vitest ? vitestTestsLine(outcome.outputTail) : undefined;
  return tests === undefined ? time : `${tests}; ${time}`;
}

/** The table the GPU run ends with: one line per step, log paths relative to `root`. */
export function summaryLines(results: readonly StepResult[], root: string): string[] {
  return formatTable(
    ['backend', 'what ran', 'result', 'headline', 'full output'],
    results.map((result) => [
      result.step.devices.join(', '),
      result.step.description,
      result.outcome.exitCode === 0 ? 'pass' : `FAIL (exit ${result.outcome.exitCode})`,
      headline(result),
      relative(root, result.outcome.logFile),
    ]),
    { textColumns: true },
  );
}
