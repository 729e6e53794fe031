import { GPU_DEVICES, REQUIRED_DEVICES_VARIABLE, formatRequiredDevices } from '@qwen-vl/test-support';
import type { GpuDevice } from '@qwen-vl/test-support';

/** One command of the GPU run. */
export interface GpuStep {
  /** Also its log file's name. */
  readonly name: string;
  /** The GPU devices it exercises. */
  readonly devices: readonly GpuDevice[];
  /** The command as one would type it at the repository root. */
  readonly description: string;
  readonly command: readonly string[];
  /** Set on top of this process's environment. */
  readonly env: Readonly<Record<string, string>>;
  /** Whether its output ends with vitest's summary, whose `Tests` line is the headline. */
  readonly vitest: boolean;
}

/** The benchmarks run on each device (not decoder-3b, whose build is run on demand alone). */
const GPU_BENCHES = ['vision', 'decoder'] as const;

const BENCH_ENTRY = 'packages/bench/dist/index.js';

/**
 * What the GPU run does with the devices `present`: nothing without any; otherwise the
 * conformance suite with them required (their rows fail instead of being skipped, WebGPU on
 * the GPU), then each benchmark on each onnxruntime-node device (webgpu included).
 */
export function planGpuSteps(present: readonly GpuDevice[]): GpuStep[] {
  const devices = GPU_DEVICES.filter((device) => present.includes(device));
  if (devices.length === 0) return [];
  const required = formatRequiredDevices(devices);
  const conformance: GpuStep = {
    name: 'conformance',
    devices,
    description: `${REQUIRED_DEVICES_VARIABLE}=${required} pnpm test:conformance`,
    command: ['pnpm', 'test:conformance'],
    env: { [REQUIRED_DEVICES_VARIABLE]: required },
    vitest: true,
  };
  const benches = devices.flatMap((device) =>
    GPU_BENCHES.map((bench): GpuStep => ({
      name: `bench-${bench}-${device}`,
      devices: [device],
      description: `node ${BENCH_ENTRY} ${bench} --device ${device}`,
      command: ['node', BENCH_ENTRY, bench, '--device', device],
      env: {},
      vitest: false,
    })),
  );
  return [conformance, ...benches];
}
