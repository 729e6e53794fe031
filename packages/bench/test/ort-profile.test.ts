import { describe, expect, it } from 'vitest';
import { formatOperatorTimes, lastRunOperatorTimes } from '../src/ort-profile.js';
import type { TraceEvent } from '../src/ort-profile.js';

const kernel = (op: string, ts: number, dur: number): TraceEvent => ({ cat: 'Node', name: `${op}_node_kernel_time`, ts, dur, args: { op_name: op } });

describe('onnxruntime profile summary', () => {
  // A warm-up run (0-100 µs) and the measured run (200-1200 µs), with events that are not kernel times.
  const trace: TraceEvent[] = [
    { cat: 'Session', name: 'model_run', ts: 0, dur: 100 },
    kernel('Gemm', 10, 80),
    { cat: 'Session', name: 'model_run', ts: 200, dur: 1000 },
    kernel('Gemm', 210, 500),
    { cat: 'Node', name: 'Gemm_node_fence_before', ts: 205, dur: 5, args: { op_name: 'Gemm' } },
    kernel('Softmax', 720, 100),
    kernel('Gemm', 830, 300),
    kernel('Add', 1140, 50),
  ];

  it('sums the kernel time of each operator type over the last run only, largest first', () => {
    expect(lastRunOperatorTimes(trace)).toEqual([
      { op: 'Gemm', seconds: 800e-6 },
      { op: 'Softmax', seconds: 100e-6 },
      { op: 'Add', seconds: 50e-6 },
    ]);
  });

  it('names the largest and puts the others together', () => {
    expect(formatOperatorTimes(lastRunOperatorTimes(trace), 1)).toBe('Gemm 0.00 s (84%), the rest 0.00 s (16%)');
  });

  it('refuses a profile without a run', () => {
    expect(() => lastRunOperatorTimes([kernel('Gemm', 0, 1)])).toThrow('no model_run');
  });
});
