import { describe, expect, it } from 'vitest';
import { planGpuSteps } from '../src/gpu/gpu-plan.js';

describe('planGpuSteps', () => {
  it('plans nothing without a GPU device', () => {
    expect(planGpuSteps([])).toEqual([]);
  });

  it('runs the conformance suite with the present devices required, then each benchmark on each device', () => {
    const steps = planGpuSteps(['webgpu', 'cuda']);
    expect(steps.map((step) => [step.name, step.devices.join(','), step.description])).toEqual([
      ['conformance', 'cuda,webgpu', 'QWEN_VL_REQUIRE_DEVICES=cuda,webgpu pnpm test:conformance'],
      ['bench-vision-cuda', 'cuda', 'node packages/bench/dist/index.js vision --device cuda'],
      ['bench-decoder-cuda', 'cuda', 'node packages/bench/dist/index.js decoder --device cuda'],
      ['bench-vision-webgpu', 'webgpu', 'node packages/bench/dist/index.js vision --device webgpu'],
      ['bench-decoder-webgpu', 'webgpu', 'node packages/bench/dist/index.js decoder --device webgpu'],
    ]);
    expect(steps[0]).toMatchObject({ command: ['pnpm', 'test:conformance'], env: { QWEN_VL_REQUIRE_DEVICES: 'cuda,webgpu' }, vitest: true });
    expect(steps[1]).toMatchObject({ command: ['node', 'packages/bench/dist/index.js', 'vision', '--device', 'cuda'], env: {}, vitest: false });
  });
});
