import type { VisionConfig } from '@qwen-vl/core';
import { attention, declareAttentionInputs } from './attention-graph.js';
import type { AttentionBatches } from './attention-graph.js';
import { VISION_GRID_INPUTS, VISION_INPUTS, VISION_OUTPUT, blockAttentionKind, usedAttentionKinds } from '@qwen-vl/vision';
import type { AttentionLayout } from '@qwen-vl/vision';
import type { QuantizationSettings, VisionPrecision } from '@qwen-vl/pipeline';
import { GraphBuilder } from '../onnx/graph-builder.js';
import type { OnnxModel } from '../onnx/graph-builder.js';
import { visionTensors } from '../checkpoint/layout.js';
import { GraphWeights } from '../graph/graph-weights.js';
import type { WeightSource } from '../graph/graph-weights.js';
import { linear, rmsNorm, swiGlu } from '../graph/layers.js';
import { VISION_RMS_NORM_EPS, gelu } from './graph-layers.js';
import { gridAttentionInputs } from './grid-attention-graph.js';
import type { VisionGraphContext } from './graph-layers.js';

export interface VisionExportOptions {
  /** Storage type of the weights (default fp32); activations are float32 either way. */
  precision?: VisionPrecision;
  /** Block size and accuracy level of an int8 or int4 export (default `DEFAULT_QUANTIZATION`). */
  quantization?: QuantizationSettings;
  /** Default `segmented`; `dense-mask` exists to measure what segmenting saves. */
  attention?: AttentionLayout;
  /**
   * What the graph takes besides `pixel_values`: `host-tables` (default), the tables of
   * `visionFeeds`; `grid`, only `image_grid_thw`, from which the graph works out its rotary
   * tables and `[N, N]` attention masks (`gridAttentionInputs`): onnxruntime-genai's form.
   */
  inputs?: 'host-tables' | 'grid';
}

/**
 * The Qwen2.5-VL vision tower (algorithms §3) as an ONNX graph: `pixel_values` `[N, C·T·P·P]`
 * in, `image_features` `[N / merge², out_hidden_size]` out in natural token order, with the
 * per-request index tables of `visionFeeds` as further inputs. Weights are initializers
 * named and laid out as in the checkpoint (Linear weights `[out, in]`, read by Gemm with
 * `transB`), read from `weights` only when the model is serialized, one tensor at a time;
 * their shapes are checked against the config first.
 */
export function buildVisionGraph(weights: WeightSource, config: VisionConfig, options: VisionExportOptions = {}): OnnxModel {
  const precision = options.precision ?? 'fp32';
  const layout = options.attention ?? 'segmented';
  const g = new GraphBuilder('qwen2_5_vl_vision');
  const ctx: VisionGraphContext = { graph: g, config, weights: new GraphWeights(weights, visionTensors(config), precision, options.quantization) };
  const { hiddenSize: hidden, spatialMergeSize: m } = config;
  const patchDim = config.inChannels * config.temporalPatchSize * config.patchSize ** 2;
  const unit = m * m;

  const pixels = g.input(VISION_INPUTS.pixelValues, 'float32', ['patches', patchDim]);
  const takesGrids = options.inputs === 'grid';
  // The grid form keeps rows in pixel order: no window permutation in or out.
  const windowIndex = takesGrids ? undefined : g.input(VISION_INPUTS.windowIndex, 'int64', ['tokens']);
  const reverseIndex = takesGrids ? undefined : g.input(VISION_INPUTS.reverseIndex, 'int64', ['tokens']);
  const kinds = usedAttentionKinds(config);
  const inputs = takesGrids ? gridAttentionInputs(ctx, pixels, g.input(VISION_GRID_INPUTS.imageGridThw, 'int64', ['images', 3]), kinds) : declareAttentionInputs(ctx, kinds, layout);
  const mergedRows = g.constInt64([-1, unit * hidden]);

  // Conv3d with kernel = stride = one patch is a Linear (without bias) on each pixel row.
  const embedded = linear(g, ctx.weights, pixels, 'visual.patch_embed.proj');
  // Window order moves whole merge blocks (`unit` consecutive rows) at once.
  let x = windowIndex === undefined ? embedded : g.op('Reshape', [g.op('Gather', [g.op('Reshape', [embedded, mergedRows]), windowIndex], { axis: 0 }), inputs.flat]);

  for (let block = 0; block < config.depth; block++) {
    const p = `visual.blocks.${block}`;
    // declareAttentionInputs made batches for every kind some block uses.
    const batches = inputs.batches[blockAttentionKind(config, block)] as AttentionBatches;
    x = g.op('Add', [x, attention(ctx, rmsNorm(g, ctx.weights, x, `${p}.norm1`, VISION_RMS_NORM_EPS), `${p}.attn`, inputs, batches)]);
    x = g.op('Add', [x, swiGlu(g, ctx.weights, rmsNorm(g, ctx.weights, x, `${p}.norm2`, VISION_RMS_NORM_EPS), `${p}.mlp`)]);
  }

  const merged = g.op('Reshape', [rmsNorm(g, ctx.weights, x, 'visual.merger.ln_q', VISION_RMS_NORM_EPS), mergedRows]);
  const features = linear(g, ctx.weights, gelu(g, linear(g, ctx.weights, merged, 'visual.merger.mlp.0')), 'visual.merger.mlp.2');
  g.output(reverseIndex === undefined ? features : g.op('Gather', [features, reverseIndex], { axis: 0 }), VISION_OUTPUT, 'float32', ['tokens', config.outHiddenSize]);
  return g.build({
    producer: '@qwen-vl/vision',
    docString: takesGrids ? 'Qwen2.5-VL vision encoder; feed it pixel_values and image_grid_thw.' : 'Qwen2.5-VL vision encoder; feed it with visionFeeds() of @qwen-vl/vision.',
    metadata: { 'qwen-vl.part': 'vision', 'qwen-vl.precision': precision, 'qwen-vl.attention': takesGrids ? 'grid-dense-mask' : layout },
  });
}
