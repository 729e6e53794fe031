import { isDeviceTensor } from '@qwen-vl/core';
import type { HostTensor, SessionTensor, TensorDataType } from '@qwen-vl/core';

/** An output a run is about to produce: its name, element type and dims. */
export interface OutputShape {
  readonly name: string;
  readonly type: TensorDataType;
  readonly dims: readonly number[];
}

const ARRAY_OF: { readonly [T in TensorDataType]: (length: number) => HostTensor<T>['data'] } = {
  float32: (length) => new Float32Array(length),
  float16: (length) => new Uint16Array(length),
  int32: (length) => new Int32Array(length),
  int64: (length) => new BigInt64Array(length),
  uint8: (length) => new Uint8Array(length),
  bool: (length) => new Uint8Array(length),
};

/**
 * Host memory that one sequence's decoder runs write their outputs into (the logits and the
 * present.* cache), instead of fresh arrays per run. Fresh arrays are not free: on a VM every
 * first touch of a page is a fault of about 15 µs, and a step of 16 rows of the tiny model
 * returns 9.7 MB of logits, 2,400 faults, three times the run itself.
 *
 * Two sets of buffers take turns, so the logits a run hands out stay valid until the run
 * after next; a set that holds a tensor still in use (the run's own past cache, when a failed
 * run broke the alternation) is skipped, so a run never overwrites its inputs. Each buffer
 * grows, at least doubling, to the largest output asked of it, and lives as long as this object.
 */
export class OutputBuffers {
  private readonly sets: [Map<string, HostTensor>, Map<string, HostTensor>] = [new Map(), new Map()];
  private turn = 0;

  /**
   * Tensors for `outputs` over the set whose turn it is, or the other one if the first holds
   * any of `inUse`; empty when both do (the run then allocates its outputs).
   */
  tensorsFor(outputs: readonly OutputShape[], inUse: readonly SessionTensor[]): Record<string, HostTensor> {
    const used = new Set(inUse.flatMap((tensor) => (isDeviceTensor(tensor) ? [] : [tensor.data.buffer])));
    const index = [this.turn, 1 - this.turn].find((k) => ![...this.sets[k].values()].some((buffer) => used.has(buffer.data.buffer)));
    if (index === undefined) return {};
    this.turn = 1 - index;
    const free = this.sets[index];
    const tensors: Record<string, HostTensor> = {};
    for (const { name, type, dims } of outputs) {
      const length = dims.reduce((product, dim) => product * dim, 1);
      let buffer = free.get(name);
      if (buffer === undefined || buffer.type !== type || buffer.data.length < length) {
        const grown = buffer?.type === type ? 2 * buffer.data.length : 0;
        buffer = { type, dims: [], data: ARRAY_OF[type](Math.max(length, grown)) };
        free.set(name, buffer);
      }
      tensors[name] = { type, dims: [...dims], data: buffer.data.subarray(0, length) };
    }
    return tensors;
  }
}
