import { describe, expect, it } from 'vitest';
import { runGpuCheck } from '../src/gpu/run-gpu-check.js';
import type { GpuCheckContext } from '../src/gpu/run-gpu-check.js';
import type { GpuFinding } from '../src/gpu/gpu-finding.js';
import type { GpuStep } from '../src/gpu/gpu-plan.js';
import type { StepOutcome } from '../src/gpu/run-step.js';

const NO_GPU: GpuFinding[] = [
  { device: 'cuda', present: false, reason: 'this onnxruntime-node build has no cuda execution provider' },
  { device: 'dml', present: false, reason: 'DirectML is only in the Windows build' },
  { device: 'webgpu', present: false, reason: 'the WebGPU adapter (google / swiftshader) is a software rasterizer, not a GPU' },
];

/** A context whose machine has `findings` and whose steps exit with `exitCodeOf(step)`; records what it printed and ran. */
function fakeMachine(findings: GpuFinding[], exitCodeOf: (step: GpuStep) => number = () => 0) {
  const printed: string[] = [];
  const ran: string[] = [];
  const context: GpuCheckContext = {
    root: '/repo',
    detect: async () => findings,
    runStep: async (step): Promise<StepOutcome> => {
      ran.push(step.name);
      return { exitCode: exitCodeOf(step), seconds: 1, outputTail: '', logFile: `/repo/.cache/test-gpu/${step.name}.log` };
    },
    print: (line) => printed.push(line),
  };
  return { context, printed, ran };
}

describe('runGpuCheck', () => {
  it('without a GPU: says why each device is missing, that there is nothing to run, runs nothing and exits 0', async () => {
    const { context, printed, ran } = fakeMachine(NO_GPU);
    expect(await runGpuCheck(context)).toBe(0);
    expect(printed).toEqual([
      'cuda: this onnxruntime-node build has no cuda execution provider',
      'dml: DirectML is only in the Windows build',
      'webgpu: the WebGPU adapter (google / swiftshader) is a software rasterizer, not a GPU',
      'no GPU on this machine: nothing to run',
    ]);
    expect(ran).toEqual([]);
  });

  it('with a GPU: runs every step, even after a failure, ends with the table, and exits 1 when one failed', async () => {
    const findings: GpuFinding[] = [{ device: 'cuda', present: true, what: "onnxruntime-node's cuda execution provider starts" }, NO_GPU[1], NO_GPU[2]];
    const { context, printed, ran } = fakeMachine(findings, (step) => (step.name === 'conformance' ? 1 : 0));
    expect(await runGpuCheck(context)).toBe(1);
    expect(ran).toEqual(['conformance', 'bench-vision-cuda', 'bench-decoder-cuda']);
    expect(printed.slice(0, 3)).toEqual([
      'dml: DirectML is only in the Windows build',
      'webgpu: the WebGPU adapter (google / swiftshader) is a software rasterizer, not a GPU',
      "cuda: onnxruntime-node's cuda execution provider starts",
    ]);
    const table = printed.slice(printed.indexOf('') + 1);
    expect(table).toHaveLength(4);
    expect(table[1]).toMatch(/^cuda +QWEN_VL_REQUIRE_DEVICES=cuda pnpm test:conformance +FAIL \(exit 1\) +1 s +\.cache\/test-gpu\/conformance\.log$/);
    expect(table[3]).toMatch(/^cuda +node packages\/bench\/dist\/index\.js decoder --device cuda +pass +1 s +\.cache\/test-gpu\/bench-decoder-cuda\.log$/);
  });

  it('exits 0 when every step passed', async () => {
    const { context } = fakeMachine([NO_GPU[0], NO_GPU[1], { device: 'webgpu', present: true, what: "Chromium's WebGPU adapter: nvidia / hopper" }]);
    expect(await runGpuCheck(context)).toBe(0);
  });
});
