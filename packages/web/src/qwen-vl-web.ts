import { MODEL_FILES, QwenVLError, checkOptionNames } from '@qwen-vl/core';
import { BUILT_MODEL_FILES, HostedChatModel, MANIFEST_FILE, VisionLanguageModel, externalDataFile } from '@qwen-vl/pipeline';
import type { HostChatMessage, ImageDecodeOptions, TransformersJsDtypeChoice } from '@qwen-vl/pipeline';
import { onnxruntimeWebBackend } from './backend/web-backend.js';
import type { WebDevice } from './backend/ort-web-runtime.js';
import { hasHardwareWebGpu } from './backend/web-device-support.js';
import { cachedFetch } from './cached-fetch.js';
import { decodeBrowserImage } from './decode-browser-image.js';
import type { BrowserImageInput } from './decode-browser-image.js';
import { LoadProgressTracker } from './load-progress.js';
import type { LoadProgress } from './load-progress.js';
import { UrlModelFolder } from './url-model-folder.js';
import { openUrlModel } from './url-model-source.js';

export type { WebDevice } from './backend/ort-web-runtime.js';
export type { LoadProgress } from './load-progress.js';

/** A chat message whose image items (and video frames) hold what the browser decodes. */
export type WebChatMessage = HostChatMessage<BrowserImageInput>;

export interface QwenVLWebLoadOptions {
  /** Default wasm. An unusable device fails the load with BACKEND_UNAVAILABLE saying what is missing. */
  device?: WebDevice;
  /** Bytes loaded of the total over every file of the folder, then the start of session creation. */
  onProgress?: (progress: LoadProgress) => void;
  /** Keep the files in the Cache API ('qwen-vl', keyed by URL) and load from it next time; default true. */
  cache?: boolean;
  /** The fetch underneath (default the global one). */
  fetch?: typeof fetch;
  /** Threads per operator; onnxruntime-web picks when omitted. */
  intraOpThreads?: number;
  /** For a transformers.js (onnx-community) folder: which of its models to run, by dtype, as `@qwen-vl/node`'s `QwenVL.load` takes it. */
  dtype?: TransformersJsDtypeChoice;
}

const LOAD_OPTIONS: readonly string[] = ['device', 'onProgress', 'cache', 'fetch', 'intraOpThreads', 'dtype'] satisfies (keyof QwenVLWebLoadOptions)[];

/**
 * 'webgpu' where this browser has a hardware WebGPU adapter, else 'wasm': a fallback (software)
 * adapter runs WebGPU on the CPU, slower than WASM. `device: 'webgpu'` still loads on one.
 */
export async function pickWebDevice(): Promise<WebDevice> {
  return (await hasHardwareWebGpu()) ? 'webgpu' : 'wasm';
}

/**
 * A Qwen2.5-VL model folder made by `qwen-vl build`, served over HTTP(S) and run with
 * onnxruntime-web: the shared `VisionLanguageModel` with files fetched (and cached) and images
 * decoded by the browser. Options and results are those of `@qwen-vl/node`'s QwenVL.
 */
export class QwenVLWeb extends HostedChatModel<BrowserImageInput> {
  private constructor(
    /** The model folder's URL. */
    readonly baseUrl: string,
    readonly device: WebDevice,
    model: VisionLanguageModel<BrowserImageInput>,
  ) {
    super(model);
  }

  static async load(baseUrl: string | URL, options: QwenVLWebLoadOptions = {}): Promise<QwenVLWeb> {
    checkOptionNames(options, LOAD_OPTIONS, 'QwenVLWeb.load options');
    const device = options.device ?? 'wasm';
    // Fail on the device before downloading anything.
    const availability = await onnxruntimeWebBackend.availability(device);
    if (!availability.available) throw new QwenVLError('BACKEND_UNAVAILABLE', availability.reason, { source: `onnxruntime-web device "${device}"` });
    const caching = options.cache === false ? undefined : cachedFetch(undefined, options.fetch);
    const fetchImpl = caching ?? options.fetch;
    const sizer = new UrlModelFolder(baseUrl, { fetch: fetchImpl });
    const { onProgress } = options;
    const tracker = onProgress === undefined ? undefined : new LoadProgressTracker(await folderSizes(sizer), onProgress);
    const folder = new UrlModelFolder(baseUrl, { fetch: fetchImpl, onProgress: tracker === undefined ? undefined : (progress) => tracker.update(progress) });
    const model = await VisionLanguageModel.load<BrowserImageInput>({
      folder,
      openModel: (file, dataFiles) => openUrlModel(folder, file, dataFiles),
      decodeImage: (image, where, decodeOptions) => decodeChatImage(image, where, decodeOptions, decodeBrowserImage),
      device,
      intraOpThreads: options.intraOpThreads,
      dtype: options.dtype,
      backend: onnxruntimeWebBackend,
      onCreatingSessions: tracker === undefined ? undefined : () => tracker.creatingSessions(),
    });
    // So that a loaded model is a cached one: the page may go offline or close next.
    await caching?.stored();
    return new QwenVLWeb(folder.location, device, model);
  }
}

/** The files a load reads and their sizes (HEAD requests); files the folder lacks are left out. */
async function folderSizes(folder: UrlModelFolder): Promise<Map<string, number>> {
  const models = Object.values(BUILT_MODEL_FILES);
  const files = [...Object.values(MODEL_FILES), MANIFEST_FILE, ...models, ...models.map(externalDataFile)];
  const sizes = await Promise.all(files.map((file) => folder.size(file)));
  return new Map(files.flatMap((file, i) => (sizes[i] === undefined ? [] : [[file, sizes[i]] as const])));
}

/**
 * `decode` (decodeBrowserImage, or the page's half of it for a worker) on a chat message's
 * image; `where` names the message item at fault.
 */
export async function decodeChatImage<Image extends BrowserImageInput, Decoded>(
  image: Image,
  where: string,
  options: ImageDecodeOptions,
  decode: (image: Image, options: ImageDecodeOptions) => Promise<Decoded>,
): Promise<Decoded> {
  if (image === undefined || image === null || (typeof image === 'string' && image.length === 0)) {
    throw new QwenVLError('INVALID_ARGUMENT', 'must be a File, Blob, ImageBitmap, HTMLImageElement, HTMLCanvasElement or URL string, got nothing', { source: where });
  }
  try {
    return await decode(image, options);
  } catch (error) {
    // A URL names itself; anything else is named by its message item, the decoder's description kept.
    if (!(error instanceof QwenVLError) || typeof image === 'string') throw error;
    throw error.withSource(error.source === undefined ? where : `${where} (${error.source})`);
  }
}
