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
export { DECODER_IO, EMBED_IO, pastKeyName, pastValueName, presentKeyName, presentValueName } from './runtime/io-names.js';
export { mergeVisionFeatures } from './runtime/merge-vision-features.js';
export { DecoderSession } from './runtime/decoder-session.js';
export { rotaryFeeds } from './runtime/rotary-feeds.js';
export type { DecoderSessionOptions, PrefillInput, PromptPositions } from './runtime/decoder-session.js';
export { decoderDeviceOutputs } from './runtime/decoder-session.js';
export { Generator } from './generation/generator.js';
export type {
  GenerationControl,
  GenerationResult,
  GenerationSession,
  GenerationStreamEvent,
  GeneratorOptions,
  PreparedPrompt,
  PromptTokens,
  RowResult,
} from './generation/generator.js';
export type { Clock, GenerationTimings } from './generation/generation-timings.js';
export { tokenLogprob } from './generation/token-logprob.js';
export { defaultClock } from './generation/generation-timings.js';
export { columnRange } from './runtime/column-range.js';
