import type { TextConfig } from '@qwen-vl/core';
import { DECODER_IO } from '@qwen-vl/decoder';
import { inverseFrequencies } from '@qwen-vl/mrope';
import type { GraphBuilder } from '../onnx/graph-builder.js';
import { ELEMENT_TYPES } from '../onnx/proto.js';

export interface RotaryTables {
  /** `[B, S, 1, headDim]`, broadcast over the heads. */
  readonly cos: string;
  readonly sin: string;
}

/**
 * The text layers' multimodal RoPE tables, as graph inputs `rotary_cos` / `rotary_sin`
 * float32 `[B, S, headDim]` that the runtime computes with `@qwen-vl/mrope`'s `mropeCosSin`.
 * They are not computed in the graph because Sin and Cos are not exact everywhere: WGSL
 * only promises 2^-11 absolute error, and WebGPU on SwiftShader is 1.9e-4 off, which moves
 * the golden logits by 1.7e-2, far past the 1e-3 tolerance. On the host they are exact on
 * every backend, and cost `S · headDim` values per run.
 */
export function rotaryInputs(graph: GraphBuilder, headDim: number): RotaryTables {
  const heads = graph.constInt64([2]);
  const table = (name: string) => graph.op('Unsqueeze', [graph.input(name, 'float32', ['batch_size', 'sequence_length', headDim]), heads], {}, { name: `rope/${name}_per_head` });
  return { cos: table(DECODER_IO.rotaryCos), sin: table(DECODER_IO.rotarySin) };
}

/**
 * The same tables computed in the graph from a `position_ids` int64 `[3, B, S]` input, as
 * onnxruntime-genai's and transformers.js's runtimes feed it (`mropeCosSin`'s math: each
 * frequency takes its angle from the t, h or w row of its mrope section, in float32). Sin and
 * Cos then run on the device, with the precision that costs on WebGPU (see `rotaryInputs`).
 */
export function rotaryFromPositionIds(graph: GraphBuilder, text: TextConfig): RotaryTables {
  const frequencies = inverseFrequencies(text.headDim, text.ropeTheta);
  const [t, h] = text.mropeSection;
  const rowOf = Array.from(frequencies, (_, j) => (j < t ? 0 : j < t + h ? 1 : 2));
  const positions = graph.input(DECODER_IO.positionIds, 'int64', [3, 'batch_size', 'sequence_length']);
  // [3, B, S] → [half, B, S] (each frequency's row) → [B, S, half]
  const picked = graph.op('Transpose', [graph.op('Gather', [positions, graph.constInt64(rowOf)], { axis: 0 }, { name: 'rope/section_rows' })], { perm: [1, 2, 0] }, { name: 'rope/positions_bsf' });
  const asFloat = graph.op('Cast', [picked], { to: ELEMENT_TYPES.float32.code }, { name: 'rope/positions_float' });
  const angles = graph.op('Mul', [asFloat, graph.constFloat([...frequencies])], {}, { name: 'rope/angles' });
  const full = graph.op('Unsqueeze', [graph.op('Concat', [angles, angles], { axis: -1 }, { name: 'rope/both_halves' }), graph.constInt64([2])], {}, { name: 'rope/angles_per_head' });
  return { cos: graph.op('Cos', [full], {}, { name: 'rope/cos' }), sin: graph.op('Sin', [full], {}, { name: 'rope/sin' }) };
}
