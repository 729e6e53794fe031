import { copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MODEL_FILES } from '@qwen-vl/core';
import type { ModelConfigs, ModelFolder } from '@qwen-vl/core';
import type { BuildPrecisions } from './model-parts.js';

/** The Hugging Face folder a build reads: its path, its files, its parsed configs, and the precisions asked for. */
export interface BuildInput {
  readonly path: string;
  readonly folder: ModelFolder;
  readonly configs: ModelConfigs;
  readonly precisions: BuildPrecisions;
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
