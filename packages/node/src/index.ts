export { NodeModelFolder } from './model-folder.js';
export { decodeImage } from './decode-image.js';
export type { DecodeImageOptions } from './decode-image.js';
export { InputPreparer, prepareInputs, requestMessages } from './prepare.js';
export type { PrepareRequest, PreparedModelInputs } from './prepare.js';
export { preparedTensors } from './prepared-tensors.js';
export { writeNpyFolder } from './dump.js';
import { registerNodeBackend } from './backend/ort-backend.js';

export { NODE_BACKEND_NAME, onnxruntimeNodeBackend, registerNodeBackend } from './backend/ort-backend.js';
export { fromOrtTensor, toOrtTensor } from './backend/tensor-conversion.js';
export { writeOnnxModel } from './backend/write-onnx-model.js';
export type { WriteOnnxModelOptions, WrittenOnnxModel } from './backend/write-onnx-model.js';

// Importing @qwen-vl/node is what makes core's createSession find onnxruntime-node.
registerNodeBackend();
