import type { VisionConfig } from '@qwen-vl/core';
import type { GraphBuilder } from '../onnx/graph-builder.js';
import type { GraphWeights } from '../graph/graph-weights.js';

/** Hugging Face hard-codes the vision tower's RMSNorm epsilon. */
export const VISION_RMS_NORM_EPS = 1e-6;

/** The vision graph being built, its config, and the tower's weights as initializers. */
export interface VisionGraphContext {
  readonly graph: GraphBuilder;
  readonly config: VisionConfig;
  readonly weights: GraphWeights;
}

/** nn.GELU's exact form, `0.5 · x · (1 + erf(x / √2))`, the merger's activation. */
export function gelu(graph: GraphBuilder, x: string): string {
  const erf = graph.op('Erf', [graph.op('Mul', [x, graph.constFloat(Math.SQRT1_2)])]);
  return graph.op('Mul', [graph.op('Mul', [x, graph.constFloat(0.5)]), graph.op('Add', [erf, graph.constFloat(1)])]);
}
