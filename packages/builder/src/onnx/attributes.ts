import { QwenVLError, elementCount } from '@qwen-vl/core';
import type { TensorDataMap, TensorDataType } from '@qwen-vl/core';
import { encodeUtf8 } from '../safetensors/utf8.js';
import { ELEMENT_TYPES, bytesOf, int64Field, onnx } from './proto.js';
import type { OnnxProto } from './proto.js';

/**
 * Node attributes are written as a plain object whose values pick the ONNX attribute type:
 * an integer number or a bigint → INT, any other number → FLOAT, a string → STRING, an
 * array of integers → INTS, an array with a fraction → FLOATS, an array of strings →
 * STRINGS. A float that happens to be whole (`alpha: 1.0` is `1` in JS) must say so with
 * `float(1)` / `floats([1, 2])`; a constant tensor goes through `tensorAttribute`.
 */
export interface FloatAttribute {
  readonly kind: 'float';
  readonly value: number;
}

export interface FloatsAttribute {
  readonly kind: 'floats';
  readonly values: readonly number[];
}

export interface TensorAttribute {
  readonly kind: 'tensor';
  readonly type: TensorDataType;
  readonly dims: readonly number[];
  readonly data: TensorDataMap[TensorDataType];
}

/** A subgraph (an If branch), made by `GraphBuilder.subgraph`. */
export interface GraphAttribute {
  readonly kind: 'graph';
  readonly graph: OnnxProto.IGraphProto;
}

export type AttributeValue = number | bigint | string | readonly number[] | readonly bigint[] | readonly string[] | FloatAttribute | FloatsAttribute | TensorAttribute | GraphAttribute;

export type Attributes = Readonly<Record<string, AttributeValue | undefined>>;

export function float(value: number): FloatAttribute {
  return { kind: 'float', value };
}

export function floats(values: readonly number[]): FloatsAttribute {
  return { kind: 'floats', values: [...values] };
}

export function tensorAttribute<T extends TensorDataType>(type: T, dims: readonly number[], data: TensorDataMap[T]): TensorAttribute {
  if (data.length !== elementCount(dims)) {
    throw new QwenVLError('INVALID_ARGUMENT', `tensor of shape [${dims.join(', ')}] needs ${elementCount(dims)} values, got ${data.length}`, { source: 'tensorAttribute' });
  }
  return { kind: 'tensor', type, dims: [...dims], data };
}

const Type = onnx.AttributeProto.AttributeType;

/** Encodes one attribute; `source` names the node for error messages. */
export function encodeAttribute(name: string, value: AttributeValue, source: string): OnnxProto.IAttributeProto {
  const where = `${source} attribute "${name}"`;
  if (typeof value === 'bigint') return { name, type: Type.INT, i: int64Field(value) };
  if (typeof value === 'number') {
    return Number.isInteger(value) ? { name, type: Type.INT, i: int64Field(value) } : { name, type: Type.FLOAT, f: value };
  }
  if (typeof value === 'string') return { name, type: Type.STRING, s: encodeUtf8(value) };
  if (isList(value)) return encodeList(name, value, where);
  switch (value.kind) {
    case 'float':
      return { name, type: Type.FLOAT, f: value.value };
    case 'floats':
      return { name, type: Type.FLOATS, floats: [...value.values] };
    case 'tensor':
      return {
        name,
        type: Type.TENSOR,
        t: { name, dataType: ELEMENT_TYPES[value.type].code, dims: [...value.dims], rawData: bytesOf(value.data) },
      };
    case 'graph':
      return { name, type: Type.GRAPH, g: value.graph };
  }
}

function isList(value: AttributeValue): value is readonly number[] | readonly bigint[] | readonly string[] {
  return Array.isArray(value);
}

function encodeList(name: string, values: readonly (number | bigint | string)[], where: string): OnnxProto.IAttributeProto {
  // Integers first, so that an empty list (`axes: []`) is INTS.
  if (values.every((v) => typeof v === 'bigint' || (typeof v === 'number' && Number.isInteger(v)))) {
    return { name, type: Type.INTS, ints: values.map((v) => int64Field(v as number | bigint)) };
  }
  if (values.every((v) => typeof v === 'string')) {
    return { name, type: Type.STRINGS, strings: (values as string[]).map(encodeUtf8) };
  }
  if (values.every((v) => typeof v === 'number')) return { name, type: Type.FLOATS, floats: [...(values as number[])] };
  throw new QwenVLError('INVALID_ARGUMENT', `mixes value kinds ${JSON.stringify(values, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v))}`, { source: where });
}
