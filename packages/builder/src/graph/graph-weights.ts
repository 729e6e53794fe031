import { QwenVLError } from '@qwen-vl/core';
import { WEIGHT_PRECISIONS } from '@qwen-vl/pipeline';
import type { WeightPrecision } from '@qwen-vl/pipeline';
import type { TensorSpec } from '../checkpoint/layout.js';
import type { GraphBuilder, TensorBytesSource } from '../onnx/graph-builder.js';
import { ELEMENT_TYPES } from '../onnx/proto.js';
import { float32ToFloat16 } from '../safetensors/half-float.js';

/**
 * Where the exporters get weights from, by canonical tensor name (see `checkpoint/layout.ts`).
 * `Checkpoint` is one; anything else that can name a tensor's shape and read it as float32
 * works too (the benchmarks make random weights this way, without a file).
 */
export interface WeightSource {
  /** Throws when there is no such tensor. */
  info(name: string): { readonly shape: readonly number[] };
  readFloat32(name: string): Promise<Float32Array>;
}

/** The largest finite float16; a weight beyond it would silently become infinity. */
const FLOAT16_MAX = 65504;

/** Fails with `INVALID_ARGUMENT` naming `source` unless `precision` is one the builder writes. */
export function checkWeightPrecision(precision: WeightPrecision, source: string): void {
  if (!WEIGHT_PRECISIONS.includes(precision)) {
    throw new QwenVLError('INVALID_ARGUMENT', `must be one of ${WEIGHT_PRECISIONS.join(', ')}, got ${JSON.stringify(precision)}`, { source });
  }
}

/**
 * A tensor's float32 values as stored at `precision`: as they are for fp32, rounded to
 * float16 for fp16. A value beyond float16's range is `INVALID_WEIGHTS` naming the tensor,
 * never an infinity in the file.
 */
export function storedValues(values: Float32Array, precision: WeightPrecision, name: string): Float32Array | Uint16Array {
  // One pass for both checks: a NaN or infinite weight (a corrupt or diverged checkpoint)
  // would build and run, turning every logit into NaN and every answer into token 0.
  const limit = precision === 'fp16' ? FLOAT16_MAX : Infinity;
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    if (!Number.isFinite(value)) {
      throw new QwenVLError('INVALID_WEIGHTS', `holds ${value} at index ${i}; a checkpoint's weights must be finite numbers`, { source: `tensor "${name}"` });
    }
    if (Math.abs(value) > limit) {
      throw new QwenVLError('INVALID_WEIGHTS', `holds ${value} at index ${i}, beyond float16's range (±${FLOAT16_MAX}); export with precision "fp32"`, { source: `tensor "${name}"` });
    }
  }
  return precision === 'fp32' ? values : float32ToFloat16(values);
}

const sameShape = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((d, i) => d === b[i]);
const elements = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/**
 * A part's weights as graph initializers, the one conversion path of every exporter. The
 * source's shapes are checked against the layout when this is made, so a mismatched
 * checkpoint fails naming the tensor before any graph exists, let alone a file. Each weight
 * is then read, converted to the stored precision and written only when the model is
 * serialized, one tensor at a time, whatever the model's size.
 */
export class GraphWeights {
  private readonly specs: ReadonlyMap<string, TensorSpec>;

  constructor(
    private readonly source: WeightSource,
    layout: readonly TensorSpec[],
    readonly precision: WeightPrecision,
  ) {
    checkWeightPrecision(precision, 'export option "precision"');
    for (const { name, shape } of layout) {
      const actual = source.info(name).shape;
      if (!sameShape(actual, shape)) {
        throw new QwenVLError('INVALID_WEIGHTS', `has shape [${actual.join(', ')}], but config.json implies [${shape.join(', ')}]`, { source: `tensor "${name}"` });
      }
    }
    this.specs = new Map(layout.map((spec) => [spec.name, spec]));
  }

  /** Whether the layout has the tensor (a Linear's bias, say). */
  has(name: string): boolean {
    return this.specs.has(name);
  }

  /** The tensor's shape in the checkpoint. */
  shape(name: string): readonly number[] {
    const spec = this.specs.get(name);
    if (spec === undefined) throw new QwenVLError('INVALID_ARGUMENT', 'is not in the layout this part was exported with', { source: `tensor "${name}"` });
    return spec.shape;
  }

  /**
   * Adds the weight as an initializer named after the checkpoint tensor, in its stored
   * precision, for ops that work on it before widening (Gather of embedding rows). `dims`
   * views the same row-major values in another shape of as many elements (the patch Conv3d
   * as a matrix); no value moves.
   */
  stored(graph: GraphBuilder, name: string, dims: readonly number[] = this.shape(name)): string {
    const shape = this.shape(name);
    if (elements(dims) !== elements(shape)) {
      throw new QwenVLError('INVALID_ARGUMENT', `cannot be viewed as [${dims.join(', ')}]: it has shape [${shape.join(', ')}]`, { source: `tensor "${name}"` });
    }
    const type = this.precision === 'fp16' ? 'float16' : 'float32';
    return graph.initializer(name, type, dims, this.bytes(name, elements(shape) * ELEMENT_TYPES[type].bytes));
  }

  /** `value` (from `stored`) as float32: itself for fp32 storage, a Cast for fp16. */
  widened(graph: GraphBuilder, value: string, nodeName: string): string {
    return this.precision === 'fp16' ? graph.op('Cast', [value], { to: ELEMENT_TYPES.float32.code }, { name: nodeName }) : value;
  }

  /**
   * The weight as a float32 graph value. With fp16 storage the Cast is folded into a float32
   * constant by onnxruntime when the session loads, so the arithmetic is float32 either way.
   */
  float32(graph: GraphBuilder, name: string, dims?: readonly number[]): string {
    return this.widened(graph, this.stored(graph, name, dims), `${name}/cast`);
  }

  private bytes(name: string, byteLength: number): TensorBytesSource {
    const { source, precision } = this;
    return {
      byteLength,
      async *chunks() {
        const stored = storedValues(await source.readFloat32(name), precision, name);
        yield new Uint8Array(stored.buffer, stored.byteOffset, stored.byteLength);
      },
    };
  }
}
