import { QwenVLError, hostTensor } from '@qwen-vl/core';
import type { Backend, Device, GenerationConfig, HostTensor, ModelConfig, ModelFolder, ModelSource } from '@qwen-vl/core';
import type { DecoderSession } from '@qwen-vl/decoder';
import type { VisionEncoder } from '@qwen-vl/vision';
import { BUILT_MODEL_FILES } from './built-model-files.js';
import { detectFolderLayout } from './folder-layouts/folder-layout.js';
import type { TransformersJsDtypeChoice } from './folder-layouts/transformers-js-files.js';
import type { PromptPreparer } from './prompt-preparer.js';

/** What the caller chooses among a folder's models. */
export interface LayoutOptions {
  /** transformers.js folders: the dtype of the files to open (by default config.json's, else fp32, else the only one there). */
  readonly dtype?: TransformersJsDtypeChoice;
}

/** What a host (Node, the browser) supplies to open a model folder. */
export interface BuiltModelHost extends LayoutOptions {
  /** The model folder, of any layout qwen-vl opens (`FOLDER_LAYOUTS`): configs, tokenizer, and the .onnx files `openModel` reads. */
  readonly folder: ModelFolder;
  /**
   * The runtime source of one of the folder's .onnx files (a path relative to the folder:
   * BUILT_MODEL_FILES, or a layout's own: those genai_config.json names, or
   * `onnx/decoder_model_merged_q4.onnx`): a path, or the bytes with their external data,
   * which are in `externalData` (folder-relative) as the layout lists them (undefined when it
   * does not: `<file>.data`, when there). Throws
   * MISSING_FILE when the file is absent.
   */
  openModel(file: string, externalData: readonly string[] | undefined): Promise<ModelSource>;
  readonly device: Device;
  readonly intraOpThreads?: number;
  /** Settings of the device's execution provider (`SessionOptions.providerOptions`). */
  readonly providerOptions?: Readonly<Record<string, string>>;
  /** The backend to run on; by default the registered one `resolveBackend(device)` picks. */
  readonly backend?: Backend;
  /**
   * Called once `openModel` has given every model, before the runtime sessions are made from
   * them (which can take seconds, with nothing left to read).
   */
  readonly onCreatingSessions?: () => void;
}

/** A model folder, opened: its configs, the input side, and the runtime sessions. */
export interface BuiltModel {
  /** config.json, parsed (or what a genai folder's genai_config.json says; see `parseGenaiConfig`). */
  readonly config: ModelConfig;
  /** generation_config.json, parsed (genai_config.json's `search`): the defaults of every search option. */
  readonly generationConfig: GenerationConfig;
  readonly preparer: PromptPreparer;
  /** The text model (embed.onnx and decoder.onnx), which holds one KV cache. */
  readonly decoder: DecoderSession;
  /** vision.onnx; undefined when the folder has none (text only). */
  readonly vision: VisionEncoder | undefined;
}

/**
 * Opens a model folder for the chat pipeline and the step-wise (genai) API alike: the layout
 * it is in (`detectFolderLayout`: onnxruntime-genai's, transformers.js's or qwen-vl's own)
 * finds its configs and model files, then its tokenizer, the text model and, when the
 * folder has one, the vision encoder are loaded (`openModelFiles`).
 */
export async function openBuiltModel(host: BuiltModelHost): Promise<BuiltModel> {
  return (await detectFolderLayout(host.folder)).open(host);
}

/**
 * Vision features `[tokens, hidden]` of the patch rows of `grids` (images, or videos); undefined
 * for no grid. A folder without vision.onnx (`vision` undefined) fails with MISSING_FILE naming it.
 */
export async function encodeVision(
  vision: VisionEncoder | undefined,
  folder: ModelFolder,
  pixelValues: Float32Array,
  grids: readonly (readonly [number, number, number])[],
): Promise<HostTensor<'float32'> | undefined> {
  if (grids.length === 0) return undefined;
  if (vision === undefined) {
    throw new QwenVLError('MISSING_FILE', 'not found, and the conversation has images or videos; rebuild the folder with "qwen-vl build"', {
      source: `${folder.location}/${BUILT_MODEL_FILES.vision}`,
    });
  }
  const { features, dims } = await vision.encode(pixelValues, grids);
  return hostTensor('float32', features, dims);
}
