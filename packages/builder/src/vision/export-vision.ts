import { QwenVLError } from '@qwen-vl/core';
import type { VisionConfig } from '@qwen-vl/core';
import { attention, declareAttentionInputs } from './attention-graph.js';
import { gridAttentionInputs } from './grid-tables-graph.js';
import type { AttentionBatches, AttentionInputs } from './attention-graph.js';
import { VISION_GRID_INPUTS, VISION_INPUTS, VISION_OUTPUT, blockAttentionKind, usedAttentionKinds } from '@qwen-vl/vision';
import type { AttentionLayout } from '@qwen-vl/vision';
import type { QuantizationSettings, VisionPrecision } from '@qwen-vl/pipeline';
import { GraphBuilder } from '../onnx/graph-builder.js';
import type { OnnxModel } from '../onnx/graph-builder.js';
import { visionTensors } from '../checkpoint/layout.js';
import { GraphWeights } from '../graph/graph-weights.js';
import type { ComputeType, WeightSource } from '../graph/graph-weights.js';
import { converted, linear, rmsNorm, swiGlu } from '../graph/layers.js';
import { VISION_RMS_NORM_EPS, gelu } from './graph-layers.js';
import type { VisionGraphContext } from './graph-layers.js';

export interface VisionExportOptions {
  /** Storage type of the weights (default fp32). */
  precision?: VisionPrecision;
  /**
   * What the blocks' attention and MLP and the merger compute in (`ComputeType`): float32
   * (default), or float16 on a provider that computes it natively (`computeTypeFor`), with
   * the residual stream, the RMSNorms and the softmax in float32; `pixel_values` and
   * `image_features` stay float32. Not with fp32 weights.
   */
  activations?: ComputeType;
  /** Block size and accuracy level of an int8 or int4 export (default `DEFAULT_QUANTIZATION`). */
  quantization?: QuantizationSettings;
  /** Default `segmented`; `dense-mask` exists to measure what segmenting saves. */
  attention?: AttentionLayout;
  /**
   * What the graph takes besides `pixel_values`: `host-tables` (default), the index tables of
   * `visionFeeds`, computed on the host; `grid`, only `image_grid_thw` `[n, 3]`, the graph
   * computing the tables itself (`gridAttentionInputs`), as onnxruntime-genai's and
   * transformers.js's runtimes feed it. `grid` is segmented.
   */
  inputs?: VisionGraphInputs;
}

export type VisionGraphInputs = 'host-tables' | 'grid';

/**
 * The Qwen2.5-VL vision tower (algorithms §3) as an ONNX graph: `pixel_values` `[N, C·T·P·P]`
 * in, `image_features` `[N / merge², out_hidden_size]` out in natural token order, with the
 * per-request index tables of `visionFeeds` as further inputs, or only the images' grids
 * (`inputs: 'grid'`). Weights are initializers
 * named and laid out as in the checkpoint (Linear weights `[out, in]`, read by Gemm with
 * `transB`), read from `weights` only when the model is serialized, one tensor at a time;
 * their shapes are checked against the config first.
 */
export function buildVisionGraph(weights: WeightSource, config: VisionConfig, options: VisionExportOptions = {}): OnnxModel {
  const precision = options.precision ?? 'fp32';
  const layout = options.attention ?? 'segmented';
  if (options.inputs === 'grid' && layout !== 'segmented') {
    throw new QwenVLError('INVALID_ARGUMENT', `is "${layout}", but a graph that takes the grids computes segmented attention`, { source: 'VisionExportOptions attention' });
  }
  const type = options.activations ?? 'float32';
  if (type === 'float16' && precision === 'fp32') {
    throw new QwenVLError('INVALID_ARGUMENT', 'float16 activations need fp16, int8 or int4 weights, got fp32', { source: 'VisionExportOptions activations' });
  }
  const g = new GraphBuilder('qwen2_5_vl_vision');
  const ctx: VisionGraphContext = { graph: g, config, weights: new GraphWeights(weights, visionTensors(config), precision, options.quantization), type };
  const { hiddenSize: hidden, spatialMergeSize: m } = config;
  const patchDim = config.inChannels * config.temporalPatchSize * config.patchSize ** 2;
  const unit = m * m;

  const pixels = g.input(VISION_INPUTS.pixelValues, 'float32', ['patches', patchDim]);
  const mergedRows = g.constInt64([-1, unit * hidden]);
  let windowOrder: { windowIndex: string; reverseIndex: string } | undefined;
  let inputs: AttentionInputs;
  if (options.inputs === 'grid') {
    inputs = gridAttentionInputs(ctx, g.input(VISION_GRID_INPUTS.imageGridThw, 'int64', ['images', 3]));
  } else {
    windowOrder = { windowIndex: g.input(VISION_INPUTS.windowIndex, 'int64', ['tokens']), reverseIndex: g.input(VISION_INPUTS.reverseIndex, 'int64', ['tokens']) };
    inputs = declareAttentionInputs(ctx, usedAttentionKinds(config), layout);
  }

  // Conv3d with kernel = stride = one patch is a Linear (without bias) on each pixel row.
  const embedded = converted(g, linear(g, ctx.weights, converted(g, pixels, 'float32', type, 'pixels_typed'), 'visual.patch_embed.proj', type), type, 'float32', 'patch_embed_fp32');
  // Each block's branches compute in `type` on normed rows; the residual stream stays float32.
  const normed = (rows: string, name: string) => rmsNorm(g, ctx.weights, rows, name, VISION_RMS_NORM_EPS, type);
  const widened = (rows: string, name: string) => converted(g, rows, type, 'float32', name);
  // Window order moves whole merge blocks (`unit` consecutive rows) at once.
  let x = windowOrder === undefined ? embedded : g.op('Reshape', [g.op('Gather', [g.op('Reshape', [embedded, mergedRows]), windowOrder.windowIndex], { axis: 0 }), inputs.flat]);

  for (let block = 0; block < config.depth; block++) {
    const p = `visual.blocks.${block}`;
    // declareAttentionInputs made batches for every kind some block uses.
    const batches = inputs.batches[blockAttentionKind(config, block)] as AttentionBatches;
    x = g.op('Add', [x, widened(attention(ctx, normed(x, `${p}.norm1`), `${p}.attn`, inputs, batches), `${p}/attn_fp32`)]);
    x = g.op('Add', [x, widened(swiGlu(g, ctx.weights, normed(x, `${p}.norm2`), `${p}.mlp`, type), `${p}/mlp_fp32`)]);
  }

  const merged = g.op('Reshape', [normed(x, 'visual.merger.ln_q'), mergedRows]);
  const features = widened(linear(g, ctx.weights, gelu(g, linear(g, ctx.weights, merged, 'visual.merger.mlp.0', type), type), 'visual.merger.mlp.2', type), 'features_fp32');
  const natural = windowOrder === undefined ? features : g.op('Gather', [features, windowOrder.reverseIndex], { axis: 0 });
  g.output(natural, VISION_OUTPUT, 'float32', ['tokens', config.outHiddenSize]);
  return g.build({
    producer: '@qwen-vl/vision',
    docString: options.inputs === 'grid' ? 'Qwen2.5-VL vision encoder (pixel_values, image_grid_thw → image_features)' : 'Qwen2.5-VL vision encoder; feed it with visionFeeds() of @qwen-vl/vision.',
    metadata: { 'qwen-vl.part': 'vision', 'qwen-vl.precision': precision, 'qwen-vl.attention': options.inputs === 'grid' ? 'segmented' : layout, 'qwen-vl.inputs': options.inputs ?? 'host-tables' },
  });
}
