import { copyFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MODEL_FILES, readJson } from '@qwen-vl/core';
import { GENAI_CONFIG_FILE, GENAI_MODEL_FILES, GENAI_PROCESSOR_FILE, genaiConfigJson, genaiProcessorConfigJson } from '@qwen-vl/pipeline';
import { ChatTemplate } from '@qwen-vl/preprocess';
import { buildDecoderModel } from '../text/decoder-graph.js';
import { buildEmbedModel } from '../text/embed-graph.js';
import { buildVisionGraph } from '../vision/export-vision.js';
import type { BuildInput, FolderFiles } from './build-layouts.js';
import type { ModelPart } from './model-parts.js';

/**
 * `qwen-vl build --layout genai`: the same weights as qwen-vl's folder, in the models
 * onnxruntime-genai runs for Qwen2.5-VL. The vision model takes `pixel_values` and
 * `image_grid_thw` and works out its rotary tables and attention masks itself; the embedding
 * model takes `image_features` and places them at the image pads; the text model takes
 * `position_ids` `[3, B, S]` and returns logits for every new position.
 */
export const GENAI_PARTS: readonly ModelPart[] = [
  {
    name: 'vision',
    file: GENAI_MODEL_FILES.vision,
    build: (weights, config, { vision, quantization }) => buildVisionGraph(weights, config.vision, { precision: vision, quantization, inputs: 'grid' }),
  },
  {
    name: 'embedding',
    file: GENAI_MODEL_FILES.embedding,
    build: (weights, config, { text, quantization }) => buildEmbedModel(weights, config.text, { precision: text, quantization, imageFeaturesAt: config.imageTokenId }),
  },
  {
    name: 'text',
    file: GENAI_MODEL_FILES.decoder,
    build: (weights, config, { text, quantization }) => buildDecoderModel(weights, config.text, { precision: text, quantization, positionInput: 'position-ids', logitsToKeepInput: false }),
  },
];

/** The tokenizer's map of special tokens, which onnxruntime-genai's builder saves with the tokenizer. */
const SPECIAL_TOKENS_MAP = 'special_tokens_map.json';

/**
 * genai_config.json and processor_config.json written from the checkpoint's configs, and the
 * tokenizer files as onnxruntime-genai reads them: tokenizer.json, special_tokens_map.json,
 * and tokenizer_config.json with the chat template in its `chat_template` field (genai's
 * tokenizer looks for it there, not in chat_template.json or .jinja).
 */
export const GENAI_FOLDER_FILES: FolderFiles = {
  async write(folder: string, input: BuildInput) {
    const { model, generation, preprocessor } = input.configs;
    const padTokenId = generation.padTokenId ?? generation.eosTokenId[0] ?? model.eosTokenId[0];
    await writeJson(join(folder, GENAI_CONFIG_FILE), genaiConfigJson(model, generation, padTokenId));
    await writeJson(join(folder, GENAI_PROCESSOR_FILE), genaiProcessorConfigJson(preprocessor));
    for (const name of [MODEL_FILES.tokenizer, SPECIAL_TOKENS_MAP]) {
      if (await input.folder.exists(name)) await copyFile(join(input.path, name), join(folder, name));
    }
    if (await input.folder.exists(MODEL_FILES.tokenizerConfig)) {
      const tokenizerConfig = (await readJson(input.folder, MODEL_FILES.tokenizerConfig)) as Record<string, unknown>;
      const chatTemplate = (await ChatTemplate.fromFolder(input.folder)).text;
      await writeJson(join(folder, MODEL_FILES.tokenizerConfig), { ...tokenizerConfig, chat_template: chatTemplate });
    }
  },
};

function writeJson(path: string, value: unknown): Promise<void> {
  return writeFile(path, `${JSON.stringify(value, null, 2)}\n`);
}
