import onnxProto from 'onnx-proto';
import type { TensorDataType } from '@qwen-vl/core';

/**
 * The one place that touches `onnx-proto` (a CommonJS package whose only export is the
 * `onnx` namespace), plus the mapping from our element type names to ONNX's codes.
 */
export const onnx = onnxProto.onnx;
export type { onnx as OnnxProto } from 'onnx-proto';

/** protobufjs' int64 field type (`number | Long`), without naming the Long class. */
export type Int64Field = NonNullable<onnxProto.onnx.IAttributeProto['i']>;

/** ONNX `TensorProto.DataType` codes and byte widths of the element types we write. */
export const ELEMENT_TYPES: Record<TensorDataType, { code: number; bytes: number }> = {
  float32: { code: onnx.TensorProto.DataType.FLOAT, bytes: 4 },
  float16: { code: onnx.TensorProto.DataType.FLOAT16, bytes: 2 },
  int32: { code: onnx.TensorProto.DataType.INT32, bytes: 4 },
  int64: { code: onnx.TensorProto.DataType.INT64, bytes: 8 },
  uint8: { code: onnx.TensorProto.DataType.UINT8, bytes: 1 },
  bool: { code: onnx.TensorProto.DataType.BOOL, bytes: 1 },
};

/**
 * protobufjs writes int64 fields from a number only up to 2^53; larger values (INT64_MAX is
 * the usual "to the end" bound of Slice) travel as the {low, high} pair it also accepts.
 */
export function int64Field(value: number | bigint): Int64Field {
  if (typeof value === 'number') return value;
  const bits = BigInt.asUintN(64, value);
  const low = Number(bits & 0xffffffffn);
  const high = Number(bits >> 32n);
  // Int64Field names protobufjs' global Long, which this package's types (node only) leave
  // unresolved, so the linter sees the cast as unnecessary; where Long resolves it is needed.
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion
  return { low: low | 0, high: high | 0, unsigned: false } as unknown as Int64Field;
}

/** The bytes of a typed array, without copying (little-endian hosts, as ONNX raw data is). */
export function bytesOf(view: ArrayBufferView): Uint8Array {
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}
