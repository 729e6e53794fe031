import { float } from '../onnx/attributes.js';
import { ELEMENT_TYPES } from '../onnx/proto.js';
import { float32ToFloat16 } from '@qwen-vl/core';
import type { GraphBuilder } from '../onnx/graph-builder.js';
import type { ComputeType, GraphWeights, QuantizedInitializers } from './graph-weights.js';

/**
 * The building blocks the vision tower and the language model share, on 2-D activations
 * `[rows, features]` (rotary: `[..., heads, headDim]`). Each names its nodes after the
 * checkpoint module they compute (`visual.blocks.0.attn.qkv`, `model.layers.3.mlp/silu`).
 */

/**
 * torch's Linear `name`: `x · Wᵀ + b`, the bias when the layout has one. One Gemm with
 * `transB = 1` on the weight as the checkpoint stores it, `[out, in]`: the export never
 * rewrites a float matrix (each weight streams from the checkpoint to the file unchanged but
 * for its precision). In a quantized part (int8, int4) a 2-D weight is a com.microsoft
 * `MatMulNBits` instead, on that same `[out, in]` layout with blocks along the input
 * dimension, and the bias an Add. A weight of more than two dimensions (the patch
 * embedding's Conv3d, whose kernel equals its stride: a Linear on the flattened patch) is
 * viewed as `[out, product of the rest]` and stays float. `type` is x's element type: float16
 * activations take the weights, the bias and a quantized weight's scales in float16.
 */
export function linear(graph: GraphBuilder, weights: GraphWeights, x: string, name: string, type: ComputeType = 'float32'): string {
  const [out, ...inner] = weights.shape(`${name}.weight`);
  const bias = weights.has(`${name}.bias`) ? weights.typed(graph, `${name}.bias`, type) : undefined;
  if (weights.quantization !== undefined && inner.length === 1) {
    const product = quantizedMatMul(graph, x, weights.quantized(graph, `${name}.weight`, 'matmul', type), out, inner[0], name);
    return bias === undefined ? product : graph.op('Add', [product, bias], {}, { name: `${name}/bias` });
  }
  const inputs = [x, weights.typed(graph, `${name}.weight`, type, [out, inner.reduce((a, b) => a * b, 1)])];
  if (bias !== undefined) inputs.push(bias);
  return graph.op('Gemm', inputs, { transB: 1 }, { name });
}

/** `x · Wᵀ` for a block-quantized `W` `[n, k]`: onnxruntime's `MatMulNBits`. */
function quantizedMatMul(graph: GraphBuilder, x: string, w: QuantizedInitializers, n: number, k: number, name: string): string {
  return graph.op('MatMulNBits', [x, w.data, w.scales, w.zeroPoints], { K: k, N: n, bits: w.bits, block_size: w.blockSize, accuracy_level: w.accuracyLevel }, { domain: 'com.microsoft', name });
}

/** A scalar constant of element type `type`. */
export function scalar(graph: GraphBuilder, value: number, type: ComputeType): string {
  return type === 'float32' ? graph.constFloat(value) : graph.constant('float16', [], float32ToFloat16(Float32Array.of(value)));
}

/** `value`, of element type `from`, as `to`: itself when they are the same, else a Cast (named `name`, when given). */
export function converted(graph: GraphBuilder, value: string, from: ComputeType, to: ComputeType, name?: string): string {
  return from === to ? value : graph.op('Cast', [value], { to: ELEMENT_TYPES[to].code }, name === undefined ? {} : { name });
}

/**
 * Qwen2's RMSNorm `name` over the last axis of float32 `x`: `x / sqrt(mean(x²) + eps) · weight`,
 * statistics and weight in float32, the result cast to `type` for a branch that computes in
 * it. `SimplifiedLayerNormalization` is onnxruntime's own op, registered in the ONNX domain
 * on CPU, WASM and WebGPU alike.
 */
export function rmsNorm(graph: GraphBuilder, weights: GraphWeights, x: string, name: string, eps: number, type: ComputeType = 'float32'): string {
  const normed = graph.op('SimplifiedLayerNormalization', [x, weights.float32(graph, `${name}.weight`)], { axis: -1, epsilon: float(eps), stash_type: 1 }, { name });
  return converted(graph, normed, 'float32', type, `${name}/typed`);
}

/** The gated MLP `name`: `down(silu(gate(x)) · up(x))`, silu(z) = z · sigmoid(z); biases as the layout has them; in `type`, x's. */
export function swiGlu(graph: GraphBuilder, weights: GraphWeights, x: string, name: string, type: ComputeType = 'float32'): string {
  const gate = linear(graph, weights, x, `${name}.gate_proj`, type);
  const silu = graph.op('Mul', [gate, graph.op('Sigmoid', [gate], {}, { name: `${name}/sigmoid` })], {}, { name: `${name}/silu` });
  const gated = graph.op('Mul', [silu, linear(graph, weights, x, `${name}.up_proj`, type)], {}, { name: `${name}/gated` });
  return linear(graph, weights, gated, `${name}.down_proj`, type);
}

/**
 * Rotary embedding on the last axis of `x`: `x · cos + rotate_half(x) · sin` with
 * `rotate_half(x) = concat(−x₂, x₁)` (x₁, x₂ its halves); `cos` and `sin` broadcast to `x`.
 */
export function applyRotary(graph: GraphBuilder, x: string, cos: string, sin: string, prefix: string): string {
  const [first, second] = graph.opMulti('Split', [x], 2, { axis: -1, num_outputs: 2 }, { name: `${prefix}/split_halves` });
  const rotated = graph.op('Concat', [graph.op('Neg', [second], {}, { name: `${prefix}/neg_second` }), first], { axis: -1 }, { name: `${prefix}/rotate_half` });
  const cosTerm = graph.op('Mul', [x, cos], {}, { name: `${prefix}/mul_cos` });
  const sinTerm = graph.op('Mul', [rotated, sin], {}, { name: `${prefix}/mul_sin` });
  return graph.op('Add', [cosTerm, sinTerm], {}, { name: `${prefix}/rotary` });
}
