import { QwenVLError } from '@qwen-vl/core';
import { EXECUTION_PROVIDERS } from '@qwen-vl/pipeline';
import type { ExecutionProvider, FolderLayoutName } from '@qwen-vl/pipeline';
import { OPTIONAL_FILES, REQUIRED_FILES, copyPresentFiles } from './folder-files.js';
import type { FolderFiles } from './folder-files.js';
import { GENAI_BUILD } from './genai-build.js';
import { MODEL_PARTS } from './model-parts.js';
import type { BuildSettings, ModelPart } from './model-parts.js';
import { TRANSFORMERS_JS_BUILD } from './transformers-js-build.js';

/** One layout `qwen-vl build --layout` writes: its models, in writing order, their files, and its other files. */
export interface BuildLayout {
  readonly name: FolderLayoutName;
  /** What the layout exports by default. */
  readonly parts: readonly ModelPart[];
  /** The layout's form of a part (its file and graph) for the build's settings; default the part as it is. */
  readonly partForm?: (part: ModelPart, settings: BuildSettings) => ModelPart;
  readonly files: FolderFiles;
  /** The external data file beside the model file `modelFile`; default `<file>.data`. */
  readonly dataFile?: (modelFile: string) => string;
  /** Whether a model reads the weights an earlier one wrote (a tied lm_head, embed.onnx.data) instead of a copy; default true. */
  readonly sharesWeights?: boolean;
  /** Whether the folder gets the qwen-vl.json manifest; default true. */
  readonly writesManifest?: boolean;
  /** The execution providers its decoder can be built for, the default first; default `EXECUTION_PROVIDERS` (cpu first). */
  readonly executionProviders?: readonly ExecutionProvider[];
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

/**
 * The execution provider a build of `layout` is for: `asked`, or the layout's default; one
 * the layout cannot build for (or no provider at all) is INVALID_ARGUMENT naming the
 * `executionProvider` option.
 */
export function layoutExecutionProvider(layout: BuildLayout, asked: string | undefined): ExecutionProvider {
  const allowed = layout.executionProviders ?? EXECUTION_PROVIDERS;
  const provider = asked ?? allowed[0];
  if (!(allowed as readonly string[]).includes(provider)) {
    const why = allowed.length === EXECUTION_PROVIDERS.length ? '' : ` for the ${layout.name} layout`;
    throw new QwenVLError('INVALID_ARGUMENT', `must be one of ${allowed.join(', ')}${why}, got ${JSON.stringify(provider)}`, { source: 'executionProvider' });
  }
  return provider as ExecutionProvider;
}

/** The layout called `name`; INVALID_ARGUMENT naming the `layout` option otherwise. */
export function buildLayout(name: string): BuildLayout {
  const layout = BUILD_LAYOUTS.find((candidate) => candidate.name === name);
  if (layout === undefined) throw new QwenVLError('INVALID_ARGUMENT', `must be one of ${BUILD_LAYOUT_NAMES.join(', ')}, got ${JSON.stringify(name)}`, { source: 'layout' });
  return layout;
}
