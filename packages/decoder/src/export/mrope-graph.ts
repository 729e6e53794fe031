import type { GraphBuilder, TextConfig } from '@qwen-vl/core';
import { ONNX_FLOAT } from './onnx-types.js';

export interface RotaryTables {
  /** `[B, S, 1, headDim]`, broadcast over the heads. */
  readonly cos: string;
  readonly sin: string;
}

/**
 * The text layers' multimodal RoPE tables, computed in the graph from `position_ids`
 * `[3, B, S]` so the model takes the same inputs as other Qwen2.5-VL exports. Frequency j
 * uses the t row when j < s0, the h row when j < s0 + s1 and the w row otherwise. That
 * choice is a `[3, headDim/2]` matrix holding `inv_freq[j]` in row(j) and 0 elsewhere, so
 * one MatMul of the positions with it gives every angle exactly (one non-zero product per
 * sum), as Hugging Face's float32 `position · inv_freq`.
 */
export function mropeTables(graph: GraphBuilder, positionIds: string, text: TextConfig): RotaryTables {
  const half = text.headDim / 2;
  const [s0, s1] = text.mropeSection;
  const rowMask = new Float32Array(3 * half);
  for (let j = 0; j < half; j++) rowMask[(j < s0 ? 0 : j < s0 + s1 ? 1 : 2) * half + j] = 1;
  const sectionFrequencies = graph.op('Mul', [graph.constant('float32', [3, half], rowMask), inverseFrequencies(graph, text)], {}, { name: 'rope/section_frequencies' });

  const positions = graph.op('Transpose', [graph.op('Cast', [positionIds], { to: ONNX_FLOAT }, { name: 'rope/positions' })], { perm: [1, 2, 0] }, { name: 'rope/positions_bs3' });
  const angles = graph.op('MatMul', [positions, sectionFrequencies], {}, { name: 'rope/angles' });
  // Both halves of a head rotate by the same angles (`rotate_half` pairs dim i with i + D/2).
  const fullAngles = graph.op('Concat', [angles, angles], { axis: -1 }, { name: 'rope/full_angles' });
  const heads = graph.constInt64([2]);
  return {
    cos: graph.op('Unsqueeze', [graph.op('Cos', [fullAngles], {}, { name: 'rope/cos_bsd' }), heads], {}, { name: 'rope/cos' }),
    sin: graph.op('Unsqueeze', [graph.op('Sin', [fullAngles], {}, { name: 'rope/sin_bsd' }), heads], {}, { name: 'rope/sin' }),
  };
}

/**
 * `1 / theta^(2j / headDim)` as Hugging Face computes it: a float32 power, then a float32
 * reciprocal. The graph does the power so the value is the float32 one; onnxruntime folds
 * it to a constant when the session loads.
 */
function inverseFrequencies(graph: GraphBuilder, text: TextConfig): string {
  const exponents = Array.from({ length: text.headDim / 2 }, (_, j) => (2 * j) / text.headDim);
  const powers = graph.op('Pow', [graph.constFloat(text.ropeTheta), graph.constFloat(exponents)], {}, { name: 'rope/theta_powers' });
  return graph.op('Reciprocal', [powers], {}, { name: 'rope/inv_freq' });
}

/** `x·cos + rotate_half(x)·sin` for `x` of shape `[B, S, heads, headDim]`. */
export function applyRotary(graph: GraphBuilder, x: string, tables: RotaryTables, prefix: string): string {
  const [first, second] = graph.opMulti('Split', [x], 2, { axis: -1, num_outputs: 2 }, { name: `${prefix}/split_halves` });
  const rotated = graph.op('Concat', [graph.op('Neg', [second], {}, { name: `${prefix}/neg_second` }), first], { axis: -1 }, { name: `${prefix}/rotate_half` });
  const cosTerm = graph.op('Mul', [x, tables.cos], {}, { name: `${prefix}/mul_cos` });
  const sinTerm = graph.op('Mul', [rotated, tables.sin], {}, { name: `${prefix}/mul_sin` });
  return graph.op('Add', [cosTerm, sinTerm], {}, { name: `${prefix}/rotary` });
}
