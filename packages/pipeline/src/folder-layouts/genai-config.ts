import { FieldReader, QwenVLError, asObject } from '@qwen-vl/core';
import type { GenerationConfig, ModelConfig } from '@qwen-vl/core';
import { DECODER_IO, EMBED_IO, pastKeyName, pastValueName, presentKeyName, presentValueName } from '@qwen-vl/decoder';
import { VISION_GRID_INPUTS, VISION_OUTPUT } from '@qwen-vl/vision';

/**
 * onnxruntime-genai's model folder for Qwen2.5-VL, as its model builder and Olive's recipe
 * write it: `genai_config.json` (`model`: type, token ids, and per model its file and graph
 * input/output names; `search`: the generation defaults), `processor_config.json`, the
 * tokenizer files and the .onnx files the config names. Field names and defaults are
 * onnxruntime-genai's (`src/config.h`, `src/config.cpp`); its parser refuses unknown keys,
 * so the writer below uses only keys that parser knows.
 */
export const GENAI_CONFIG_FILE = 'genai_config.json';

/** `model.type` of a Qwen2.5-VL folder. */
export const GENAI_MODEL_TYPE = 'qwen2_5_vl';

/** The .onnx files `qwen-vl build --layout genai` writes, named as onnxruntime-genai's Qwen2.5-VL folders name them. */
export const GENAI_MODEL_FILES = { vision: 'vision.onnx', embedding: 'embedding.onnx', decoder: 'text.onnx' } as const;

/** `model.vision.config_filename`'s default, and the processor file the build writes. */
export const GENAI_PROCESSOR_FILE = 'processor_config.json';

/** A graph input or output: its name in the graph and the genai_config.json field that gave it. */
export interface GraphName {
  readonly graph: string;
  readonly field: string;
}

/** One model of the folder: its file and, by qwen-vl's names, the graph names of what qwen-vl feeds and reads. */
export interface GenaiGraph {
  readonly file: string;
  readonly fileField: string;
  readonly inputs: Readonly<Record<string, GraphName>>;
  readonly outputs: Readonly<Record<string, GraphName>>;
}

/** What qwen-vl reads of a genai folder's genai_config.json. */
export interface GenaiFolderConfig {
  /** The model as qwen-vl describes it (`genaiModelConfig`). */
  readonly model: ModelConfig;
  /** The `search` section as generation defaults. */
  readonly generation: GenerationConfig;
  /** `model.pad_token_id`: what qwen-vl feeds genai's embedding at image and video pads, whose rows it then replaces. */
  readonly padTokenId: number;
  readonly decoder: GenaiGraph;
  readonly embedding: GenaiGraph;
  /** Undefined for a folder without a `model.vision` section (text only). */
  readonly vision: GenaiGraph | undefined;
  /** `model.vision.config_filename`. */
  readonly processorFile: string;
}

/**
 * Qwen2.5-VL's architecture where genai_config.json says nothing, because the graphs hold it:
 * the MLP widths, RMSNorm epsilon, RoPE base and sections, tied embeddings, the vision
 * tower's size and windows (and `<|vision_end|>`'s id, which genai does not use). qwen-vl reads none of these to run a genai folder; they are the published
 * models' values (the text MLP width the 3B's) so that `ModelConfig` is complete. A folder
 * with the checkpoint's config.json beside genai_config.json gets its exact values instead.
 */
const NOT_IN_GENAI_CONFIG = {
  textIntermediateSize: 11008,
  rmsNormEps: 1e-6,
  ropeTheta: 1e6,
  tieWordEmbeddings: false,
  visionEndTokenId: 151653,
  vision: { depth: 32, hiddenSize: 1280, intermediateSize: 3420, numHeads: 16, windowSize: 112, fullAttBlockIndexes: [7, 15, 23, 31] },
} as const;

/** The mrope_section of the published models, [16, 24, 24] of 64, as the same proportions of `headDim / 2`. */
function mropeSection(headDim: number): [number, number, number] {
  const quarter = headDim / 8;
  return [quarter, (headDim / 2 - quarter) / 2, (headDim / 2 - quarter) / 2];
}

