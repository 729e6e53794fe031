/**
 * A host-side tensor: a typed array plus its shape. Backends convert these to their own
 * tensor types at the session boundary; the math packages only ever see this shape.
 */
export type TensorDataType = 'float32' | 'float16' | 'int32' | 'int64' | 'uint8' | 'bool';

export interface TensorDataMap {
  float32: Float32Array;
  float16: Uint16Array;
  int32: Int32Array;
  int64: BigInt64Array;
  uint8: Uint8Array;
  bool: Uint8Array;
}

export interface HostTensor<T extends TensorDataType = TensorDataType> {
  readonly type: T;
  readonly dims: readonly number[];
  readonly data: TensorDataMap[T];
}

export function elementCount(dims: readonly number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

export function hostTensor<T extends TensorDataType>(type: T, data: TensorDataMap[T], dims: readonly number[]): HostTensor<T> {
  const expected = elementCount(dims);
  if (data.length !== expected) {
    throw new RangeError(`tensor of shape [${dims.join(', ')}] needs ${expected} values, got ${data.length}`);
  }
  return { type, data, dims: [...dims] };
}

/** int32 → int64 widening for the ONNX inputs that the spec types as int64. */
export function toBigInt64(values: ArrayLike<number>): BigInt64Array {
  const out = new BigInt64Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = BigInt(values[i]);
  return out;
}

/**
 * A tensor a backend keeps in its own memory (a GPU buffer, or the runtime's host tensor)
 * so that it can be fed to a later run without passing through JavaScript: the KV cache
 * between decoding steps. Its contents are never read on this side; only the backend that
 * returned it can take it as a feed.
 */
export interface DeviceTensor<T extends TensorDataType = TensorDataType> {
  readonly kind: 'device';
  readonly type: T;
  readonly dims: readonly number[];
  /** Frees the memory now rather than at garbage collection; the tensor cannot be fed afterwards. Idempotent. */
  dispose(): void;
  /**
   * A copy of the contents in host memory; the tensor stays on the device and usable. For the
   * rare reads of a kept tensor (rewinding the KV cache); a backend that cannot read its
   * tensors back leaves it out.
   */
  download?(): Promise<HostTensor<T>>;
}

/** What a session run takes as a feed and may return. */
export type SessionTensor = HostTensor | DeviceTensor;

export function isDeviceTensor(tensor: SessionTensor): tensor is DeviceTensor {
  return (tensor as Partial<DeviceTensor>).kind === 'device';
}
