export { VisionLanguageModel } from './vision-language-model.js';
export { HostedChatModel } from './hosted-chat-model.js';
export type { ChatChunk, ChatOptions, ChatResult, ChatStream, ChatTimings, HostChatMessage, VisionLanguageModelHost, VisionLanguageModelOptions } from './vision-language-model.js';
export { openPromptPreparer, prepareChat } from './chat-preparation.js';
export type { ChatPreparationOptions, ChatPreparer, HostImageDecoder, ImageDecodeOptions } from './chat-preparation.js';
export { PromptPreparer } from './prompt-preparer.js';
export type { PreparedModelInputs } from './prompt-preparer.js';
export { chatMediaItems, withSystemPrompt } from './chat-messages.js';
export type { ChatImageItem, ChatMediaItems, ChatVideoItem } from './chat-messages.js';
export {
  BUILT_MODEL_FILES,
  FORMAT_VERSION,
  MANIFEST_FILE,
  WEIGHT_PRECISIONS,
  VISION_PRECISIONS,
  ACCURACY_LEVELS,
  EXECUTION_PROVIDERS,
  checkExecutionProvider,
  checkGraphShape,
  graphShape,
  externalDataFile,
  isPlainFileName,
  manifestDataFiles,
  readBuildManifest,
} from './built-model-files.js';
export type { AccuracyLevel, BuildManifest, ExecutionProvider, ManifestPart, QuantizationSettings, VisionPrecision, WeightPrecision } from './built-model-files.js';
export { openTextModel, openVisionModel } from './model-sessions.js';
export type { GraphNaming, ModelSessionOptions } from './model-sessions.js';
export { ResultStream } from './result-stream.js';
export { OrtSessionAdapter } from './ort/ort-session-adapter.js';
export type { OutputPlacement } from './ort/ort-session-adapter.js';
export type { OrtSessionLike } from './ort/ort-session-adapter.js';
export { OrtDeviceTensor, downloadOrtTensor, fromOrtTensor } from './ort/ort-tensors.js';
export type { OrtRuntime, OrtTensorLike } from './ort/ort-tensors.js';
export { encodeVision, openBuiltModel } from './built-model.js';
export type { BuiltModel, BuiltModelHost, LayoutOptions } from './built-model.js';
export { GenaiConfig, PROVIDERS } from './genai/config.js';
export type { ConfigHost, OpenConfigHost, Provider } from './genai/config.js';
export { Model } from './genai/model.js';
export { Tokenizer, TokenizerStream } from './genai/tokenizer.js';
export type { ApplyChatTemplateOptions, DecodeOptions } from './genai/tokenizer.js';
export { Images } from './genai/images.js';
export { NamedTensors } from './genai/named-tensors.js';
export type { Tensor } from './genai/named-tensors.js';
export { MultiModalProcessor } from './genai/multimodal-processor.js';
export type { ProcessOptions } from './genai/multimodal-processor.js';
export { GeneratorParams } from './genai/generator-params.js';
export type { GenaiSearchOptions } from './genai/generator-params.js';
export { Generator, GENERATOR_OUTPUTS } from './genai/generator.js';
export type { GeneratorOutputName } from './genai/generator.js';
export { FOLDER_LAYOUTS, FOLDER_LAYOUT_NAMES, detectFolderLayout, loadFolderConfigs } from './folder-layouts/folder-layout.js';
export type { FolderLayout, FolderLayoutName } from './folder-layouts/folder-layout.js';
export { openModelFiles } from './folder-layouts/model-files.js';
export type { ModelFile, ModelFiles } from './folder-layouts/model-files.js';
export { GENAI_LAYOUT } from './folder-layouts/genai-layout.js';
export { QWEN_VL_LAYOUT } from './folder-layouts/qwen-vl-layout.js';
export { TRANSFORMERS_JS_LAYOUT } from './folder-layouts/transformers-js-layout.js';
export { AdaptedSession } from './folder-layouts/adapted-session.js';
export type { SessionNames } from './folder-layouts/adapted-session.js';
export { GENAI_CONFIG_FILE, GENAI_MODEL_FILES, GENAI_MODEL_TYPE, GENAI_PROCESSOR_FILE, genaiConfigJson, parseGenaiConfig } from './folder-layouts/genai-config.js';
export type { GenaiFolderConfig, GenaiGraph, GraphName } from './folder-layouts/genai-config.js';
export { GENAI_PROCESSOR_NAME, genaiPreprocessorConfig, genaiProcessorConfigJson } from './folder-layouts/genai-processor-config.js';
export {
  TRANSFORMERS_JS_CONFIG_KEY,
  TRANSFORMERS_JS_DTYPES,
  TRANSFORMERS_JS_DTYPE_SUFFIXES,
  TRANSFORMERS_JS_MODEL_DIR,
  TRANSFORMERS_JS_PARTS,
  transformersJsDataFiles,
  transformersJsModelFile,
} from './folder-layouts/transformers-js-files.js';
export type { TransformersJsDtype, TransformersJsDtypeChoice, TransformersJsModelName, TransformersJsPart } from './folder-layouts/transformers-js-files.js';
