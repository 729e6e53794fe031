import { GenaiConfig, Images as ImageList } from '@qwen-vl/pipeline';
import type { ConfigHost, TransformersJsDtypeChoice } from '@qwen-vl/pipeline';
import { onnxruntimeWebBackend } from './backend/web-backend.js';
import { cachedFetch } from './cached-fetch.js';
import { decodeBrowserImage } from './decode-browser-image.js';
import type { BrowserImageInput } from './decode-browser-image.js';
import { decodeChatImage } from './qwen-vl-web.js';
import { UrlModelFolder } from './url-model-folder.js';
import { openUrlModel } from './url-model-source.js';

export { Model, Tokenizer, TokenizerStream, NamedTensors, MultiModalProcessor, GeneratorParams, Generator, GENERATOR_OUTPUTS } from '@qwen-vl/pipeline';
export type { ApplyChatTemplateOptions, DecodeOptions, GenaiSearchOptions, GeneratorOutputName, ProcessOptions, Provider, Tensor } from '@qwen-vl/pipeline';

export interface WebConfigOptions {
  /** For a transformers.js folder: the dtype of its models to run (as `QwenVL.load`'s `dtype`). */
  readonly dtype?: TransformersJsDtypeChoice;
  /** Keep the fetched files in the Cache API ('qwen-vl', keyed by URL), as `QwenVLWeb.load` does; default true. */
  readonly cache?: boolean;
  /** The fetch underneath (default the global one). */
  readonly fetch?: typeof fetch;
}

/**
 * onnxruntime-genai's `og.Config` in the browser: a model folder served over HTTP(S) (made by
 * `qwen-vl build`, onnxruntime-genai's own, or a transformers.js one), run on onnxruntime-web:
 * `appendProvider('webgpu')`, or WASM (`wasm`) with none appended.
 */
export class Config extends GenaiConfig {
  constructor(baseUrl: string | URL, options: WebConfigOptions = {}) {
    super(String(baseUrl), async (url) => openWebHost(url, options), 'wasm');
  }
}

async function openWebHost(url: string, options: WebConfigOptions): Promise<ConfigHost> {
  const caching = options.cache === false ? undefined : cachedFetch(undefined, options.fetch);
  const folder = new UrlModelFolder(url, { fetch: caching ?? options.fetch });
  return {
    folder,
    openModel: (file, dataFiles) => openUrlModel(folder, file, dataFiles),
    backend: onnxruntimeWebBackend,
    dtype: options.dtype,
    // So that a created model is a cached one: the page may go offline or close next.
    opened: async () => caching?.stored(),
  };
}

/**
 * onnxruntime-genai's `og.Images` in the browser: `await Images.open(...inputs)` decodes Files,
 * Blobs, bitmaps, elements or URLs with the browser's decoders (`decodeBrowserImage`).
 */
export class Images extends ImageList {
  /** Decodes the images, in order; a video is the `Images` of its frames. A bad one fails naming its argument (`Images.open argument 2`) or URL. */
  static async open(...images: BrowserImageInput[]): Promise<Images> {
    return new Images(await Promise.all(images.map((image, i) => decodeChatImage(image, `Images.open argument ${i}`, {}, decodeBrowserImage))));
  }
}
