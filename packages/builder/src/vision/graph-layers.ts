import { GraphBuilder } from '../onnx/graph-builder.js';
import { float } from '../onnx/attributes.js';
import type { VisionConfig } from '@qwen-vl/core';
import { lazyWeightBytes } from './vision-weights.js';
import type { Precision, WeightSource } from './vision-weights.js';

/** Hugging Face hard-codes the vision tower's RMSNorm epsilon. */
const RMS_NORM_EPS = 1e-6;

/**
 * The graph being built plus access to the checkpoint's weights as float32 graph values.
 * Each weight becomes one initializer whose bytes are read only when the model is written.
 */
export class VisionGraphContext {
  readonly graph: GraphBuilder;

  constructor(
    readonly config: VisionConfig,
    private readonly weights: WeightSource,
    private readonly precision: Precision,
  ) {
    this.graph = new GraphBuilder('qwen2_5_vl_vision');
  }

  /**
   * The tensor `name` as a float32 value. `transposeAs` stores a `[rows, cols]` view of it
   * transposed; fp16 storage adds a Cast, which onnxruntime folds into a float32 constant
   * when the session loads.
   */
  weight(name: string, transposeAs?: readonly [rows: number, cols: number]): string {
    const shape = this.weights.info(name).shape;
    const dims = transposeAs === undefined ? [...shape] : [transposeAs[1], transposeAs[0]];
    const bytes = lazyWeightBytes(this.weights, name, this.precision, transposeAs);
    if (this.precision === 'fp32') return this.graph.initializer(name, 'float32', dims, bytes);
    const stored = this.graph.initializer(name, 'float16', dims, bytes);
    return this.graph.op('Cast', [stored], { to: 1 /* FLOAT */ });
  }

  /** `x · Wᵀ + b` for torch's Linear `name` (weight `[out, in]`, bias `[out]`). */
  linear(x: string, name: string): string {
    const [out, inp] = this.weights.info(`${name}.weight`).shape;
    const product = this.graph.op('MatMul', [x, this.weight(`${name}.weight`, [out, inp])]);
    return this.graph.op('Add', [product, this.weight(`${name}.bias`)]);
  }

  /** `w · x / sqrt(mean(x²) + eps)` over the last axis, statistics in float32. */
  rmsNorm(x: string, weightName: string): string {
    return this.graph.op('SimplifiedLayerNormalization', [x, this.weight(weightName)], { axis: -1, epsilon: float(RMS_NORM_EPS), stash_type: 1 });
  }

  /** `down(silu(gate(x)) · up(x))`, silu(z) = z · sigmoid(z). */
  swiGlu(x: string, prefix: string): string {
    const gate = this.linear(x, `${prefix}.gate_proj`);
    const silu = this.graph.op('Mul', [gate, this.graph.op('Sigmoid', [gate])]);
    return this.linear(this.graph.op('Mul', [silu, this.linear(x, `${prefix}.up_proj`)]), `${prefix}.down_proj`);
  }

  /** nn.GELU's exact form, `0.5 · x · (1 + erf(x / √2))`. */
  gelu(x: string): string {
    const g = this.graph;
    const erf = g.op('Erf', [g.op('Mul', [x, g.constFloat(Math.SQRT1_2)])]);
    return g.op('Mul', [g.op('Mul', [x, g.constFloat(0.5)]), g.op('Add', [erf, g.constFloat(1)])]);
  }
}
