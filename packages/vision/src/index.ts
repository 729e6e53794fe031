export { visionFeeds } from './vision-inputs.js';
export type { VisionFeedOptions } from './vision-inputs.js';
export { VisionEncoder } from './vision-encoder.js';
export type { VisionEncoderOptions, VisionFeatures } from './vision-encoder.js';
export { FULL_ATTENTION_QUERY_CHUNKS, MASKED, VISION_GRID_INPUTS, VISION_INPUTS, VISION_OUTPUT, attentionInputs, blockAttentionKind, usedAttentionKinds, visionInputNames } from './graph-io.js';
export type { AttentionKind, AttentionLayout } from './graph-io.js';
export { blockDiagonalMask, paddedSegments } from './segment-layout.js';
export type { PaddedSegments } from './segment-layout.js';
