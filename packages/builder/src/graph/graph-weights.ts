import { QwenVLError, float32ToFloat16 } from '@qwen-vl/core';
import { VISION_PRECISIONS, WEIGHT_PRECISIONS } from '@qwen-vl/pipeline';
import type { QuantizationSettings, VisionPrecision, WeightPrecision } from '@qwen-vl/pipeline';
import type { TensorSpec } from '../checkpoint/layout.js';
import type { GraphBuilder, TensorBytesSource } from '../onnx/graph-builder.js';
import { ELEMENT_TYPES } from '../onnx/proto.js';
import { checkBlockSize, quantizeBlockwise, zeroPointRow } from '../quantize/block-quantize.js';
import { converted } from './layers.js';
import type { BlockQuantized, QuantBits } from '../quantize/block-quantize.js';

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

/**
 * The element type a graph's activations are computed in: float32, or float16 in an fp16,
 * int8 or int4 build for a provider that computes float16 natively (`computeTypeFor`).
 */
export type ComputeType = 'float32' | 'float16';

/** A part's precision: the text's (`WeightPrecision`) or the vision tower's (`VisionPrecision`). */
export type PartPrecision = WeightPrecision | VisionPrecision;

/** What `qwen-vl build` quantizes with unless told otherwise. */
export const DEFAULT_QUANTIZATION: QuantizationSettings = { blockSize: 32, accuracyLevel: 4 };

/** Fails with `INVALID_ARGUMENT` naming `source` unless `precision` is one of `allowed`. */
export function checkWeightPrecision(precision: PartPrecision, source: string, allowed: readonly PartPrecision[] = WEIGHT_PRECISIONS): void {
  if (!allowed.includes(precision)) {
    throw new QwenVLError('INVALID_ARGUMENT', `must be one of ${allowed.join(', ')}, got ${JSON.stringify(precision)}`, { source });
  }
}

/** Bits of the quantized linear layers at `precision`; undefined when it keeps them float. */
export function quantizedBits(precision: PartPrecision): QuantBits | undefined {
  return precision === 'int4' ? 4 : precision === 'int8' ? 8 : undefined;
}

/** The three initializers of a block-quantized matrix, as MatMulNBits and GatherBlockQuantized take them. */
export interface QuantizedInitializers {
  readonly data: string;
  readonly scales: string;
  readonly zeroPoints: string;
  readonly bits: QuantBits;
  readonly blockSize: number;
  readonly accuracyLevel: number;
}

/**
 * A tensor's float32 values as stored at `precision`: as they are for fp32, rounded to
 * float16 for fp16. A value beyond float16's range is `INVALID_WEIGHTS` naming the tensor,
 * never an infinity in the file.
 */
export function storedValues(values: Float32Array, precision: 'fp32' | 'fp16', name: string): Float32Array | Uint16Array {
  // A NaN or infinite weight (a corrupt or diverged checkpoint) would build and run, turning
  // every logit into NaN and every answer into token 0.
  const limit = precision === 'fp16' ? FLOAT16_MAX : Infinity;
  const bad = firstValueOutside(values, limit);
  if (bad !== -1) {
    const value = values[bad];
    const why = Number.isFinite(value) ? `, beyond float16's range (±${FLOAT16_MAX}); export with precision "fp32"` : "; a checkpoint's weights must be finite numbers";
    throw new QwenVLError('INVALID_WEIGHTS', `holds ${value} at index ${bad}${why}`, { source: `tensor "${name}"` });
  }
  return precision === 'fp32' ? values : float32ToFloat16(values);
}

/**
 * The index of the first value that is not finite or beyond ±`limit`, or -1. The loop names no
 * value in a message: a template literal on the failure path inside it made V8 box every
 * element as a heap number, about 400 ns per weight (20 minutes of a 3B build) instead of 2.
 */
