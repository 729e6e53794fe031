import { MODEL_FILES, QwenVLError, loadModelConfigs, readJson } from '@qwen-vl/core';
import type { ModelFolder } from '@qwen-vl/core';
import { TRANSFORMERS_JS_CONFIG_KEY, TRANSFORMERS_JS_DTYPES, TRANSFORMERS_JS_MODEL_DIR, TRANSFORMERS_JS_PARTS, transformersJsDataFiles, transformersJsModelFile } from './transformers-js-files.js';
import type { TransformersJsDtype, TransformersJsPart } from './transformers-js-files.js';
import type { BuiltModelHost, LayoutOptions } from '../built-model.js';
import { MANIFEST_FILE } from '../built-model-files.js';
import type { FolderLayout } from './folder-layout.js';
import { openModelFiles } from './model-files.js';
import type { ModelFile } from './model-files.js';

/** What config.json's `transformers.js_config` says about the models, as far as qwen-vl reads it. */
interface TransformersJsSettings {
  readonly dtype?: unknown;
  readonly use_external_data_format?: unknown;
}

async function settings(folder: ModelFolder): Promise<TransformersJsSettings> {
  if (!(await folder.exists(MODEL_FILES.config))) return {};
  const block = ((await readJson(folder, MODEL_FILES.config)) as Record<string, unknown> | null)?.[TRANSFORMERS_JS_CONFIG_KEY];
  return typeof block === 'object' && block !== null ? block : {};
}

/** The dtypes whose file of `part` the folder holds. */
async function presentDtypes(folder: ModelFolder, part: TransformersJsPart): Promise<TransformersJsDtype[]> {
  const present = await Promise.all(TRANSFORMERS_JS_DTYPES.map((dtype) => folder.exists(transformersJsModelFile(part, dtype))));
  return TRANSFORMERS_JS_DTYPES.filter((_, i) => present[i]);
}

/**
 * The dtype `choice` names for `part`: one for every part, or one per model name (a part it
 * leaves out is undefined, as is transformers.js's `auto`). `fail` reports a value that is
 * no dtype, naming where it came from.
 */
function chosenDtype(choice: unknown, part: TransformersJsPart, fail: (reason: string) => QwenVLError): TransformersJsDtype | undefined {
  if (choice === undefined || choice === null) return undefined;
  const name = TRANSFORMERS_JS_PARTS[part];
  const value = typeof choice === 'object' && !Array.isArray(choice) ? (choice as Record<string, unknown>)[name] : choice;
  if (value === undefined || value === 'auto') return undefined;
  if (!(TRANSFORMERS_JS_DTYPES as readonly unknown[]).includes(value)) {
    throw fail(
      `${typeof choice === 'object' ? `names ${JSON.stringify(value)} for ${name}` : `is ${JSON.stringify(value)}`}; a dtype is one of ${TRANSFORMERS_JS_DTYPES.join(', ')} (or an object of them by model name)`,
    );
  }
  return value as TransformersJsDtype;
}

/** transformers.js's count of external data files of `file` (`use_external_data_format`: a count or flag, or one per file or model name). */
function dataChunks(format: unknown, file: string, part: TransformersJsPart): number {
  if (typeof format === 'object' && format !== null) {
    const perFile = format as Record<string, unknown>;
    const base = file.slice(file.lastIndexOf('/') + 1);
    return Number(perFile[base] ?? perFile[TRANSFORMERS_JS_PARTS[part]] ?? 0);
  }
  return Number(format ?? 0);
}

/**
 * The file of `part` to open: at the dtype asked for, else at config.json's, else fp32, else
 * the only dtype the folder has. Fails naming the file when it is not there, and listing the
 * dtypes that are when the choice is not clear.
 */
async function partFile(folder: ModelFolder, part: TransformersJsPart, present: readonly TransformersJsDtype[], options: LayoutOptions, config: TransformersJsSettings): Promise<ModelFile> {
  const name = TRANSFORMERS_JS_PARTS[part];
  const configField = `${folder.location}/${MODEL_FILES.config} field "${TRANSFORMERS_JS_CONFIG_KEY}.dtype"`;
  const dtype =
    chosenDtype(options.dtype, part, (reason) => new QwenVLError('INVALID_ARGUMENT', reason, { source: 'dtype' })) ??
    chosenDtype(config.dtype, part, (reason) => new QwenVLError('INVALID_CONFIG', reason, { source: configField })) ??
    (present.includes('fp32') ? 'fp32' : present.length === 1 ? present[0] : undefined);
  const held = present.length === 0 ? 'none' : present.join(', ');
  if (dtype === undefined) {
    throw new QwenVLError('INVALID_ARGUMENT', `holds ${name} models of several dtypes (${held}) and nothing picks one; choose it with the dtype option (--dtype)`, { source: folder.location });
  }
  const file = transformersJsModelFile(part, dtype);
  if (!present.includes(dtype)) {
    throw new QwenVLError('MISSING_FILE', `not found: the ${dtype} ${name} model is not in the folder (its ${name} dtypes: ${held})`, { source: `${folder.location}/${file}` });
  }
  return { file, externalData: transformersJsDataFiles(file, dataChunks(config.use_external_data_format, file, part)) };
}

/**
 * A transformers.js (onnx-community) folder: `onnx/embed_tokens*.onnx`,
 * `onnx/decoder_model_merged*.onnx` and, unless it is text only, `onnx/vision_encoder*.onnx`,
 * in the dtypes their suffixes name, beside Hugging Face's configs and tokenizer. Their
 * graphs take what transformers.js feeds (`position_ids`, `image_grid_thw`), which the
 * decoder session and vision encoder recognize.
 */
export const TRANSFORMERS_JS_LAYOUT: FolderLayout = {
  name: 'transformers.js',
  marker: `${TRANSFORMERS_JS_MODEL_DIR}/${TRANSFORMERS_JS_PARTS.decoder}{dtype suffix}.onnx`,
  // A folder qwen-vl built in its own layout says so (qwen-vl.json): no need to look for
  // a dozen onnx/ names there (requests, in a browser).
  holds: async (folder) => !(await folder.exists(MANIFEST_FILE)) && (await presentDtypes(folder, 'decoder')).length > 0,
  configs: loadModelConfigs,
  async open(host: BuiltModelHost) {
    const { folder } = host;
    const config = await settings(folder);
    const [vision, embed, decoder] = await Promise.all((['vision', 'embed', 'decoder'] as const).map((part) => presentDtypes(folder, part)));
    return openModelFiles(host, {
      configs: await loadModelConfigs(folder),
      embed: await partFile(folder, 'embed', embed, host, config),
      decoder: await partFile(folder, 'decoder', decoder, host, config),
      vision: vision.length === 0 ? undefined : await partFile(folder, 'vision', vision, host, config),
    });
  },
};
