export { QwenVLError, isQwenVLError } from './errors.js';
export type { QwenVLErrorCode } from './errors.js';
export { elementCount, hostTensor, toBigInt64 } from './tensor.js';
export type { HostTensor, TensorDataMap, TensorDataType } from './tensor.js';
export { encodeNpy, decodeNpy } from './npy.js';
export { parseModelConfig, parsePreprocessorConfig, parseGenerationConfig } from './config.js';
export type { ModelConfig, TextConfig, VisionConfig, PreprocessorConfig, GenerationConfig } from './config.js';
export { MODEL_FILES, readJson, loadModelConfigs } from './model-folder.js';
export type { ModelFolder, ModelConfigs } from './model-folder.js';
