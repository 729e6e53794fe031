export { resolveSearchOptions } from './generation/search-options.js';
export type { SearchOptions, SearchOptionsInput } from './generation/search-options.js';
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
