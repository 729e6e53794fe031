import type { VisionConfig } from '@qwen-vl/core';
import type { GraphBuilder } from '../onnx/graph-builder.js';
import type { ComputeType, GraphWeights } from '../graph/graph-weights.js';
import { scalar } from '../graph/layers.js';

/** Hugging Face hard-codes the vision tower's RMSNorm epsilon. */
export const VISION_RMS_NORM_EPS = 1e-6;

/** The vision graph being built, its config, and the tower's weights as initializers. */
export interface VisionGraphContext {
  readonly graph: GraphBuilder;
  readonly config: VisionConfig;
  readonly weights: GraphWeights;
  /** What the blocks' branches and the merger compute in; the residual stream, norms and softmax stay float32. */
  readonly type: ComputeType;
}

/** nn.GELU's exact form, `0.5 · x · (1 + erf(x / √2))`, the merger's activation, on `type` values. */
export function gelu(graph: GraphBuilder, x: string, type: ComputeType): string {
  const erf = graph.op('Erf', [graph.op('Mul', [x, scalar(graph, Math.SQRT1_2, type)])]);
  return graph.op('Mul', [graph.op('Mul', [x, scalar(graph, 0.5, type)]), graph.op('Add', [erf, scalar(graph, 1, type)])]);
}