/** The pattern's name for one layer: genai writes `past_key_values.%d.key`. */
function layerName(pattern: GraphName, layer: number, source: string): GraphName {
  if (!pattern.graph.includes('%d'))
    throw new QwenVLError('INVALID_CONFIG', `must hold %d for the layer number, got ${JSON.stringify(pattern.graph)}`, { source: `${source} field "${pattern.field}"` });
  return { graph: pattern.graph.replace('%d', String(layer)), field: pattern.field };
}

/** Rejects a key genai knows but qwen-vl cannot honour. */
function refuse(reader: FieldReader, key: string, why: string, source: string, field: string): void {
  if (reader.has(key)) throw new QwenVLError('INVALID_CONFIG', `is set, but ${why}`, { source: `${source} field "${field}.${key}"` });
}

/**
 * genai_config.json (parsed JSON; `file` names it in errors). INVALID_CONFIG names the field at fault: a model type other than qwen2_5_vl, a missing
 * or malformed field, or a feature qwen-vl does not run (pipelines of several decoder or
 * vision models, combined key/value cache names, beam search).
 */
export function parseGenaiConfig(json: unknown, file: string): GenaiFolderConfig {
  const root = new FieldReader(file, asObject(file, json));
  const model = root.child('model');
  const type = model.string('type');
  if (type !== GENAI_MODEL_TYPE) throw new QwenVLError('INVALID_CONFIG', `is "${type}"; qwen-vl runs Qwen2.5-VL folders ("${GENAI_MODEL_TYPE}")`, { source: `${file} field "model.type"` });
  const name = (reader: FieldReader, section: string, key: string, fallback: string): GraphName => ({ graph: reader.string(key, fallback), field: `${section}.${key}` });

  const decoder = model.child('decoder');
  refuse(decoder, 'pipeline', 'qwen-vl runs one decoder model, not a pipeline of several', file, 'model.decoder');
  const decoderInputs = decoder.child('inputs');
  refuse(decoderInputs, 'past_names', 'qwen-vl keeps keys and values in separate cache tensors (past_key_names, past_value_names)', file, 'model.decoder.inputs');
  const decoderOutputs = decoder.child('outputs');
  const inputs = 'model.decoder.inputs';
  const outputs = 'model.decoder.outputs';
  const layers = decoder.positiveInt('num_hidden_layers');
  const pastKey = name(decoderInputs, inputs, 'past_key_names', 'past_key_values.%d.key');
  const pastValue = name(decoderInputs, inputs, 'past_value_names', 'past_key_values.%d.value');
  const presentKey = name(decoderOutputs, outputs, 'present_key_names', 'present.%d.key');
  const presentValue = name(decoderOutputs, outputs, 'present_value_names', 'present.%d.value');
  const perLayer = (pattern: GraphName, ours: (layer: number) => string) => Object.fromEntries(Array.from({ length: layers }, (_, i) => [ours(i), layerName(pattern, i, file)]));
  const decoderGraph: GenaiGraph = {
    file: decoder.string('filename'),
    fileField: 'model.decoder.filename',
    inputs: {
      [DECODER_IO.inputsEmbeds]: name(decoderInputs, inputs, 'inputs_embeds', DECODER_IO.inputsEmbeds),
      [DECODER_IO.attentionMask]: name(decoderInputs, inputs, 'attention_mask', DECODER_IO.attentionMask),
      [DECODER_IO.positionIds]: name(decoderInputs, inputs, 'position_ids', DECODER_IO.positionIds),
      ...perLayer(pastKey, pastKeyName),
      ...perLayer(pastValue, pastValueName),
    },
    outputs: {
      [DECODER_IO.logits]: name(decoderOutputs, outputs, 'logits', DECODER_IO.logits),
      ...perLayer(presentKey, presentKeyName),
      ...perLayer(presentValue, presentValueName),
    },
  };

  const embedding = model.child('embedding');
  const embeddingGraph: GenaiGraph = {
    file: embedding.string('filename'),
    fileField: 'model.embedding.filename',
    inputs: {
      [EMBED_IO.inputIds]: name(embedding.child('inputs'), 'model.embedding.inputs', 'input_ids', EMBED_IO.inputIds),
      [EMBED_IO.imageFeatures]: name(embedding.child('inputs'), 'model.embedding.inputs', 'image_features', EMBED_IO.imageFeatures),
    },
    outputs: { [EMBED_IO.inputsEmbeds]: name(embedding.child('outputs'), 'model.embedding.outputs', 'inputs_embeds', EMBED_IO.inputsEmbeds) },
  };

  const hasVision = model.has('vision');
  const vision = model.child('vision');
  refuse(vision, 'pipeline', 'qwen-vl runs one vision model, not a pipeline of several', file, 'model.vision');
  const visionInputs = vision.child('inputs');
  const visionGraph: GenaiGraph | undefined = hasVision
    ? {
        file: vision.string('filename'),
        fileField: 'model.vision.filename',
        inputs: {
          [VISION_GRID_INPUTS.pixelValues]: name(visionInputs, 'model.vision.inputs', 'pixel_values', VISION_GRID_INPUTS.pixelValues),
          // genai's default for a missing name is image_sizes, the name other models use.
          [VISION_GRID_INPUTS.imageGridThw]: name(visionInputs, 'model.vision.inputs', 'image_grid_thw', 'image_sizes'),
        },
        outputs: { [VISION_OUTPUT]: name(vision.child('outputs'), 'model.vision.outputs', 'image_features', VISION_OUTPUT) },
      }
    : undefined;

  const hiddenSize = decoder.positiveInt('hidden_size');
  const numAttentionHeads = decoder.positiveInt('num_attention_heads');
  const numKeyValueHeads = decoder.positiveInt('num_key_value_heads', numAttentionHeads);
  const headDim = decoder.positiveInt('head_size', hiddenSize / numAttentionHeads);
  const eosTokenId = model.intList('eos_token_id');
  const contextLength = model.positiveInt('context_length');
  const config: ModelConfig = {
    text: {
      hiddenSize,
      intermediateSize: NOT_IN_GENAI_CONFIG.textIntermediateSize,
      numHiddenLayers: layers,
      numAttentionHeads,
      numKeyValueHeads,
      headDim,
      rmsNormEps: NOT_IN_GENAI_CONFIG.rmsNormEps,
      ropeTheta: NOT_IN_GENAI_CONFIG.ropeTheta,
      mropeSection: mropeSection(headDim),
      vocabSize: model.positiveInt('vocab_size'),
      maxPositionEmbeddings: contextLength,
      tieWordEmbeddings: NOT_IN_GENAI_CONFIG.tieWordEmbeddings,
    },
    vision: {
      ...NOT_IN_GENAI_CONFIG.vision,
      fullAttBlockIndexes: [...NOT_IN_GENAI_CONFIG.vision.fullAttBlockIndexes],
      outHiddenSize: hiddenSize,
      // genai's defaults; it fixes the temporal patch at 2.
      patchSize: vision.positiveInt('patch_size', 14),
      spatialMergeSize: vision.positiveInt('spatial_merge_size', 2),
      temporalPatchSize: 2,
      tokensPerSecond: vision.positiveNumber('tokens_per_second', 2),
      inChannels: 3,
    },
    // genai's own fallbacks for these ids are Qwen's.
    imageTokenId: model.positiveInt('image_token_id', 151655),
    videoTokenId: model.positiveInt('video_token_id', 151656),
    visionStartTokenId: model.positiveInt('vision_start_token_id', 151652),
    visionEndTokenId: NOT_IN_GENAI_CONFIG.visionEndTokenId,
    bosTokenId: model.optionalInt('bos_token_id'),
    eosTokenId,
  };

  const search = root.child('search');
  if (search.number('num_beams', 1) !== 1) throw new QwenVLError('INVALID_CONFIG', 'asks for beam search, which qwen-vl does not do; set it to 1', { source: `${file} field "search.num_beams"` });
  // genai: a max_length of 0 (or none) means the context length; a top_p of 0 (its default) means no top-p.
  const maxLength = search.number('max_length', 0);
  const topP = search.number('top_p', 0);
  const padTokenId = model.optionalInt('pad_token_id') ?? eosTokenId[0];
  const generation: GenerationConfig = {
    doSample: search.bool('do_sample', false),
    temperature: search.number('temperature', 1),
    topK: search.number('top_k', 50),
    topP: topP <= 0 ? 1 : topP,
    repetitionPenalty: search.number('repetition_penalty', 1),
    eosTokenId,
    padTokenId,
    bosTokenId: config.bosTokenId,
    maxLength: maxLength <= 0 ? contextLength : maxLength,
    maxNewTokens: undefined,
    minLength: search.number('min_length', 0),
  };
  return { model: config, generation, padTokenId, decoder: decoderGraph, embedding: embeddingGraph, vision: visionGraph, processorFile: vision.string('config_filename', GENAI_PROCESSOR_FILE) };
}

