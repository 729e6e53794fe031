import { QwenVLError } from '@qwen-vl/core';
import type { FolderLayoutName } from '@qwen-vl/pipeline';
import { OPTIONAL_FILES, REQUIRED_FILES, copyPresentFiles } from './folder-files.js';
import type { FolderFiles } from './folder-files.js';
import { GENAI_BUILD } from './genai-build.js';
import { MODEL_PARTS } from './model-parts.js';
import type { BuildPrecisions, ModelPart } from './model-parts.js';
import { TRANSFORMERS_JS_BUILD } from './transformers-js-build.js';

/** One layout `qwen-vl build --layout` writes: its models, in writing order, their files, and its other files. */
export interface BuildLayout {
  readonly name: FolderLayoutName;
  /** What the layout exports by default. */
  readonly parts: readonly ModelPart[];
  /** The layout's form of a part (its file and graph) at the build's precisions; default the part as it is. */
  readonly partForm?: (part: ModelPart, precisions: BuildPrecisions) => ModelPart;
  readonly files: FolderFiles;
  /** The external data file beside the model file `modelFile`; default `<file>.data`. */
  readonly dataFile?: (modelFile: string) => string;
  /** Whether a model reads the weights an earlier one wrote (a tied lm_head, embed.onnx.data) instead of a copy; default true. */
  readonly sharesWeights?: boolean;
  /** Whether the folder gets the qwen-vl.json manifest; default true. */
  readonly writesManifest?: boolean;
}

/** qwen-vl's own folder: the Hugging Face configs and tokenizer files, copied as they are. */
const QWEN_VL_BUILD: BuildLayout = {
  name: 'qwen-vl',
  parts: MODEL_PARTS,
  files: { write: (folder, input) => copyPresentFiles(folder, input, [...REQUIRED_FILES, ...OPTIONAL_FILES]) },
};

/** Every layout the build writes; the CLI's `--layout` offers their names. */
export const BUILD_LAYOUTS: readonly BuildLayout[] = [QWEN_VL_BUILD, GENAI_BUILD, TRANSFORMERS_JS_BUILD];

export const BUILD_LAYOUT_NAMES: readonly FolderLayoutName[] = BUILD_LAYOUTS.map((layout) => layout.name);

/** The layout called `name`; INVALID_ARGUMENT naming the `layout` option otherwise. */
export function buildLayout(name: string): BuildLayout {
  const layout = BUILD_LAYOUTS.find((candidate) => candidate.name === name);
  if (layout === undefined) throw new QwenVLError('INVALID_ARGUMENT', `must be one of ${BUILD_LAYOUT_NAMES.join(', ')}, got ${JSON.stringify(name)}`, { source: 'layout' });
  return layout;
}
