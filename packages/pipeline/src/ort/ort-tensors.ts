import { QwenVLError } from '@qwen-vl/core';
import type { DeviceTensor, HostTensor, TensorDataMap, TensorDataType } from '@qwen-vl/core';

/**
 * What qwen-vl uses of an onnxruntime-common Tensor. onnxruntime-node and onnxruntime-web
 * each bundle their own copy of that class, so both backends share this code through the
 * shape alone.
 */
export interface OrtTensorLike {
  readonly type: string;
  readonly dims: readonly number[];
  readonly data: unknown;
  /** 'cpu' for host memory; 'gpu-buffer' and others for device memory. */
  readonly location: string;
  getData(releaseData?: boolean): Promise<unknown>;
  dispose(): void;
}

/** The runtime a tensor or session belongs to: its name for messages and its Tensor constructor. */
export interface OrtRuntime<T extends OrtTensorLike = OrtTensorLike> {
  /** How messages name the runtime ("onnxruntime", "onnxruntime-web"). */
  readonly name: string;
  /** Wraps a host tensor's array, without a copy, in the runtime's Tensor class. */
  createTensor(tensor: HostTensor): T;
}

const HOST_TYPES: ReadonlySet<string> = new Set<TensorDataType>(['float32', 'float16', 'int32', 'int64', 'uint8', 'bool']);

function elementType(tensor: OrtTensorLike, source: string): TensorDataType {
  if (!HOST_TYPES.has(tensor.type)) {
    throw new QwenVLError('INVALID_MODEL', `has element type ${tensor.type}, which qwen-vl does not handle (${[...HOST_TYPES].join(', ')})`, { source });
  }
  return tensor.type as TensorDataType;
}

/** A host-memory onnxruntime tensor as a HostTensor: the same typed array, at most re-viewed. */
export function fromOrtTensor(tensor: OrtTensorLike, source: string): HostTensor {
  return hostView(elementType(tensor, source), tensor.dims, tensor.data as ArrayBufferView);
}

/** `fromOrtTensor`, downloading a tensor that is in device memory first (and releasing its device copy). */
export async function downloadOrtTensor(tensor: OrtTensorLike, source: string): Promise<HostTensor> {
  if (tensor.location === 'cpu') return fromOrtTensor(tensor, source);
  const type = elementType(tensor, source);
  return hostView(type, tensor.dims, (await tensor.getData(true)) as ArrayBufferView);
}

function hostView(type: TensorDataType, dims: readonly number[], data: ArrayBufferView): HostTensor {
  // Where the runtime has Float16Array, onnxruntime returns float16 as one: keep the bits.
  const typed = type === 'float16' && !(data instanceof Uint16Array) ? new Uint16Array(data.buffer, data.byteOffset, data.byteLength / 2) : data;
  return { type, dims, data: typed as TensorDataMap[typeof type] };
}

/**
 * An onnxruntime tensor handed out as it is, wherever it lives (a GPU buffer, or host memory
 * on cpu and wasm), to be fed back to a later run without a copy on our side.
 */
export class OrtDeviceTensor<T extends OrtTensorLike = OrtTensorLike> implements DeviceTensor {
  readonly kind = 'device';
  readonly type: TensorDataType;
  readonly dims: readonly number[];
  private tensor: T | undefined;

  constructor(
    tensor: T,
    source: string,
    /** The runtime that made it, the only one that can take it as a feed. */
    readonly runtime: OrtRuntime<T>,
  ) {
    this.type = elementType(tensor, source);
    this.dims = tensor.dims;
    this.tensor = tensor;
  }

  dispose(): void {
    this.tensor?.dispose();
    this.tensor = undefined;
  }

  /** A host copy of the contents; the runtime tensor stays where it is, still usable. */
  async download(): Promise<HostTensor> {
    const tensor = this.ortTensor('OrtDeviceTensor.download');
    if (tensor.location === 'cpu') {
      const view = fromOrtTensor(tensor, 'OrtDeviceTensor.download');
      return { ...view, data: view.data.slice() };
    }
    return hostView(this.type, tensor.dims, (await tensor.getData(false)) as ArrayBufferView);
  }

  /** The runtime tensor to feed; `source` names the feed in the error when it was disposed. */
  ortTensor(source: string): T {
    if (this.tensor === undefined) throw new QwenVLError('INVALID_ARGUMENT', 'is a device tensor that was disposed', { source });
    return this.tensor;
  }
}
