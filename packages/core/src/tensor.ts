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
