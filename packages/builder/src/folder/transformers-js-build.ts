import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { MODEL_FILES, QwenVLError, readJson } from '@qwen-vl/core';
import type { ModelFolder } from '@qwen-vl/core';
import { TRANSFORMERS_JS_CONFIG_KEY, TRANSFORMERS_JS_PARTS, transformersJsDataFiles, transformersJsModelFile } from '@qwen-vl/pipeline';
import type { TransformersJsDtype, TransformersJsPart, VisionPrecision } from '@qwen-vl/pipeline';
import type { BuildLayout } from './build-layouts.js';
import { copyPresentFiles, tokenizerConfigWithChatTemplate, writeJson } from './folder-files.js';
import type { BuildInput } from './folder-files.js';
import { EMBED_PART, MODEL_PARTS, buildGridVision, computeTypeFor, positionIdsDecoder } from './model-parts.js';
import type { BuildSettings, ModelPart } from './model-parts.js';

/**
 * The transformers.js dtype (file suffix) of each qwen-vl precision. int4 is what
 * onnx-community calls q4: MatMulNBits of 4 bits on float32 activations; with float16
 * activations (a `dml` build, `computeTypeFor`) the text parts are q4f16.
 */
const PRECISION_DTYPES: Readonly<Record<VisionPrecision, TransformersJsDtype>> = { fp32: 'fp32', fp16: 'fp16', int8: 'int8', int4: 'q4' };

/** The model_type transformers' newer configs give the text part's `text_config`. */
const TEXT_MODEL_TYPE = 'qwen2_5_vl_text';

/** config.json keys that are not the text model's. */
const NOT_TEXT_KEYS: ReadonlySet<string> = new Set(['architectures', 'model_type', 'vision_config', 'text_config', TRANSFORMERS_JS_CONFIG_KEY]);

function partDtype(part: TransformersJsPart, settings: BuildSettings): TransformersJsDtype {
  if (part === 'vision') return PRECISION_DTYPES[settings.vision];
  return settings.text === 'int4' && computeTypeFor(settings.text, settings.executionProvider) === 'float16' ? 'q4f16' : PRECISION_DTYPES[settings.text];
}

/** The part transformers.js runs for qwen-vl's `part`: its file at the build's dtype, its graph taking what transformers.js feeds. */
function transformersJsPart(part: ModelPart, settings: BuildSettings): ModelPart {
  if (!(part.name in TRANSFORMERS_JS_PARTS)) {
    throw new QwenVLError('INVALID_ARGUMENT', `has no transformers.js model (it has ${Object.keys(TRANSFORMERS_JS_PARTS).join(', ')})`, { source: `part "${part.name}"` });
  }
  const name = part.name as TransformersJsPart;
  const file = transformersJsModelFile(name, partDtype(name, settings));
  switch (name) {
    case 'vision':
      return { name, file, build: buildGridVision };
    case 'embed':
      return { ...EMBED_PART, file };
    case 'decoder':
      // transformers.js feeds position_ids [3, B, S] (its get_rope_index), and num_logits_to_keep when the graph takes it.
      return { name, file, build: positionIdsDecoder(true) };
  }
}

async function isFile(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined))?.isFile() === true;
}

/**
 * config.json for transformers.js: the checkpoint's, with the text fields also under
 * `text_config` (transformers.js reads Qwen2.5-VL's cache shapes there) and a
 * `transformers.js_config` naming each written model's dtype and its external data file.
 */
async function transformersJsConfig(folder: string, input: BuildInput): Promise<Record<string, unknown>> {
  const config = (await readJson(input.folder, MODEL_FILES.config)) as Record<string, unknown>;
  const dtype: Record<string, TransformersJsDtype> = {};
  const externalData: Record<string, number> = {};
  for (const part of Object.keys(TRANSFORMERS_JS_PARTS) as TransformersJsPart[]) {
    const file = transformersJsModelFile(part, partDtype(part, input.settings));
    if (!(await isFile(join(folder, file)))) continue;
    dtype[TRANSFORMERS_JS_PARTS[part]] = partDtype(part, input.settings);
    const [dataFile] = transformersJsDataFiles(file, 1);
    if (await isFile(join(folder, dataFile))) externalData[file.slice(file.lastIndexOf('/') + 1)] = 1;
  }
  const textConfig = config.text_config ?? { ...Object.fromEntries(Object.entries(config).filter(([key]) => !NOT_TEXT_KEYS.has(key))), model_type: TEXT_MODEL_TYPE };
  const earlier = (config[TRANSFORMERS_JS_CONFIG_KEY] ?? {}) as Record<string, unknown>;
  return { ...config, text_config: textConfig, [TRANSFORMERS_JS_CONFIG_KEY]: { ...earlier, dtype, use_external_data_format: externalData } };
}

/**
 * preprocessor_config.json with the switches transformers.js reads rather than assumes
 * (without `do_resize` and `do_normalize` it neither resizes nor normalizes), set to what
 * Qwen2.5-VL's processor does; fields the checkpoint sets are kept.
 */
async function transformersJsPreprocessor(folder: ModelFolder): Promise<Record<string, unknown>> {
  const config = (await readJson(folder, MODEL_FILES.preprocessor)) as Record<string, unknown>;
  const pixels = { shortest_edge: config.min_pixels ?? 3136, longest_edge: config.max_pixels ?? 12845056 };
  // resample 3: PIL's bicubic, Qwen2-VL's processor's.
  return { do_convert_rgb: true, do_resize: true, size: pixels, resample: 3, do_rescale: true, rescale_factor: 1 / 255, do_normalize: true, ...config };
}

/**
 * transformers.js's (onnx-community's) folder: `onnx/vision_encoder{suffix}.onnx`,
 * `onnx/embed_tokens{suffix}.onnx` and `onnx/decoder_model_merged{suffix}.onnx`, each with its
 * own `_data` (a browser fetches only a model's own data files, so no weight is shared), the
 * configs in the form transformers.js reads, the tokenizer files. No qwen-vl.json: the folder
 * is read as any transformers.js folder is.
 */
export const TRANSFORMERS_JS_BUILD: BuildLayout = {
  name: 'transformers.js',
  parts: MODEL_PARTS,
  partForm: transformersJsPart,
  // No manifest records what the decoder was built for, so no reader could refuse a
  // GroupQueryAttention decoder on WebGPU: the folder always gets the portable one.
  executionProviders: ['webgpu', 'dml'],
  dataFile: (modelFile) => transformersJsDataFiles(modelFile, 1)[0],
  sharesWeights: false,
  writesManifest: false,
  files: {
    async write(folder, input) {
      await writeJson(join(folder, MODEL_FILES.config), await transformersJsConfig(folder, input));
      await writeJson(join(folder, MODEL_FILES.preprocessor), await transformersJsPreprocessor(input.folder));
      await writeJson(join(folder, MODEL_FILES.tokenizerConfig), await tokenizerConfigWithChatTemplate(input.folder));
      await copyPresentFiles(folder, input, [MODEL_FILES.tokenizer, MODEL_FILES.generation, MODEL_FILES.chatTemplate, MODEL_FILES.chatTemplateJinja]);
    },
  },
};
