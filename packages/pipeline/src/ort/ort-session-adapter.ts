import { QwenVLError, float32ToFloat16, isDeviceTensor } from '@qwen-vl/core';
import type { DeviceRunOptions, HostTensor, InferenceSessionHandle, SessionTensor } from '@qwen-vl/core';
import { OrtDeviceTensor, downloadOrtTensor } from './ort-tensors.js';
import type { OrtRuntime, OrtTensorLike } from './ort-tensors.js';

/** What the adapter uses of an onnxruntime-common InferenceSession (node's and web's alike). */
export interface OrtSessionLike<T extends OrtTensorLike> {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  /** Each input's element type, where the runtime tells it (`type` of tensor inputs). */
  readonly inputMetadata?: readonly { readonly name: string; readonly type?: string }[];
  /** `fetches` as names, or as names with a Tensor to write the output into (null: allocate). */
  run(feeds: Record<string, T>, fetches: readonly string[] | Record<string, T | null>): Promise<Record<string, unknown>>;
  release(): Promise<void>;
}

/** Where a session leaves its outputs. */
export interface OutputPlacement {
  /** Whether the `deviceOutputs` it was opened with stay in device memory (else in the runtime's host tensors). */
  readonly onDevice: boolean;
  /**
   * Whether its `run` writes a host output into a Tensor given for it in the fetches:
   * onnxruntime-node's CPU provider does; its WebGPU provider and onnxruntime-web 1.30 (WASM)
   * hand such a Tensor back unwritten (measured), so they are left allocating.
   */
  readonly writesIntoFetchedTensors: boolean;
}

/**
 * An onnxruntime session (onnxruntime-node's or onnxruntime-web's) behind core's session
 * contract: checked feed and fetch names, host tensors in and out, and outputs kept as
 * OrtDeviceTensors between runs. Opening the session is the backend's business. A float32
 * host feed of a float16 input is narrowed to float16: qwen-vl computes in float32 on the
 * host, and fp16 exports (onnx-community's `_fp16`, `_q4f16`) take float16.
 */
export class OrtSessionAdapter<T extends OrtTensorLike> implements InferenceSessionHandle {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  private readonly float16Inputs: ReadonlySet<string>;
  /** Outputs the session was opened to leave in device memory (its preferred output location). */
  private readonly outputsOnDevice: ReadonlySet<string>;

  constructor(
    private readonly session: OrtSessionLike<T>,
    private readonly runtime: OrtRuntime<T>,
    private readonly modelName: string,
    private readonly placement: OutputPlacement = { onDevice: false, writesIntoFetchedTensors: false },
    deviceOutputs: readonly string[] = [],
  ) {
    this.outputsOnDevice = new Set(placement.onDevice ? deviceOutputs : []);
    this.inputNames = session.inputNames;
    this.outputNames = session.outputNames;
    this.float16Inputs = new Set((session.inputMetadata ?? []).filter((input) => input.type === 'float16').map((input) => input.name));
  }

  /**
   * Wraps a freshly created session whose `deviceOutputs` were asked to stay on the device,
   * releasing it when one of them is not an output of the model.
   */
  static async wrap<T extends OrtTensorLike>(
    session: OrtSessionLike<T>,
    runtime: OrtRuntime<T>,
    modelName: string,
    deviceOutputs: readonly string[],
    placement: OutputPlacement,
  ): Promise<OrtSessionAdapter<T>> {
    const adapter = new OrtSessionAdapter(session, runtime, modelName, placement, deviceOutputs);
    try {
      adapter.checkNames(deviceOutputs, adapter.outputNames, 'deviceOutputs');
    } catch (error) {
      await session.release();
      throw error;
    }
    return adapter;
  }

  async run(feeds: Readonly<Record<string, HostTensor>>, fetches: readonly string[] = this.outputNames): Promise<Record<string, HostTensor>> {
    // Nothing is kept on the device, so every output is a host tensor.
    return (await this.execute(feeds, fetches, [], {})) as Record<string, HostTensor>;
  }