function firstValueOutside(values: Float32Array, limit: number): number {
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    if (!Number.isFinite(value) || Math.abs(value) > limit) return i;
  }
  return -1;
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
  /** How the weights that stay float are stored: float16 only in fp16 parts. */
  private readonly float: 'fp32' | 'fp16';
  /** Set when the part's linear layers are quantized (int8, int4). */
  readonly quantization: (QuantizationSettings & { readonly bits: QuantBits }) | undefined;
  /** Quantized matrices read for one of their initializers and not yet for the other (data, scales). */
  private readonly pendingQuantized = new Map<string, { promise: Promise<BlockQuantized>; reads: number }>();

  constructor(
    private readonly source: WeightSource,
    layout: readonly TensorSpec[],
    readonly precision: PartPrecision,
    quantization: QuantizationSettings = DEFAULT_QUANTIZATION,
  ) {
    checkWeightPrecision(precision, 'export option "precision"', [...new Set([...WEIGHT_PRECISIONS, ...VISION_PRECISIONS])]);
    this.float = precision === 'fp16' ? 'fp16' : 'fp32';
    const bits = quantizedBits(precision);
    if (bits !== undefined) checkBlockSize(quantization.blockSize, 'export option "blockSize"');
    this.quantization = bits === undefined ? undefined : { ...quantization, bits };
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
    const type = this.storedType;
    return graph.initializer(name, type, dims, this.bytes(name, elements(shape) * ELEMENT_TYPES[type].bytes));
  }

  /**
   * The 2-D weight `name` (`[rows, cols]`) quantized in blocks along `cols`, as three
   * initializers: `name` (uint8; `[rows, blocks, blockBytes]` for MatMulNBits, or
   * `[rows, blocks · blockBytes]` for GatherBlockQuantized: the same bytes), `name/scales`
   * (`scaleType`: float32, or float16 for float16 activations) and `name/zero_points` uint8.
   * Only for a part exported at int8 or int4.
   */
  quantized(graph: GraphBuilder, name: string, view: 'matmul' | 'gather', scaleType: ComputeType = 'float32'): QuantizedInitializers {
    const quantization = this.quantization;
    const shape = this.shape(name);
    if (quantization === undefined || shape.length !== 2) {
      throw new QwenVLError('INVALID_ARGUMENT', `cannot be quantized: the part is ${this.precision} and the tensor has shape [${shape.join(', ')}]`, { source: `tensor "${name}"` });
    }
    const { bits, blockSize } = quantization;
    const [rows, cols] = shape;
    const blocks = Math.ceil(cols / blockSize);
    const blockBytes = (blockSize * bits) / 8;
    const zeroPointsOfRow = zeroPointRow(blocks, bits);
    const data = graph.initializer(
      name,
      'uint8',
      view === 'matmul' ? [rows, blocks, blockBytes] : [rows, blocks * blockBytes],
      this.quantizedBytes(name, rows * blocks * blockBytes, (q) => q.data),
    );
    const scales = graph.initializer(
      `${name}/scales`,
      scaleType,
      view === 'matmul' ? [rows * blocks] : [rows, blocks],
      this.quantizedBytes(name, rows * blocks * ELEMENT_TYPES[scaleType].bytes, (q) => (scaleType === 'float32' ? q.scales : float32ToFloat16(q.scales))),
    );
    // Every zero point is 2^(bits−1) (symmetric quantization): known without reading the weight.
    const zeroPointData = new Uint8Array(rows * zeroPointsOfRow.length);
    for (let row = 0; row < rows; row++) zeroPointData.set(zeroPointsOfRow, row * zeroPointsOfRow.length);
    const zeroPoints = graph.initializer(`${name}/zero_points`, 'uint8', view === 'matmul' ? [zeroPointData.length] : [rows, zeroPointsOfRow.length], zeroPointData);
    return { data, scales, zeroPoints, bits, blockSize, accuracyLevel: quantization.accuracyLevel };
  }

  /** `value` (from `stored`) as float32: itself for fp32 storage, a Cast for fp16. */
  widened(graph: GraphBuilder, value: string, nodeName: string): string {
    return converted(graph, value, this.storedType, 'float32', nodeName);
  }

  /**
   * The weight as a float32 graph value. With fp16 storage the Cast is folded into a float32
   * constant by onnxruntime when the session loads, so the arithmetic is float32 either way.
   */
  float32(graph: GraphBuilder, name: string, dims?: readonly number[]): string {
    return this.typed(graph, name, 'float32', dims);
  }

  /**
   * The weight as a `type` graph value, for arithmetic in that type: the initializer itself
   * when it is stored so, else a Cast of it (folded into a constant when the session loads).
   */
  typed(graph: GraphBuilder, name: string, type: ComputeType, dims?: readonly number[]): string {
    return converted(graph, this.stored(graph, name, dims), this.storedType, type, `${name}/cast`);
  }

  /** The element type the weights that stay float are stored in. */
  private get storedType(): ComputeType {
    return this.float === 'fp16' ? 'float16' : 'float32';
  }

  private bytes(name: string, byteLength: number): TensorBytesSource {
    const { source, float } = this;
    return {
      byteLength,
      async *chunks() {
        const stored = storedValues(await source.readFloat32(name), float, name);
        yield new Uint8Array(stored.buffer, stored.byteOffset, stored.byteLength);
      },
    };
  }

  /**
   * One of a quantized matrix's byte arrays. The data and the scales come from one
   * quantization: the first of the two to be written reads and quantizes the weight, the
   * second takes the result and lets it go (they are written one after the other, so at most
   * one matrix is held).
   */
  private quantizedBytes(name: string, byteLength: number, pick: (quantized: BlockQuantized) => ArrayBufferView): TensorBytesSource {
    return {
      byteLength,
      chunks: async function* (this: GraphWeights) {
        const view = pick(await this.takeQuantized(name));
        yield new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
      }.bind(this),
    };
  }

  private takeQuantized(name: string): Promise<BlockQuantized> {
    let pending = this.pendingQuantized.get(name);
    if (pending === undefined) {
      const { bits, blockSize } = this.quantization!;
      const [rows, cols] = this.shape(name);
      const promise = this.source.readFloat32(name).then((values) => quantizeBlockwise(storedValues(values, 'fp32', name) as Float32Array, rows, cols, bits, blockSize));
      pending = { promise, reads: 0 };
      this.pendingQuantized.set(name, pending);
    }
    if (++pending.reads === 2) this.pendingQuantized.delete(name);
    return pending.promise;
  }
}
