import { GraphBuilder, serializeModel } from '@qwen-vl/builder';
import { QwenVLError } from '@qwen-vl/core';
import type { Device, DeviceAvailability } from '@qwen-vl/core';
import { InferenceSession, listSupportedBackends } from 'onnxruntime-node';

/** onnxruntime execution provider per device; wasm is onnxruntime-web's alone. */
const EXECUTION_PROVIDERS: Readonly<Record<Device, string | undefined>> = {
  cpu: 'cpu',
  cuda: 'cuda',
  dml: 'dml',
  webgpu: 'webgpu',
  wasm: undefined,
};

/** What a user needs to know to get the device working with onnxruntime-node. */
const HINTS: Readonly<Partial<Record<Device, string>>> = {
  cuda: 'the CUDA provider libraries are downloaded when onnxruntime-node is installed without ONNXRUNTIME_NODE_INSTALL=skip, and need an NVIDIA GPU with its CUDA driver',
  dml: 'DirectML is only in the Windows build of onnxruntime-node and needs a DirectX 12 GPU',
  webgpu: 'it needs a WebGPU adapter: on Linux a Vulkan driver (libvulkan.so.1); without a GPU, SwiftShader via VK_ICD_FILENAMES',
  wasm: 'wasm is the device of @qwen-vl/web (onnxruntime-web); in Node use cpu',
};

/** The probe's finding: the provider to use, or why there is none. */
type ProbeResult = { readonly provider: string } | { readonly reason: string };

const probes = new Map<Device, Promise<ProbeResult>>();

export async function deviceAvailability(device: Device): Promise<DeviceAvailability> {
  const result = await probe(device);
  return 'provider' in result ? { available: true } : { available: false, reason: result.reason };
}

/** The execution provider for `device`, or BACKEND_UNAVAILABLE saying what is missing. */
export async function requireExecutionProvider(device: Device): Promise<string> {
  const result = await probe(device);
  if ('reason' in result) throw new QwenVLError('BACKEND_UNAVAILABLE', result.reason, { source: `onnxruntime-node device "${device}"` });
  return result.provider;
}

/**
 * A provider the build lists can still fail to start (libraries not downloaded, no GPU or
 * adapter), so every device but cpu is confirmed by opening a one-node session on it; the
 * answer is cached per process.
 */
function probe(device: Device): Promise<ProbeResult> {
  let result = probes.get(device);
  if (result === undefined) {
    result = probeDevice(device);
    probes.set(device, result);
  }
  return result;
}

async function probeDevice(device: Device): Promise<ProbeResult> {
  const provider = EXECUTION_PROVIDERS[device];
  const listed = listSupportedBackends().map((backend) => backend.name);
  if (provider === undefined || !listed.includes(provider)) {
    return unavailable(device, `this onnxruntime-node build (${process.platform} ${process.arch}) has no ${device} execution provider, only ${listed.join(', ')}`);
  }
  if (device === 'cpu') return { provider };
  try {
    const session = await InferenceSession.create(probeModel(), { executionProviders: [provider], logSeverityLevel: 4 });
    await session.release();
    return { provider };
  } catch (cause) {
    const firstLine = (cause as Error).message.split('\n')[0].trim();
    return unavailable(device, `onnxruntime-node could not start its ${provider} execution provider (${firstLine})`);
  }
}

function unavailable(device: Device, what: string): ProbeResult {
  const hint = HINTS[device];
  return { reason: hint === undefined ? what : `${what}; ${hint}` };
}
/** The smallest valid model: one Identity node. */
function probeModel(): Uint8Array {
  const graph = new GraphBuilder('device_probe');
  const x = graph.input('x', 'float32', [1]);
  graph.output(graph.op('Identity', [x], {}, { output: 'y' }), 'y', 'float32', [1]);
  return serializeModel(graph.build({ producer: 'qwen-vl device probe' })).model;
}
