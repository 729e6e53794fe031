import { QwenVLError } from '@qwen-vl/core';
import { float32ToFloat16 } from '../safetensors/half-float.js';
import type { TensorBytesSource } from '../onnx/graph-builder.js';
import type { VisionConfig } from '@qwen-vl/core';

/**
 * Where the exporter gets the vision tower's weights from. `Checkpoint` of `@qwen-vl/core`
 * is one; anything else that can name a tensor's shape and read it as float32 works too
 * (the benchmark feeds generated weights this way).
 */
export interface WeightSource {
  /** Throws when there is no such tensor. */
  info(name: string): { readonly shape: readonly number[] };
  readFloat32(name: string): Promise<Float32Array>;
}

/** How the weights are stored in the exported file; computation is float32 either way. */
export type Precision = 'fp32' | 'fp16';

export const PRECISIONS: readonly Precision[] = ['fp32', 'fp16'];

/** Every tensor of the vision tower with the shape the config implies, Hugging Face names and layouts. */
export function visionWeightShapes(config: VisionConfig): Map<string, number[]> {
  const { hiddenSize: hidden, intermediateSize: inner, spatialMergeSize: m } = config;
  const shapes = new Map<string, number[]>();
  const linear = (name: string, out: number, inp: number) => {
    shapes.set(`${name}.weight`, [out, inp]);
    shapes.set(`${name}.bias`, [out]);
  };
  shapes.set('visual.patch_embed.proj.weight', [hidden, config.inChannels, config.temporalPatchSize, config.patchSize, config.patchSize]);
  for (let i = 0; i < config.depth; i++) {
    const block = `visual.blocks.${i}`;
    shapes.set(`${block}.norm1.weight`, [hidden]);
    shapes.set(`${block}.norm2.weight`, [hidden]);
    linear(`${block}.attn.qkv`, 3 * hidden, hidden);
    linear(`${block}.attn.proj`, hidden, hidden);
    linear(`${block}.mlp.gate_proj`, inner, hidden);
    linear(`${block}.mlp.up_proj`, inner, hidden);
    linear(`${block}.mlp.down_proj`, hidden, inner);
  }
  const merged = hidden * m * m;
  shapes.set('visual.merger.ln_q.weight', [hidden]);
  linear('visual.merger.mlp.0', merged, merged);
  linear('visual.merger.mlp.2', config.outHiddenSize, merged);
  return shapes;
}

/**
 * Checks before anything is written that every vision tensor is present with the shape
 * config.json implies: a mismatched checkpoint fails naming the tensor, not deep inside
 * onnxruntime.
 */
export function checkVisionWeights(weights: WeightSource, config: VisionConfig): void {
  for (const [name, expected] of visionWeightShapes(config)) {
    const { shape } = weights.info(name);
    if (shape.length !== expected.length || shape.some((d, i) => d !== expected[i])) {
      throw new QwenVLError('INVALID_WEIGHTS', `has shape [${shape.join(', ')}], but config.json's vision_config implies [${expected.join(', ')}]`, { source: `tensor "${name}"` });
    }
  }
}

/** `[rows, cols]` row-major → `[cols, rows]` row-major. */
export function transpose(values: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(values.length);
  for (let r = 0; r < rows; r++) {
    const rowStart = r * cols;
    for (let c = 0; c < cols; c++) out[c * rows + r] = values[rowStart + c];
  }
  return out;
}

/**
 * The bytes of one exported weight, produced only when the writer reaches it: read as
 * float32, seen as a `[rows, cols]` matrix and transposed when asked (torch's Linear stores
 * `[out, in]`, ONNX MatMul wants `[in, out]`), then narrowed to float16 for fp16. So at most
 * one tensor is held at a time, whatever the model's size.
 */
export function lazyWeightBytes(weights: WeightSource, name: string, precision: Precision, transposeAs?: readonly [rows: number, cols: number]): TensorBytesSource {
  const count = weights.info(name).shape.reduce((a, b) => a * b, 1);
  return {
    byteLength: count * (precision === 'fp16' ? 2 : 4),
    async *chunks() {
      const read = await weights.readFloat32(name);
      const values = transposeAs === undefined ? read : transpose(read, transposeAs[0], transposeAs[1]);
      const stored = precision === 'fp16' ? float32ToFloat16(values) : values;
      yield new Uint8Array(stored.buffer, stored.byteOffset, stored.byteLength);
    },
  };
}
