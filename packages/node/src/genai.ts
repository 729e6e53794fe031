import type { ModelSource } from '@qwen-vl/core';
import { GenaiConfig, Images as ImageList } from '@qwen-vl/pipeline';
import type { ConfigHost, TransformersJsDtypeChoice } from '@qwen-vl/pipeline';
import { onnxruntimeNodeBackend } from './backend/ort-backend.js';
import { requireBuiltFile } from './built-file.js';
import { decodeChatImage } from './chat.js';
import type { ImageInput } from './chat.js';
import { NodeModelFolder } from './model-folder.js';

export { Model, Tokenizer, TokenizerStream, NamedTensors, MultiModalProcessor, GeneratorParams, Generator, GENERATOR_OUTPUTS } from '@qwen-vl/pipeline';
export type { ApplyChatTemplateOptions, DecodeOptions, GenaiSearchOptions, GeneratorOutputName, ProcessOptions, Provider, Tensor } from '@qwen-vl/pipeline';

export interface ConfigOptions {
  /** For a transformers.js folder: the dtype of its models to run (`QwenVLLoadOptions.dtype`). */
  readonly dtype?: TransformersJsDtypeChoice;
}

/**
 * onnxruntime-genai's `og.Config` on Node: a model folder on the file system (made by
 * `qwen-vl build`, onnxruntime-genai's own, or a transformers.js one), run on onnxruntime-node
 * (`appendProvider('cuda' | 'dml' | 'webgpu')`; cpu without one).
 */
export class Config extends GenaiConfig {
  constructor(directory: string, options: ConfigOptions = {}) {
    super(directory, (path) => openNodeHost(path, options));
  }
}

async function openNodeHost(directory: string, options: ConfigOptions): Promise<ConfigHost> {
  return {
    folder: await NodeModelFolder.open(directory),
    openModel: async (file) => ({ model: await requireBuiltFile(directory, file) }) satisfies ModelSource,
    backend: onnxruntimeNodeBackend,
    dtype: options.dtype,
  };
}

/** onnxruntime-genai's `og.Images` on Node: `await Images.open(...paths)` decodes image files (or bytes, or file: URLs) with sharp. */
export class Images extends ImageList {
  /** Decodes the images, in order; a video is the `Images` of its frames. A bad one fails naming its argument (`Images.open argument 2`) or file. */
  static async open(...images: ImageInput[]): Promise<Images> {
    return new Images(await Promise.all(images.map((image, i) => decodeChatImage(image, `Images.open argument ${i}`))));
  }
}
