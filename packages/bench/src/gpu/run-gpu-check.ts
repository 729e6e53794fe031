import { absenceLines, presentDevices } from './gpu-finding.js';
import type { GpuFinding } from './gpu-finding.js';
import { planGpuSteps } from './gpu-plan.js';
import type { GpuStep } from './gpu-plan.js';
import { summaryLines } from './gpu-summary.js';
import type { StepResult } from './gpu-summary.js';
import type { StepOutcome } from './run-step.js';

/** What the GPU run needs from the machine, given by the caller so that tests can stand in for it. */
export interface GpuCheckContext {
  /** The repository root: where the steps run, and what log paths are shown relative to. */
  readonly root: string;
  detect(): Promise<GpuFinding[]>;
  runStep(step: GpuStep): Promise<StepOutcome>;
  print(line: string): void;
}

export const NO_GPU_MESSAGE = 'no GPU on this machine: nothing to run';

/**
 * `pnpm test:gpu`: says which GPU devices are missing and why; without any, says so and
 * succeeds (a machine without a GPU has nothing to check). Otherwise runs every planned step,
 * each even after one failed, prints the summary table, and fails when any step failed.
 * Returns the exit code.
 */
export async function runGpuCheck(context: GpuCheckContext): Promise<number> {
  const findings = await context.detect();
  for (const line of absenceLines(findings)) context.print(line);
  const steps = planGpuSteps(presentDevices(findings));
  if (steps.length === 0) {
    context.print(NO_GPU_MESSAGE);
    return 0;
  }
  for (const finding of findings) if (finding.present) context.print(`${finding.device}: ${finding.what}`);
  const results: StepResult[] = [];
  for (const step of steps) {
    context.print(`\n=== ${step.description}`);
    results.push({ step, outcome: await context.runStep(step) });
  }
  context.print('');
  for (const line of summaryLines(results, context.root)) context.print(line);
  return results.every((result) => result.outcome.exitCode === 0) ? 0 : 1;
}
