import { float } from '../onnx/attributes.js';
import type { GraphBuilder } from '../onnx/graph-builder.js';
import type { CheckpointWeights } from './checkpoint-weights.js';

/**
 * The text model's building blocks on 2-D activations `[tokens, features]`. Weights stay in
 * the checkpoint's `[out, in]` layout and Gemm reads them transposed, so export never
 * rewrites a matrix and a quantizer later sees the layout it expects.
 */
export function linear(graph: GraphBuilder, weights: CheckpointWeights, x: string, name: string, outFeatures: number, inFeatures: number, withBias: boolean): string {
  const weight = weights.float32(graph, `${name}.weight`, [outFeatures, inFeatures]);
  const inputs = withBias ? [x, weight, weights.float32(graph, `${name}.bias`, [outFeatures])] : [x, weight];
  return graph.op('Gemm', inputs, { transB: 1 }, { name });
}

/** Qwen2 RMSNorm, in float32: `x / sqrt(mean(x²) + eps) · weight`. */
export function rmsNorm(graph: GraphBuilder, weights: CheckpointWeights, x: string, name: string, hiddenSize: number, eps: number): string {
  const scale = weights.float32(graph, `${name}.weight`, [hiddenSize]);
  return graph.op('SimplifiedLayerNormalization', [x, scale], { axis: -1, epsilon: float(eps), stash_type: 1 }, { name });
}

/** `down(silu(gate(x)) · up(x))`, no biases. */
export function swigluMlp(graph: GraphBuilder, weights: CheckpointWeights, x: string, name: string, hiddenSize: number, intermediateSize: number): string {
  const gate = linear(graph, weights, x, `${name}.gate_proj`, intermediateSize, hiddenSize, false);
  const up = linear(graph, weights, x, `${name}.up_proj`, intermediateSize, hiddenSize, false);
  const silu = graph.op('Mul', [gate, graph.op('Sigmoid', [gate], {}, { name: `${name}/sigmoid` })], {}, { name: `${name}/silu` });
  const product = graph.op('Mul', [silu, up], {}, { name: `${name}/gated` });
  return linear(graph, weights, product, `${name}.down_proj`, hiddenSize, intermediateSize, false);
}
