import type { HostTensor } from '@qwen-vl/core';
import type { OrtRuntime } from '@qwen-vl/pipeline';
import { Tensor } from 'onnxruntime-node';

export { fromOrtTensor } from '@qwen-vl/pipeline';

/** A HostTensor as an onnxruntime-node tensor: same element type names, the array wrapped, never copied. */
export function toOrtTensor(tensor: HostTensor): Tensor {
  return new Tensor(tensor.type, tensor.data, tensor.dims);
}

/** onnxruntime-node as the session adapter sees it; its device tensors feed only its own sessions. */
export const ONNXRUNTIME_NODE: OrtRuntime<Tensor> = { name: 'onnxruntime', createTensor: toOrtTensor };