/**
 * genai_config.json for a folder `qwen-vl build --layout genai` writes: the models under
 * GENAI_MODEL_FILES with qwen-vl's graph names (which are genai's defaults), the token ids,
 * the text model's sizes, and generation_config.json's defaults as `search`. The KV cache is
 * not a shared buffer (`past_present_share_buffer: false`): the text graph concatenates its
 * cache rather than writing into a preallocated one.
 */
export function genaiConfigJson(model: ModelConfig, generation: GenerationConfig, padTokenId: number): object {
  const { text, vision } = model;
  const sessionOptions = { log_id: 'onnxruntime-genai', provider_options: [] };
  return {
    model: {
      type: GENAI_MODEL_TYPE,
      bos_token_id: generation.bosTokenId ?? model.bosTokenId,
      eos_token_id: generation.eosTokenId.length > 0 ? generation.eosTokenId : model.eosTokenId,
      pad_token_id: padTokenId,
      image_token_id: model.imageTokenId,
      video_token_id: model.videoTokenId,
      vision_start_token_id: model.visionStartTokenId,
      vocab_size: text.vocabSize,
      context_length: text.maxPositionEmbeddings,
      decoder: {
        filename: GENAI_MODEL_FILES.decoder,
        session_options: sessionOptions,
        hidden_size: text.hiddenSize,
        num_attention_heads: text.numAttentionHeads,
        num_key_value_heads: text.numKeyValueHeads,
        num_hidden_layers: text.numHiddenLayers,
        head_size: text.headDim,
        inputs: {
          inputs_embeds: DECODER_IO.inputsEmbeds,
          attention_mask: DECODER_IO.attentionMask,
          position_ids: DECODER_IO.positionIds,
          past_key_names: pastKeyName('%d'),
          past_value_names: pastValueName('%d'),
        },
        outputs: {
          logits: DECODER_IO.logits,
          present_key_names: presentKeyName('%d'),
          present_value_names: presentValueName('%d'),
        },
      },
      embedding: {
        filename: GENAI_MODEL_FILES.embedding,
        session_options: sessionOptions,
        inputs: { input_ids: EMBED_IO.inputIds, image_features: EMBED_IO.imageFeatures },
        outputs: { inputs_embeds: EMBED_IO.inputsEmbeds },
      },
      vision: {
        filename: GENAI_MODEL_FILES.vision,
        config_filename: GENAI_PROCESSOR_FILE,
        session_options: sessionOptions,
        spatial_merge_size: vision.spatialMergeSize,
        tokens_per_second: vision.tokensPerSecond,
        patch_size: vision.patchSize,
        inputs: { pixel_values: VISION_GRID_INPUTS.pixelValues, image_grid_thw: VISION_GRID_INPUTS.imageGridThw },
        outputs: { image_features: VISION_OUTPUT },
      },
    },
    search: {
      do_sample: generation.doSample,
      temperature: generation.temperature,
      top_k: generation.topK,
      top_p: generation.topP,
      repetition_penalty: generation.repetitionPenalty,
      min_length: generation.minLength,
      max_length: generation.maxLength ?? text.maxPositionEmbeddings,
      num_beams: 1,
      num_return_sequences: 1,
      past_present_share_buffer: false,
    },
  };
}
