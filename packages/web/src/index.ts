export { UrlModelFolder } from './url-model-folder.js';
export type { DownloadProgress, UrlModelFolderOptions } from './url-model-folder.js';
export { cachedFetch, MODEL_CACHE_NAME } from './cached-fetch.js';
export type { CachedFetch } from './cached-fetch.js';
export { openUrlModel } from './url-model-source.js';
export { decodeBrowserImage } from './decode-browser-image.js';
export type { BrowserImageInput, BrowserDecodeOptions } from './decode-browser-image.js';
export { QwenVLWeb, pickWebDevice } from './qwen-vl-web.js';
export type { LoadProgress, QwenVLWebLoadOptions, WebChatMessage, WebDevice } from './qwen-vl-web.js';
export { Config, Images, Model, Tokenizer, TokenizerStream, NamedTensors, MultiModalProcessor, GeneratorParams, Generator, GENERATOR_OUTPUTS } from './genai.js';
export type { WebConfigOptions, ApplyChatTemplateOptions, DecodeOptions, GenaiSearchOptions, GeneratorOutputName, ProcessOptions, Provider, Tensor } from './genai.js';
export { QwenVLWorker } from './worker/qwen-vl-worker.js';
export type { QwenVLWorkerLoadOptions } from './worker/qwen-vl-worker.js';
export { serveQwenVLWorker } from './worker/serve-worker.js';
export type { MessageEndpoint } from './worker/worker-protocol.js';
export type { ChatChunk, ChatOptions, ChatResult, ChatStream, ChatTimings } from '@qwen-vl/pipeline';
import { registerWebBackend } from './backend/web-backend.js';

export { WEB_BACKEND_NAME, onnxruntimeWebBackend, registerWebBackend } from './backend/web-backend.js';

// Importing @qwen-vl/web is what makes core's createSession find onnxruntime-web.
registerWebBackend();
