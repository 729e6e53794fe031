import { QwenVLError } from './errors.js';
import { isDeviceTensor } from './tensor.js';
import type { HostTensor, SessionTensor } from './tensor.js';

/**
 * The contract between shared code and an inference runtime. Shared code asks the registry
 * for a backend by device and never imports one; `@qwen-vl/node` and `@qwen-vl/web`
 * register theirs when loaded.
 */
export type Device = 'cpu' | 'cuda' | 'dml' | 'webgpu' | 'wasm';

export type GraphOptimizationLevel = 'disabled' | 'basic' | 'extended' | 'all';

export interface SessionOptions {
  readonly device: Device;
  /** Threads for one operator; the runtime picks when omitted. */
  readonly intraOpThreads?: number;
  readonly graphOptimization?: GraphOptimizationLevel;
  /**
   * Outputs the runtime should leave in device memory (a GPU buffer) where the device has
   * its own, so that `runWithDeviceTensors` can keep them there; e.g. the decoder's KV cache.
   * Without it a kept output is still fed back without conversion, but lives in host memory.
   */
  readonly deviceOutputs?: readonly string[];
  /**
   * Settings of the device's execution provider, by onnxruntime-genai's names (e.g. cuda's
   * `device_id`). Each backend knows the ones it honours and refuses the others, naming them.
   */
  readonly providerOptions?: Readonly<Record<string, string>>;
  /**
   * Profile every run: the runtime writes its trace (each operator's kernel time, as
   * onnxruntime's `enableProfiling` does) to a file whose path starts with this prefix when
   * the session is disposed. Where a runtime writes no file (onnxruntime-web), it is refused.
   */
  readonly profileFilePrefix?: string;
}

/**
 * More operator threads than any machine has cores: onnxruntime would try to start them all
 * (`intraOpThreads: 1e6` hung the process).
 */
export const MAX_INTRA_OP_THREADS = 1024;

/** Checks what a backend is asked before it opens anything: a bad value names the option. */
export function checkSessionOptions(options: SessionOptions): void {
  const threads = options.intraOpThreads;
  if (threads !== undefined && !(Number.isInteger(threads) && threads >= 1 && threads <= MAX_INTRA_OP_THREADS)) {
    throw new QwenVLError('INVALID_ARGUMENT', `must be an integer from 1 to ${MAX_INTRA_OP_THREADS}, got ${threads}`, { source: 'intraOpThreads' });
  }
  const prefix = options.profileFilePrefix;
  if (prefix !== undefined && (typeof prefix !== 'string' || prefix === '')) {
    throw new QwenVLError('INVALID_ARGUMENT', `must be a non-empty path prefix, got ${JSON.stringify(prefix)}`, { source: 'profileFilePrefix' });
  }
}

/** An external data file a model names in its initializers' `location`. */
export interface ExternalDataFile {
  /** The location exactly as written in the model (e.g. "vision.onnx.data"). */
  readonly path: string;
  /** The bytes, or a path / URL the backend resolves. */
  readonly data: Uint8Array | string;
}

export interface ModelSource {
  /** The .onnx bytes, or a path / URL the backend resolves (Node: a file path, external data found next to it). */
  readonly model: Uint8Array | string;
  readonly externalData?: readonly ExternalDataFile[];
  /** How messages name the model; defaults to the path, or "model bytes". */
  readonly name?: string;
}

export interface InferenceSessionHandle {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  /** Runs the model; `fetches` limits the outputs computed (all by default). */
  run(feeds: Readonly<Record<string, HostTensor>>, fetches?: readonly string[]): Promise<Record<string, HostTensor>>;
  /**
   * `run` with tensors that stay in the runtime between runs: feeds may be DeviceTensors that
   * earlier runs of this backend returned, and the outputs named in `keepOnDevice` come back as
   * DeviceTensors (the caller disposes them), the rest as HostTensors. A backend without
   * memory of its own leaves this out; `runKeepingOnDevice` then uses `run`.
   */
  runWithDeviceTensors?(feeds: Readonly<Record<string, SessionTensor>>, fetches: readonly string[], options: DeviceRunOptions): Promise<Record<string, SessionTensor>>;
  dispose(): Promise<void>;
}

