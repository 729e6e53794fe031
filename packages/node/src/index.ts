export { NodeModelFolder } from './model-folder.js';
export { decodeImage } from './decode-image.js';
export type { DecodeImageOptions } from './decode-image.js';
export { InputPreparer, prepareInputs, requestMessages } from './prepare.js';
export type { PrepareRequest, PreparedModelInputs } from './prepare.js';
export { preparedTensors } from './prepared-tensors.js';
export { writeNpyFolder } from './dump.js';
export { MAX_PREPARE_THREADS, NODE_DEVICES, QwenVL } from './qwen-vl.js';
export type { ChatChunk, ChatOptions, ChatResult, ChatStream, ChatTimings, NodeDevice, QwenVLLoadOptions } from './qwen-vl.js';
export { decodeChatImage, loadChatImages } from './chat.js';
export { Config, Images, Model, Tokenizer, TokenizerStream, NamedTensors, MultiModalProcessor, GeneratorParams, Generator, GENERATOR_OUTPUTS } from './genai.js';
export type { ApplyChatTemplateOptions, ConfigOptions, DecodeOptions, GenaiSearchOptions, GeneratorOutputName, ProcessOptions, Provider, Tensor } from './genai.js';
export type { ImageInput, QwenVLMessage } from './chat.js';
export { ResultStream } from '@qwen-vl/pipeline';
export type { TransformersJsDtype, TransformersJsDtypeChoice } from '@qwen-vl/pipeline';
export { encodePreparedImages, hasVisionModel, openVisionEncoder } from './vision-runner.js';
export type { VisionRunnerOptions } from './vision-runner.js';
export { createServer, DEFAULT_LIMITS } from './server/index.js';
export type { QwenVLServer, ServerLimits, ServerOptions } from './server/index.js';
import { registerNodeBackend } from './backend/ort-backend.js';

export { NODE_BACKEND_NAME, onnxruntimeNodeBackend, registerNodeBackend } from './backend/ort-backend.js';
export { fromOrtTensor, toOrtTensor } from './backend/tensor-conversion.js';

// Importing @qwen-vl/node is what makes core's createSession find onnxruntime-node.
registerNodeBackend();
