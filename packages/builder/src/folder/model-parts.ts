import type { ModelConfig } from '@qwen-vl/core';
import type { ExecutionProvider, QuantizationSettings, VisionPrecision, WeightPrecision } from '@qwen-vl/pipeline';
import type { OnnxModel } from '../onnx/graph-builder.js';
import { BUILT_MODEL_FILES } from '@qwen-vl/pipeline';
import { buildDecoderModel } from '../text/decoder-graph.js';
import type { DecoderAttention } from '../text/attention-graph.js';
import { buildEmbedModel } from '../text/embed-graph.js';
import { buildVisionGraph } from '../vision/export-vision.js';
import type { ComputeType, PartPrecision, WeightSource } from '../graph/graph-weights.js';

/**
 * What a folder is built for: the precisions of the text parts and of the vision tower, how
 * quantized weights are made, and the execution provider the decoder's attention is shaped for.
 */
export interface BuildSettings {
  readonly text: WeightPrecision;
  readonly vision: VisionPrecision;
  readonly quantization: QuantizationSettings;
  readonly executionProvider: ExecutionProvider;
}

/** The decoder attention each execution provider's kernels run best and exactly (see `DecoderAttention`). */
export const PROVIDER_ATTENTION: Readonly<Record<ExecutionProvider, DecoderAttention>> = {
  cpu: 'group-query',
  cuda: 'group-query-fp16',
  dml: 'plain',
  webgpu: 'plain',
};

/**
 * What a part built at `precision` computes in, per provider: float16 (fp16 weights, or int4
 * and int8 ones on float16 activations: q4f16) on CUDA and DirectML, which compute it
 * natively; float32 elsewhere. On CPU, fp16 is half the file (onnxruntime folds the weights back to float32 at
 * load; its CPU float16 kernels are slower) and int4 computes on float32 activations. WebGPU
 * keeps float32 too: its float16 needs the adapter's `shader-f16`, which not every adapter
 * has, and its builds are the ones every device runs.
 */
export function computeTypeFor(precision: PartPrecision, executionProvider: ExecutionProvider): ComputeType {
  return precision !== 'fp32' && (executionProvider === 'cuda' || executionProvider === 'dml') ? 'float16' : 'float32';
}

/**
 * One exported model of a built folder. `build` only lays out the graph; its weights are
 * read from `weights` while the model is written, so parts are built and written one after
 * another without holding a whole checkpoint.
 */
export interface ModelPart {
  /** Name in the manifest and in progress reports. */
  readonly name: string;
  /** File name of the .onnx in the output folder; its weights go to `<file>.data`. */
  readonly file: string;
  build(weights: WeightSource, config: ModelConfig, settings: BuildSettings): OnnxModel;
}

export const VISION_PART: ModelPart = {
  name: 'vision',
  file: BUILT_MODEL_FILES.vision,
  build: (weights, config, { vision, quantization, executionProvider }) =>
    buildVisionGraph(weights, config.vision, { precision: vision, quantization, activations: computeTypeFor(vision, executionProvider) }),
};

/** Token ids → `inputs_embeds` (the embedding table alone). */
export const EMBED_PART: ModelPart = {
  name: 'embed',
  file: BUILT_MODEL_FILES.embed,
  build: (weights, config, settings) =>
    buildEmbedModel(weights, config.text, { precision: settings.text, quantization: settings.quantization, activations: computeTypeFor(settings.text, settings.executionProvider) }),
};

/** The language model with its KV cache: `inputs_embeds` → logits. */
export const DECODER_PART: ModelPart = {
  name: 'decoder',
  file: BUILT_MODEL_FILES.decoder,
  build: (weights, config, settings) =>
    buildDecoderModel(weights, config.text, {
      precision: settings.text,
      quantization: settings.quantization,
      attention: PROVIDER_ATTENTION[settings.executionProvider],
      activations: computeTypeFor(settings.text, settings.executionProvider),
    }),
};

/** What `qwen-vl build` exports, in order. */
export const MODEL_PARTS: readonly ModelPart[] = [VISION_PART, EMBED_PART, DECODER_PART];

/**
 * The vision tower as onnxruntime-genai's and transformers.js's runtimes feed it: only
 * `pixel_values` and `image_grid_thw`, the tables computed in the graph (segmented).
 */
export const buildGridVision: ModelPart['build'] = (weights, config, { vision, quantization, executionProvider }) =>
  buildVisionGraph(weights, config.vision, { precision: vision, quantization, inputs: 'grid', activations: computeTypeFor(vision, executionProvider) });

/**
 * The language model as those runtimes feed it: `position_ids` `[3, B, S]` instead of the
 * rotary tables, with or without `num_logits_to_keep`.
 */
export function positionIdsDecoder(logitsToKeepInput: boolean): ModelPart['build'] {
  return (weights, config, settings) =>
    buildDecoderModel(weights, config.text, {
      precision: settings.text,
      quantization: settings.quantization,
      positionInput: 'position-ids',
      logitsToKeepInput,
      attention: PROVIDER_ATTENTION[settings.executionProvider],
      activations: computeTypeFor(settings.text, settings.executionProvider),
    });
}