export interface DeviceRunOptions {
  /** Outputs to leave where the runtime computed them, returned as DeviceTensors. */
  readonly keepOnDevice: readonly string[];
  /**
   * Host tensors, by output name, that the runtime may write those outputs into instead of
   * allocating new ones (each of the output's exact type and dims); an output written there
   * comes back as that same tensor. A runtime that cannot, or an output it keeps in device
   * memory, ignores its entry. Fresh arrays cost page faults: reused ones do not.
   */
  readonly outputBuffers?: Readonly<Record<string, HostTensor>>;
}

/**
 * Runs `session` with the outputs in `keepOnDevice` left on the device where the backend can
 * do that, else as HostTensors, written into `outputBuffers` where it can do that. Either way the result feeds back into the same session: a
 * session without `runWithDeviceTensors` never hands out a DeviceTensor, so its feeds are
 * host tensors unless they came from another backend.
 */
export async function runKeepingOnDevice(
  session: InferenceSessionHandle,
  feeds: Readonly<Record<string, SessionTensor>>,
  fetches: readonly string[],
  keepOnDevice: readonly string[],
  outputBuffers?: Readonly<Record<string, HostTensor>>,
): Promise<Record<string, SessionTensor>> {
  if (session.runWithDeviceTensors !== undefined) return session.runWithDeviceTensors(feeds, fetches, { keepOnDevice, outputBuffers });
  const hostFeeds: Record<string, HostTensor> = {};
  for (const [name, tensor] of Object.entries(feeds)) {
    if (isDeviceTensor(tensor)) {
      throw new QwenVLError('INVALID_ARGUMENT', `"${name}" is a device tensor, which this session cannot take (it has no runWithDeviceTensors)`, { source: 'runKeepingOnDevice feeds' });
    }
    hostFeeds[name] = tensor;
  }
  return session.run(hostFeeds, fetches);
}

export type DeviceAvailability = { readonly available: true } | { readonly available: false; readonly reason: string };

export interface Backend {
  readonly name: string;
  /** Whether this backend can run on `device` here; `reason` says what is missing when not. */
  availability(device: Device): Promise<DeviceAvailability>;
  createSession(model: ModelSource, options: SessionOptions): Promise<InferenceSessionHandle>;
}

interface Registration {
  readonly backend: Backend;
  readonly priority: number;
}

const registry = new Map<string, Registration>();

/** Registers (or replaces) a backend under `name`; higher `priority` is tried first. */
export function registerBackend(name: string, backend: Backend, priority: number): void {
  registry.set(name, { backend, priority });
}

/** The highest-priority registered backend that can run on `device`. */
export async function resolveBackend(device: Device): Promise<Backend> {
  const candidates = [...registry.entries()].sort((a, b) => b[1].priority - a[1].priority);
  if (candidates.length === 0) {
    throw new QwenVLError('BACKEND_UNAVAILABLE', 'no backend is registered; import @qwen-vl/node (Node) or @qwen-vl/web (browser) first', { source: `device "${device}"` });
  }
  const reasons: string[] = [];
  for (const [name, { backend }] of candidates) {
    const availability = await backend.availability(device);
    if (availability.available) return backend;
    reasons.push(`${name}: ${availability.reason}`);
  }
  throw new QwenVLError('BACKEND_UNAVAILABLE', `no registered backend can run on it (${reasons.join('; ')})`, { source: `device "${device}"` });
}

/** Creates a session on the backend `resolveBackend(options.device)` picks. */
export async function createSession(model: ModelSource, options: SessionOptions): Promise<InferenceSessionHandle> {
  const backend = await resolveBackend(options.device);
  return backend.createSession(model, options);
}