  runWithDeviceTensors(feeds: Readonly<Record<string, SessionTensor>>, fetches: readonly string[], options: DeviceRunOptions): Promise<Record<string, SessionTensor>> {
    return this.execute(feeds, fetches, options.keepOnDevice, options.outputBuffers ?? {});
  }

  dispose(): Promise<void> {
    return this.session.release();
  }

  /**
   * One run: the outputs written into `outputBuffers` come back as those tensors, the others
   * in `keepOnDevice` as OrtDeviceTensors, the rest as host tensors.
   */
  private async execute(
    feeds: Readonly<Record<string, SessionTensor>>,
    fetches: readonly string[],
    keepOnDevice: readonly string[],
    outputBuffers: Readonly<Record<string, HostTensor>>,
  ): Promise<Record<string, SessionTensor>> {
    this.checkNames(Object.keys(feeds), this.inputNames, 'feeds');
    this.checkNames(fetches, this.outputNames, 'fetches');
    const notFetched = keepOnDevice.filter((name) => !fetches.includes(name));
    if (notFetched.length > 0) {
      throw new QwenVLError('INVALID_ARGUMENT', `keepOnDevice name(s) ${notFetched.join(', ')} are not among the fetched outputs (${fetches.join(', ')})`, { source: this.modelName });
    }
    const missing = this.inputNames.filter((name) => feeds[name] === undefined);
    if (missing.length > 0) {
      throw new QwenVLError('INVALID_ARGUMENT', `feeds lack input(s) ${missing.join(', ')}`, { source: this.modelName });
    }
    const ortFeeds: Record<string, T> = {};
    for (const [name, tensor] of Object.entries(feeds)) ortFeeds[name] = this.toFeed(name, tensor);
    const written = this.placement.writesIntoFetchedTensors ? fetches.filter((name) => outputBuffers[name] !== undefined && !this.outputsOnDevice.has(name)) : [];
    const ortFetches = written.length === 0 ? [...fetches] : Object.fromEntries(fetches.map((name) => [name, written.includes(name) ? this.runtime.createTensor(outputBuffers[name]) : null]));
    let results: Record<string, unknown>;
    try {
      results = await this.session.run(ortFeeds, ortFetches);
    } catch (cause) {
      // The WASM side sometimes rejects with a plain string or number.
      const message = cause instanceof Error ? cause.message : String(cause);
      throw new QwenVLError('INVALID_ARGUMENT', `${this.runtime.name} failed to run: ${message}`, { source: this.modelName, cause });
    }
    const out: Record<string, SessionTensor> = {};
    for (const name of fetches) {
      const tensor = results[name] as T;
      const source = `${this.modelName} output "${name}"`;
      out[name] = written.includes(name) ? outputBuffers[name] : keepOnDevice.includes(name) ? new OrtDeviceTensor(tensor, source, this.runtime) : await downloadOrtTensor(tensor, source);
    }
    return out;
  }

  private toFeed(name: string, tensor: SessionTensor): T {
    const source = `${this.modelName} feed "${name}"`;
    if (!isDeviceTensor(tensor)) {
      const narrowed = tensor.type === 'float32' && this.float16Inputs.has(name) ? { type: 'float16' as const, dims: tensor.dims, data: float32ToFloat16(tensor.data as Float32Array) } : tensor;
      return this.runtime.createTensor(narrowed);
    }
    // Another runtime's tensor (node's and web's can be loaded together) is of another Tensor class.
    if (!(tensor instanceof OrtDeviceTensor) || tensor.runtime !== this.runtime) {
      throw new QwenVLError('INVALID_ARGUMENT', `is a device tensor of another backend; ${this.runtime.name} takes only its own`, { source });
    }
    return tensor.ortTensor(source) as T;
  }

  private checkNames(names: readonly string[], known: readonly string[], what: string): void {
    const unknown = names.filter((name) => !known.includes(name));
    if (unknown.length > 0) {
      throw new QwenVLError('INVALID_ARGUMENT', `${what} name(s) ${unknown.join(', ')} are not in the model (it has ${known.join(', ')})`, { source: this.modelName });
    }
  }
}
