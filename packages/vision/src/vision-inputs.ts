import { hostTensor, toBigInt64 } from '@qwen-vl/core';
import type { HostTensor, VisionConfig } from '@qwen-vl/core';
import { reorderRows, visionRotaryAngles, windowIndex } from '@qwen-vl/mrope';
import type { Grid } from '@qwen-vl/mrope';
import { FULL_ATTENTION_QUERY_CHUNKS, VISION_INPUTS, attentionInputs, usedAttentionKinds } from './graph-io.js';
import type { AttentionLayout } from './graph-io.js';
import { blockDiagonalMask, paddedSegments } from './segment-layout.js';

export interface VisionFeedOptions {
  /** Must match the graph's; default `segmented`. */
  attention?: AttentionLayout;
}

/**
 * `[N, headDim]` cos and sin of `concat(angles, angles)`, the rotary table in the row order
 * the blocks see (window order). Computed in float64 from the float32 angles and rounded
 * once, as torch's float32 cos/sin are.
 */
function rotaryTables(angles: Float32Array, rows: number, headDim: number): { cos: Float32Array; sin: Float32Array } {
  const half = headDim / 2;
  const cos = new Float32Array(rows * headDim);
  const sin = new Float32Array(rows * headDim);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < half; j++) {
      const angle = angles[r * half + j];
      const c = Math.cos(angle);
      const s = Math.sin(angle);
      cos[r * headDim + j] = c;
      cos[r * headDim + half + j] = c;
      sin[r * headDim + j] = s;
      sin[r * headDim + half + j] = s;
    }
  }
  return { cos, sin };
}

/**
 * Everything the vision graph takes besides `pixel_values`, for the images `grids` (one
 * `(t, h, w)` per image, in the order their rows appear in `pixel_values`): the rotary
 * table, the window permutation and its inverse, and per attention kind the segments that
 * the blocks attend within (windows for windowed blocks, one per frame of each image for
 * full ones).
 */
export function visionFeeds(grids: readonly Grid[], config: VisionConfig, options: VisionFeedOptions = {}): Record<string, HostTensor> {
  const attention = options.attention ?? 'segmented';
  const headDim = config.hiddenSize / config.numHeads;
  const unit = config.spatialMergeSize ** 2;
  const windows = windowIndex(grids, config);
  const rows = windows.windowIndex.length * unit;
  const angles = reorderRows(visionRotaryAngles(grids, { headDim, spatialMergeSize: config.spatialMergeSize }), headDim / 2, unit, windows.windowIndex);
  const { cos, sin } = rotaryTables(angles, rows, headDim);
  const tokens = windows.windowIndex.length;
  const feeds: Record<string, HostTensor> = {
    [VISION_INPUTS.rotaryCos]: hostTensor('float32', cos, [rows, headDim]),
    [VISION_INPUTS.rotarySin]: hostTensor('float32', sin, [rows, headDim]),
    [VISION_INPUTS.windowIndex]: hostTensor('int64', toBigInt64(windows.windowIndex), [tokens]),
    [VISION_INPUTS.reverseIndex]: hostTensor('int64', toBigInt64(windows.reverseIndex), [tokens]),
  };
  for (const kind of usedAttentionKinds(config)) {
    const cu = kind === 'window' ? windows.cuWindowSeqlens : windows.cuSeqlens;
    const names = attentionInputs(kind);
    if (attention === 'dense-mask') {
      feeds[names.mask] = hostTensor('float32', blockDiagonalMask(cu), [rows, rows]);
      continue;
    }
    const layout = paddedSegments(cu, kind === 'full' ? FULL_ATTENTION_QUERY_CHUNKS : 1);
    feeds[names.gather] = hostTensor('int64', layout.gather, [layout.segments * layout.length]);
    feeds[names.mask] = hostTensor('float32', layout.mask, [layout.segments, 1, 1, layout.length]);
    feeds[names.scatter] = hostTensor('int64', layout.scatter, [rows]);
  }
  return feeds;
}
