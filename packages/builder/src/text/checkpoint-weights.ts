import { QwenVLError } from '@qwen-vl/core';
import { float32ToFloat16 } from '../safetensors/half-float.js';
import type { Checkpoint } from '../safetensors/checkpoint.js';
import type { GraphBuilder, TensorBytesSource } from '../onnx/graph-builder.js';
import { ONNX_FLOAT } from './onnx-types.js';

/**
 * How weights are stored in the exported file. Activations are float32 either way: a
 * float16 weight is widened by a Cast node, so fp16 halves the file without changing the
 * arithmetic the graph does.
 */
export type WeightPrecision = 'fp32' | 'fp16';

export const WEIGHT_PRECISIONS: readonly WeightPrecision[] = ['fp32', 'fp16'];

/** The largest finite float16; a weight beyond it would silently become infinity. */
const FLOAT16_MAX = 65504;

/**
 * Checkpoint tensors as graph initializers. Shapes are checked against the config now; the
 * bytes are read and converted only when the model is written, one tensor at a time.
 */
export class CheckpointWeights {
  constructor(
    private readonly checkpoint: Checkpoint,
    readonly precision: WeightPrecision,
  ) {
    if (!WEIGHT_PRECISIONS.includes(precision)) {
      throw new QwenVLError('INVALID_ARGUMENT', `must be one of ${WEIGHT_PRECISIONS.join(', ')}, got ${JSON.stringify(precision)}`, { source: 'export option "precision"' });
    }
  }

  /**
   * Adds the weight as an initializer named after the checkpoint tensor and returns the name
   * of its float32 value (the initializer itself, or its Cast for fp16 storage).
   */
  float32(graph: GraphBuilder, name: string, shape: readonly number[]): string {
    const stored = this.initializer(graph, name, shape);
    return this.precision === 'fp16' ? graph.op('Cast', [stored], { to: ONNX_FLOAT }, { name: `${name}/cast` }) : stored;
  }

  /** Adds the weight in its stored precision, for ops that work on it before widening (Gather). */
  initializer(graph: GraphBuilder, name: string, shape: readonly number[]): string {
    this.checkShape(name, shape);
    const count = shape.reduce((a, b) => a * b, 1);
    return this.precision === 'fp16'
      ? graph.initializer(name, 'float16', shape, this.source(name, count * 2, (values) => float32ToFloat16(checkFloat16Range(values, name))))
      : graph.initializer(name, 'float32', shape, this.source(name, count * 4, (values) => values));
  }

  private checkShape(name: string, shape: readonly number[]): void {
    const actual = this.checkpoint.info(name).shape;
    if (actual.length !== shape.length || actual.some((d, i) => d !== shape[i])) {
      throw new QwenVLError('INVALID_WEIGHTS', `has shape [${actual.join(', ')}], config.json implies [${shape.join(', ')}]`, { source: `tensor "${name}"` });
    }
  }

  private source(name: string, byteLength: number, convert: (values: Float32Array) => Float32Array | Uint16Array): TensorBytesSource {
    const checkpoint = this.checkpoint;
    return {
      byteLength,
      async *chunks() {
        const converted = convert(await checkpoint.readFloat32(name));
        yield new Uint8Array(converted.buffer, converted.byteOffset, converted.byteLength);
      },
    };
  }
}

function checkFloat16Range(values: Float32Array, name: string): Float32Array {
  for (let i = 0; i < values.length; i++) {
    if (Math.abs(values[i]) > FLOAT16_MAX) {
      throw new QwenVLError('INVALID_WEIGHTS', `holds ${values[i]} at index ${i}, beyond float16's range (±${FLOAT16_MAX}); export with precision "fp32"`, { source: `tensor "${name}"` });
    }
  }
  return values;
}
