import { copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MODEL_FILES, QwenVLError } from '@qwen-vl/core';
import type { ModelConfigs, ModelFolder } from '@qwen-vl/core';
import type { FolderLayoutName } from '@qwen-vl/pipeline';
import { GENAI_FOLDER_FILES, GENAI_PARTS } from './genai-folder.js';
import { MODEL_PARTS } from './model-parts.js';
import type { ModelPart } from './model-parts.js';

/** The Hugging Face folder a build reads: its path, its files, and its parsed configs. */
export interface BuildInput {
  readonly path: string;
  readonly folder: ModelFolder;
  readonly configs: ModelConfigs;
}

/** What a layout's folder holds besides its models. */
export interface FolderFiles {
  /** Writes the configs and tokenizer files into `folder` (the temporary output folder). */
  write(folder: string, input: BuildInput): Promise<void>;
}

/** One layout `qwen-vl build --layout` writes: its models, in writing order, and its other files. */
export interface BuildLayout {
  readonly name: FolderLayoutName;
  readonly parts: readonly ModelPart[];
  readonly files: FolderFiles;
}

/** The Hugging Face files a qwen-vl folder carries over: the runtime needs these ... */
export const REQUIRED_FILES: readonly string[] = [MODEL_FILES.config, MODEL_FILES.preprocessor, MODEL_FILES.tokenizer];
/** ... and uses these when present. */
const OPTIONAL_FILES: readonly string[] = [MODEL_FILES.generation, MODEL_FILES.chatTemplateJinja, MODEL_FILES.chatTemplate, MODEL_FILES.tokenizerConfig];

/** qwen-vl's own folder: the Hugging Face configs and tokenizer files, copied as they are. */
const QWEN_VL_FILES: FolderFiles = {
  async write(folder, input) {
    for (const name of [...REQUIRED_FILES, ...OPTIONAL_FILES]) {
      if (await input.folder.exists(name)) await copyFile(join(input.path, name), join(folder, name));
    }
  },
};

/** Every layout the build writes; the CLI's `--layout` offers their names. */
export const BUILD_LAYOUTS: readonly BuildLayout[] = [
  { name: 'qwen-vl', parts: MODEL_PARTS, files: QWEN_VL_FILES },
  { name: 'genai', parts: GENAI_PARTS, files: GENAI_FOLDER_FILES },
];

export const BUILD_LAYOUT_NAMES: readonly FolderLayoutName[] = BUILD_LAYOUTS.map((layout) => layout.name);

/** The layout called `name`; INVALID_ARGUMENT naming the `layout` option otherwise. */
export function buildLayout(name: string): BuildLayout {
  const layout = BUILD_LAYOUTS.find((candidate) => candidate.name === name);
  if (layout === undefined) throw new QwenVLError('INVALID_ARGUMENT', `must be one of ${BUILD_LAYOUT_NAMES.join(', ')}, got ${JSON.stringify(name)}`, { source: 'layout' });
  return layout;
}
