import { QwenVLError, elementCount } from '@qwen-vl/core';
import type { HostTensor } from '@qwen-vl/core';

/** A tensor as the genai API hands it out: `dims` and the row-major `data` (a typed array). */
export type Tensor = HostTensor;

/**
 * onnxruntime-genai's `NamedTensors`: model inputs by name, as `MultiModalProcessor.process`
 * returns them (`input_ids`, `attention_mask`, `pixel_values`, `image_grid_thw`, ...) and
 * `Generator.setInputs` takes them.
 */
export class NamedTensors {
  private readonly tensors = new Map<string, Tensor>();

  constructor(tensors: Readonly<Record<string, Tensor>> = {}) {
    for (const [name, tensor] of Object.entries(tensors)) this.set(name, tensor);
  }

  /** The tensor `name`; INVALID_ARGUMENT naming it (and listing those there are) when absent. */
  get(name: string): Tensor {
    const tensor = this.tensors.get(name);
    if (tensor === undefined) {
      throw new QwenVLError('INVALID_ARGUMENT', `is not among the tensors (${this.names().join(', ') || 'none'})`, { source: `NamedTensors.get name ${JSON.stringify(name)}` });
    }
    return tensor;
  }

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  /** Adds or replaces `name`; its data must hold exactly the values its dims call for. */
  set(name: string, tensor: Tensor): void {
    const source = `NamedTensors tensor ${JSON.stringify(name)}`;
    if (typeof tensor !== 'object' || tensor === null || !Array.isArray(tensor.dims) || !ArrayBuffer.isView(tensor.data)) {
      throw new QwenVLError('INVALID_ARGUMENT', 'must be a tensor { type, dims, data }', { source });
    }
    if (!tensor.dims.every((d) => Number.isSafeInteger(d) && d >= 0) || (tensor.data as ArrayLike<unknown>).length !== elementCount(tensor.dims)) {
      throw new QwenVLError('INVALID_ARGUMENT', `has ${(tensor.data as ArrayLike<unknown>).length} values for dims [${tensor.dims.join(', ')}]`, { source });
    }
    this.tensors.set(name, tensor);
  }

  names(): string[] {
    return [...this.tensors.keys()];
  }
}
