import { stat } from 'node:fs/promises';
import { QwenVLError, checkSessionOptions } from '@qwen-vl/core';
import type { InferenceSessionHandle, ModelSource, SessionOptions } from '@qwen-vl/core';
import { OrtSessionAdapter } from '@qwen-vl/pipeline';
import { InferenceSession } from 'onnxruntime-node';
import { readLocalFile } from '../read-file.js';
import { ONNXRUNTIME_NODE } from './tensor-conversion.js';

/**
 * Where onnxruntime-node can leave an output in device memory. Its 'gpu-buffer' location is
 * WebGPU memory (onnxruntime-node 1.30 binds outputs to "WebGPU_Buf"); the CUDA provider
 * has no device tensors in the Node binding, so its outputs, like cpu's, come to the host.
 */
const DEVICE_OUTPUT_LOCATION: Readonly<Record<string, 'gpu-buffer' | undefined>> = { webgpu: 'gpu-buffer' };

/**
 * Opens `source` on onnxruntime-node with one execution provider; running it is the shared
 * OrtSessionAdapter's. A path model finds its external data next to it; bytes need theirs in
 * `source.externalData` (given as bytes, or paths read here, since onnxruntime-node takes
 * external data only as buffers).
 */
export async function openOrtSession(source: ModelSource, options: SessionOptions, executionProvider: string): Promise<InferenceSessionHandle> {
  checkSessionOptions(options);
  const modelName = source.name ?? (typeof source.model === 'string' ? source.model : 'model bytes');
  if (typeof source.model === 'string') await requireFile(source.model);
  const externalData = await Promise.all((source.externalData ?? []).map(async (file) => ({ path: file.path, data: typeof file.data === 'string' ? await readLocalFile(file.data) : file.data })));
  const deviceLocation = DEVICE_OUTPUT_LOCATION[executionProvider];
  const deviceOutputs = options.deviceOutputs ?? [];
  const ortOptions: InferenceSession.SessionOptions = {
    executionProviders: [executionProviderConfig(executionProvider, options.providerOptions ?? {})],
    ...(deviceLocation !== undefined && deviceOutputs.length > 0 && { preferredOutputLocation: Object.fromEntries(deviceOutputs.map((name) => [name, deviceLocation])) }),
    ...(options.intraOpThreads !== undefined && { intraOpNumThreads: options.intraOpThreads }),
    ...(options.graphOptimization !== undefined && { graphOptimizationLevel: options.graphOptimization }),
    // onnxruntime writes the trace when the session is released (`dispose`).
    ...(options.profileFilePrefix !== undefined && { enableProfiling: true, profileFilePrefix: options.profileFilePrefix }),
    ...(externalData.length > 0 && { externalData }),
  };
  let session: InferenceSession;
  try {
    session = typeof source.model === 'string' ? await InferenceSession.create(source.model, ortOptions) : await InferenceSession.create(source.model, ortOptions);
  } catch (cause) {
    throw loadError(cause, modelName);
  }
  return OrtSessionAdapter.wrap(session, ONNXRUNTIME_NODE, modelName, deviceOutputs, {
    onDevice: deviceLocation !== undefined,
    // Untested on cuda and dml (no GPU here): only the CPU provider is known to write into given outputs.
    writesIntoFetchedTensors: executionProvider === 'cpu',
  });
}

/**
 * The provider options onnxruntime-node takes, by onnxruntime-genai's names: what the Node
 * binding reads of each provider's settings (onnxruntime-node ignores any other key, so
 * others are refused rather than silently dropped).
 */
const PROVIDER_OPTIONS: Readonly<Record<string, Readonly<Record<string, { readonly ort: string; readonly parse: (value: string) => number | undefined }>>>> = {
  cuda: { device_id: { ort: 'deviceId', parse: parseDeviceId } },
  dml: { device_id: { ort: 'deviceId', parse: parseDeviceId } },
};

function parseDeviceId(value: string): number | undefined {
  return /^\d+$/.test(value) ? Number(value) : undefined;
}

/** The execution provider with its options, as onnxruntime-node's `executionProviders` takes it. */
function executionProviderConfig(provider: string, options: Readonly<Record<string, string>>): InferenceSession.ExecutionProviderConfig {
  const known = PROVIDER_OPTIONS[provider] ?? {};
  if (Object.keys(options).length === 0) return provider;
  const config: Record<string, string | number> = { name: provider };
  for (const [key, value] of Object.entries(options)) {
    const source = `provider option "${key}" of ${provider}`;
    const option = Object.hasOwn(known, key) ? known[key] : undefined;
    if (option === undefined) {
      const names = Object.keys(known);
      throw new QwenVLError('INVALID_ARGUMENT', `is not an option onnxruntime-node takes for ${provider} (${names.length === 0 ? 'it takes none' : `it takes ${names.join(', ')}`})`, { source });
    }
    const parsed = option.parse(value);
    if (parsed === undefined) throw new QwenVLError('INVALID_ARGUMENT', `must be a non-negative integer, got ${JSON.stringify(value)}`, { source });
    config[option.ort] = parsed;
  }
  return config as unknown as InferenceSession.ExecutionProviderConfig;
}

async function requireFile(path: string): Promise<void> {
  const info = await stat(path).catch(() => undefined);
  if (info === undefined || !info.isFile()) {
    throw new QwenVLError('MISSING_FILE', info === undefined ? 'model file does not exist' : 'is not a file', { source: path });
  }
}

/** onnxruntime reports load failures as plain errors; the missing-external-data case is a missing file, anything else a bad model. */
function loadError(cause: unknown, modelName: string): QwenVLError {
  const message = (cause as Error).message;
  if (/External data path[\s\S]*does not exist/.test(message)) {
    return new QwenVLError('MISSING_FILE', `an external data file is missing (${message})`, { source: modelName, cause });
  }
  return new QwenVLError('INVALID_MODEL', `onnxruntime cannot load it: ${message}`, { source: modelName, cause });
}
