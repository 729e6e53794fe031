export { resolveSearchOptions } from './generation/search-options.js';
export type { SearchOptionNames, SearchOptions, SearchOptionsInput } from './generation/search-options.js';
export {
  applyMinLength,
  applyRepetitionPenalty,
  applyTemperature,
  argmax,
  logSoftmax,
  processLogits,
  softmax,
  topKFilter,
  topPFilter,
} from './generation/logits-processors.js';
export { Xoshiro128, createRandomSource, sampleToken } from './generation/sampler.js';
export type { RandomSource } from './generation/sampler.js';
export { IncrementalDetokenizer } from './generation/detokenizer.js';
export type { DecodeTokens } from './generation/detokenizer.js';
export { StopStringMatcher } from './generation/stop-strings.js';
export { finishReason } from './generation/stopping.js';
export type { AbortFlag, FinishReason, RowProgress, StoppingOptions } from './generation/stopping.js';
export { buildDecoderModel } from './export/decoder-graph.js';
export type { TextExportOptions } from './export/decoder-graph.js';
export { buildEmbedModel } from './export/embed-graph.js';
export { WEIGHT_PRECISIONS } from './export/checkpoint-weights.js';
export type { WeightPrecision } from './export/checkpoint-weights.js';
export { DECODER_IO, EMBED_IO, pastKeyName, pastValueName, presentKeyName, presentValueName } from './export/io-names.js';
export { mergeVisionFeatures } from './runtime/merge-vision-features.js';
export { DecoderSession } from './runtime/decoder-session.js';
export { rotaryFeeds } from './runtime/rotary-feeds.js';
export type { DecoderSessionOptions, PrefillInput } from './runtime/decoder-session.js';
export { decoderDeviceOutputs } from './runtime/decoder-session.js';
export { Generator } from './generation/generator.js';
export type {
  GenerationControl,
  GenerationResult,
  GenerationSession,
  GenerationStreamEvent,
  GeneratorOptions,
  PreparedPrompt,
  RowResult,
} from './generation/generator.js';
export type { Clock, GenerationTimings } from './generation/generation-timings.js';
export { tokenLogprob } from './generation/token-logprob.js';
export { VisionLanguageModel } from './pipeline/vision-language-model.js';
export { HostedChatModel } from './pipeline/hosted-chat-model.js';
export type {
  ChatChunk,
  ChatOptions,
  ChatResult,
  ChatStream,
  ChatTimings,
  HostChatMessage,
  ImageDecodeOptions,
  VisionLanguageModelHost,
} from './pipeline/vision-language-model.js';
export { PromptPreparer } from './pipeline/prompt-preparer.js';
export type { PreparedModelInputs } from './pipeline/prompt-preparer.js';
export { chatMediaItems, withSystemPrompt } from './pipeline/chat-messages.js';
export type { ChatImageItem, ChatMediaItems, ChatVideoItem } from './pipeline/chat-messages.js';
export { BUILT_MODEL_FILES, FORMAT_VERSION, MANIFEST_FILE, externalDataFile, manifestDataFiles, readBuildManifest } from './pipeline/built-model-files.js';
export type { BuildManifest, ManifestPart } from './pipeline/built-model-files.js';
export { openTextModel, openVisionModel } from './pipeline/model-sessions.js';
export type { ModelSessionOptions } from './pipeline/model-sessions.js';
export { ResultStream } from './pipeline/result-stream.js';
export { OrtSessionAdapter } from './runtime/ort-session-adapter.js';
export type { OrtSessionLike } from './runtime/ort-session-adapter.js';
export { OrtDeviceTensor, downloadOrtTensor, fromOrtTensor } from './runtime/ort-tensors.js';
export type { OrtRuntime, OrtTensorLike } from './runtime/ort-tensors.js';
