import type { GraphBuilder } from '../onnx/graph-builder.js';
import { DECODER_IO } from '@qwen-vl/decoder';

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
