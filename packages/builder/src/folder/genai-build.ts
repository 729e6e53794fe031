import { join } from 'node:path';
import { MODEL_FILES } from '@qwen-vl/core';
import { GENAI_CONFIG_FILE, GENAI_MODEL_FILES, GENAI_PROCESSOR_FILE, genaiConfigJson, genaiProcessorConfigJson } from '@qwen-vl/pipeline';
import { buildEmbedModel } from '../text/embed-graph.js';
import type { BuildLayout } from './build-layouts.js';
import { copyPresentFiles, tokenizerConfigWithChatTemplate, writeJson } from './folder-files.js';
import { buildGridVision, computeTypeFor, positionIdsDecoder } from './model-parts.js';
import type { ModelPart } from './model-parts.js';

/**
 * `qwen-vl build --layout genai`: the same weights as qwen-vl's folder, in the models
 * onnxruntime-genai runs for Qwen2.5-VL. The vision model takes `pixel_values` and
 * `image_grid_thw` and works out its rotary tables and attention segments itself; the
 * embedding model takes `image_features` and places them at the image pads; the text model
 * takes `position_ids` `[3, B, S]` and returns logits for every new position.
 */
export const GENAI_PARTS: readonly ModelPart[] = [
  { name: 'vision', file: GENAI_MODEL_FILES.vision, build: buildGridVision },
  {
    name: 'embedding',
    file: GENAI_MODEL_FILES.embedding,
    build: (weights, config, settings) =>
      buildEmbedModel(weights, config.text, {
        precision: settings.text,
        quantization: settings.quantization,
        activations: computeTypeFor(settings.text, settings.executionProvider),
        imageFeaturesAt: config.imageTokenId,
      }),
  },
  // onnxruntime-genai feeds no num_logits_to_keep.
  { name: 'text', file: GENAI_MODEL_FILES.decoder, build: positionIdsDecoder(false) },
];

/** The tokenizer's map of special tokens, which onnxruntime-genai's builder saves with the tokenizer. */
const SPECIAL_TOKENS_MAP = 'special_tokens_map.json';

/**
 * onnxruntime-genai's folder: `GENAI_PARTS`, genai_config.json and processor_config.json
 * written from the checkpoint's configs, and the tokenizer files as onnxruntime-genai reads
 * them: tokenizer.json, special_tokens_map.json, and tokenizer_config.json with the chat
 * template in its `chat_template` field (genai's tokenizer looks for it there, not in
 * chat_template.json or .jinja). The qwen-vl.json manifest records the layout.
 */
export const GENAI_BUILD: BuildLayout = {
  name: 'genai',
  parts: GENAI_PARTS,
  files: {
    async write(folder, input) {
      const { model, generation, preprocessor } = input.configs;
      const padTokenId = generation.padTokenId ?? generation.eosTokenId[0] ?? model.eosTokenId[0];
      await writeJson(join(folder, GENAI_CONFIG_FILE), genaiConfigJson(model, generation, padTokenId));
      await writeJson(join(folder, GENAI_PROCESSOR_FILE), genaiProcessorConfigJson(preprocessor));
      await writeJson(join(folder, MODEL_FILES.tokenizerConfig), await tokenizerConfigWithChatTemplate(input.folder));
      await copyPresentFiles(folder, input, [MODEL_FILES.tokenizer, SPECIAL_TOKENS_MAP]);
    },
  },
};
