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
 * The same tables computed inside the graph from input `position_ids` int64 `[3, B, S]`, the
 * input onnxruntime-genai's runtime feeds (`--layout genai`): `mropeCosSin` as graph nodes.
 * Each angle is one float32 product `position · inverse frequency`, its t, h or w position
 * chosen per frequency by a one-hot `[3, 1, 1, headDim/2]` mask summed over the three rows
 * (adding zeros, so the product is kept exactly); cos and sin then come from onnxruntime's
 * kernels, within a few float32 ulps of the host's on CPU (but see `rotaryInputs` for WebGPU).
 */
export function rotaryFromPositionIds(graph: GraphBuilder, text: Pick<TextConfig, 'headDim' | 'ropeTheta' | 'mropeSection'>): RotaryTables {
  const half = text.headDim / 2;
  const positionIds = graph.input(DECODER_IO.positionIds, 'int64', [3, 'batch_size', 'sequence_length']);
  const positions = graph.op(
    'Unsqueeze',
    [graph.op('Cast', [positionIds], { to: ELEMENT_TYPES.float32.code }, { name: 'rope/positions' }), graph.constInt64([-1])],
    {},
    { name: 'rope/positions_3bs1' },
  );
  const angles3 = graph.op('Mul', [positions, graph.constFloat(Array.from(inverseFrequencies(text.headDim, text.ropeTheta)))], {}, { name: 'rope/angles_per_row' });
  const [t, h] = text.mropeSection;
  const section = Float32Array.from({ length: 3 * half }, (_, i) => {
    const j = i % half;
    const row = j < t ? 0 : j < t + h ? 1 : 2;
    return Math.floor(i / half) === row ? 1 : 0;
  });
  const chosen = graph.op('Mul', [angles3, graph.constant('float32', [3, 1, 1, half], section)], {}, { name: 'rope/section_rows' });
  const angles = graph.op('ReduceSum', [chosen, graph.constInt64([0])], { keepdims: 0 }, { name: 'rope/angles' });
  const full = graph.op('Concat', [angles, angles], { axis: -1 }, { name: 'rope/angles_both_halves' });
  const heads = graph.constInt64([2]);
  return {
    cos: graph.op('Unsqueeze', [graph.op('Cos', [full], {}, { name: 'rope/cos' }), heads], {}, { name: 'rope/cos_per_head' }),
    sin: graph.op('Unsqueeze', [graph.op('Sin', [full], {}, { name: 'rope/sin' }), heads], {}, { name: 'rope/sin_per_head' }),
  };
}
