import { QwenVLError, checkSessionOptions } from '@qwen-vl/core';
import type { InferenceSessionHandle, ModelSource, SessionOptions } from '@qwen-vl/core';
import { OrtSessionAdapter } from '@qwen-vl/pipeline';
import type { OrtRuntime } from '@qwen-vl/pipeline';
import type { InferenceSession, Tensor } from 'onnxruntime-web';
import type { OrtWebModule, WebDevice } from './ort-web-runtime.js';

/** Each onnxruntime-web build as the session adapter sees it; device tensors feed only sessions of the build that made them. */
const runtimes = new WeakMap<OrtWebModule, OrtRuntime<Tensor>>();

function runtimeOf(ort: OrtWebModule): OrtRuntime<Tensor> {
  let runtime = runtimes.get(ort);
  if (runtime === undefined) {
    runtime = { name: 'onnxruntime-web', createTensor: (tensor) => new ort.Tensor(tensor.type, tensor.data, tensor.dims) };
    runtimes.set(ort, runtime);
  }
  return runtime;
}

/**
 * Opens `source` on `device` with onnxruntime-web; running it is the shared
 * OrtSessionAdapter's. The model and each external data file are bytes, or URLs
 * onnxruntime-web fetches itself; on webgpu the `deviceOutputs` (the KV cache) stay in GPU
 * buffers between runs, on wasm they stay onnxruntime-web tensors.
 */
export async function openOrtWebSession(ort: OrtWebModule, source: ModelSource, options: SessionOptions, device: WebDevice): Promise<InferenceSessionHandle> {
  checkSessionOptions(options);
  if (options.profileFilePrefix !== undefined) {
    throw new QwenVLError('INVALID_ARGUMENT', 'onnxruntime-web writes no profile file (its enableProfiling logs to the console); profile on onnxruntime-node', { source: 'profileFilePrefix' });
  }
  const modelName = source.name ?? (typeof source.model === 'string' ? source.model : 'model bytes');
  const deviceOutputs = options.deviceOutputs ?? [];
  const externalData = (source.externalData ?? []).map((file) => ({ path: file.path, data: file.data }));
  const ortOptions: InferenceSession.SessionOptions = {
    executionProviders: [device],
    ...(device === 'webgpu' && deviceOutputs.length > 0 && { preferredOutputLocation: Object.fromEntries(deviceOutputs.map((name) => [name, 'gpu-buffer' as const])) }),
    ...(options.intraOpThreads !== undefined && { intraOpNumThreads: options.intraOpThreads }),
    ...(options.graphOptimization !== undefined && { graphOptimizationLevel: options.graphOptimization }),
    ...(externalData.length > 0 && { externalData }),
  };
  let session: InferenceSession;
  try {
    session = typeof source.model === 'string' ? await ort.InferenceSession.create(source.model, ortOptions) : await ort.InferenceSession.create(source.model, ortOptions);
  } catch (cause) {
    // The WASM side sometimes rejects with a plain string or number.
    const message = cause instanceof Error ? cause.message : String(cause);
    throw new QwenVLError('INVALID_MODEL', `onnxruntime-web cannot load it on ${device}: ${message}`, { source: modelName, cause });
  }
  return OrtSessionAdapter.wrap(session, runtimeOf(ort), modelName, deviceOutputs, { onDevice: device === 'webgpu', writesIntoFetchedTensors: false });
}
