export { NodeModelFolder } from './model-folder.js';
export { decodeImage } from './decode-image.js';
export type { DecodeImageOptions } from './decode-image.js';
export { InputPreparer, prepareInputs, requestMessages } from './prepare.js';
export type { PrepareRequest, PreparedModelInputs } from './prepare.js';
export { preparedTensors } from './prepared-tensors.js';
export { writeNpyFolder } from './dump.js';
export { QwenVL } from './qwen-vl.js';
export type { ChatChunk, ChatOptions, ChatResult, ChatStream, ChatTimings, NodeDevice, QwenVLLoadOptions } from './qwen-vl.js';
export { decodeChatImage, loadChatImages } from './chat.js';
export type { ImageInput, QwenVLMessage } from './chat.js';
export { ResultStream } from '@qwen-vl/decoder';
export { buildModelFolder } from './build/build-model.js';
export type { BuildModelOptions, BuildProgress, BuiltModelFolder } from './build/build-model.js';
export { DECODER_PART, EMBED_PART, MODEL_PARTS, VISION_PART } from './build/model-parts.js';
export type { ModelPart } from './build/model-parts.js';
export { FORMAT_VERSION, MANIFEST_FILE } from '@qwen-vl/decoder';
export type { BuildManifest, ManifestPart } from '@qwen-vl/decoder';
export { fileByteSource, openLocalCheckpoint } from './build/checkpoint-folder.js';
export { writeTinyModelFolder } from './build/tiny-model-folder.js';
export { encodePreparedImages, hasVisionModel, openVisionEncoder } from './vision-runner.js';
export type { VisionRunnerOptions } from './vision-runner.js';
import { registerNodeBackend } from './backend/ort-backend.js';

export { NODE_BACKEND_NAME, onnxruntimeNodeBackend, registerNodeBackend } from './backend/ort-backend.js';
export { fromOrtTensor, toOrtTensor } from './backend/tensor-conversion.js';
export { writeOnnxModel } from './backend/write-onnx-model.js';
export type { WriteOnnxModelOptions, WrittenOnnxModel } from './backend/write-onnx-model.js';

// Importing @qwen-vl/node is what makes core's createSession find onnxruntime-node.
registerNodeBackend();
