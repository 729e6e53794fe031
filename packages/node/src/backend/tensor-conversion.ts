import { QwenVLError } from '@qwen-vl/core';
import type { HostTensor, TensorDataMap, TensorDataType } from '@qwen-vl/core';
import { Tensor } from 'onnxruntime-node';

/**
 * HostTensor ↔ onnxruntime tensors. Both sides are a typed array plus dims with the same
 * element type names, so inputs are wrapped, never copied; outputs are the arrays
 * onnxruntime returns, at most re-viewed.
 */
export function toOrtTensor(tensor: HostTensor): Tensor {
  return new Tensor(tensor.type, tensor.data, tensor.dims);
}

const HOST_TYPES: ReadonlySet<string> = new Set<TensorDataType>(['float32', 'float16', 'int32', 'int64', 'uint8', 'bool']);

export function fromOrtTensor(tensor: Tensor, source: string): HostTensor {
  if (!HOST_TYPES.has(tensor.type)) {
    throw new QwenVLError('INVALID_MODEL', `has element type ${tensor.type}, which qwen-vl does not handle (${[...HOST_TYPES].join(', ')})`, { source });
  }
  const type = tensor.type as TensorDataType;
  const data = tensor.data as ArrayBufferView;
  // Where the runtime has Float16Array, onnxruntime returns float16 as one: keep the bits.
  const typed = type === 'float16' && !(data instanceof Uint16Array) ? new Uint16Array(data.buffer, data.byteOffset, data.byteLength / 2) : data;
  return { type, dims: tensor.dims, data: typed as TensorDataMap[typeof type] };
}
