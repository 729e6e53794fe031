import { copyFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MODEL_FILES, readJson } from '@qwen-vl/core';
import { ChatTemplate } from '@qwen-vl/preprocess';
import type { ModelConfigs, ModelFolder } from '@qwen-vl/core';
import type { BuildSettings } from './model-parts.js';

/** The Hugging Face folder a build reads: its path, its files, its parsed configs, and what the build is for. */
export interface BuildInput {
  readonly path: string;
  readonly folder: ModelFolder;
  readonly configs: ModelConfigs;
  readonly settings: BuildSettings;
}

/** What a layout's folder holds besides its models. */
export interface FolderFiles {
  /** Writes the configs and tokenizer files into `folder` (the temporary output folder, its models already written). */
  write(folder: string, input: BuildInput): Promise<void>;
}

/** The Hugging Face files every built folder carries over: the runtime needs these ... */
export const REQUIRED_FILES: readonly string[] = [MODEL_FILES.config, MODEL_FILES.preprocessor, MODEL_FILES.tokenizer];
/** ... and uses these when present. */
export const OPTIONAL_FILES: readonly string[] = [MODEL_FILES.generation, MODEL_FILES.chatTemplateJinja, MODEL_FILES.chatTemplate, MODEL_FILES.tokenizerConfig];

/** Copies those of `names` the input folder has into `folder`, unchanged. */
export async function copyPresentFiles(folder: string, input: BuildInput, names: readonly string[]): Promise<void> {
  for (const name of names) {
    if (await input.folder.exists(name)) await copyFile(join(input.path, name), join(folder, name));
  }
}

/** Writes `value` to `path` as indented JSON. */
export function writeJson(path: string, value: unknown): Promise<void> {
  return writeFile(path, `${JSON.stringify(value, null, 2)}\n`);
}

/**
 * The input's tokenizer_config.json (or an empty one) with the chat template qwen-vl uses
 * in its `chat_template` field, where onnxruntime-genai's and transformers.js's tokenizers
 * look for it (not in chat_template.json or .jinja).
 */
export async function tokenizerConfigWithChatTemplate(folder: ModelFolder): Promise<Record<string, unknown>> {
  const config = (await folder.exists(MODEL_FILES.tokenizerConfig)) ? ((await readJson(folder, MODEL_FILES.tokenizerConfig)) as Record<string, unknown>) : {};
  return { ...config, chat_template: (await ChatTemplate.fromFolder(folder)).text };
}
