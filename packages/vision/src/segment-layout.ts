import { QwenVLError } from '@qwen-vl/core';
import { MASKED } from './graph-io.js';

/**
 * Block-diagonal attention as padded batches. Segment s holds rows `[cu[s], cu[s+1])`;
 * every segment gets `length` slots, the longest segment's count rounded up to a multiple
 * of `lengthMultiple`, and shorter ones are padded.
 */
export interface PaddedSegments {
  segments: number;
  length: number;
  /** `[segments · length]`: the row each slot reads. Pad slots read the segment's first row, so they compute harmless duplicates. */
  gather: BigInt64Array;
  /** `[segments, 1, 1, length]` additive key mask: 0 for real keys, a huge negative for pad keys. */
  mask: Float32Array;
  /** `[N]`: the slot that holds each row, where its result is picked up. */
  scatter: BigInt64Array;
}

function checkBoundaries(cu: ArrayLike<number>, source: string): void {
  if (cu.length < 2 || cu[0] !== 0) throw new QwenVLError('INVALID_ARGUMENT', 'must start at 0 and hold at least one segment', { source });
  for (let s = 0; s + 1 < cu.length; s++) {
    if (!(cu[s + 1] > cu[s])) {
      throw new QwenVLError('INVALID_ARGUMENT', `must rise strictly (no empty segment), got ${cu[s]} then ${cu[s + 1]}`, { source });
    }
  }
}

/**
 * Every segment has at least one real key (boundaries rise strictly), so no softmax row is
 * all pads and the masked keys get exactly zero weight. Pad slots past every segment's end
 * (rounding up to `lengthMultiple`) are queries whose results nothing picks up.
 */
export function paddedSegments(cu: ArrayLike<number>, lengthMultiple = 1): PaddedSegments {
  checkBoundaries(cu, 'paddedSegments cu');
  const segments = cu.length - 1;
  let longest = 0;
  for (let s = 0; s < segments; s++) longest = Math.max(longest, cu[s + 1] - cu[s]);
  const length = Math.ceil(longest / lengthMultiple) * lengthMultiple;
  const gather = new BigInt64Array(segments * length);
  const mask = new Float32Array(segments * length);
  const scatter = new BigInt64Array(cu[segments]);
  for (let s = 0; s < segments; s++) {
    const start = cu[s];
    const size = cu[s + 1] - start;
    for (let j = 0; j < length; j++) {
      const slot = s * length + j;
      if (j < size) {
        gather[slot] = BigInt(start + j);
        scatter[start + j] = BigInt(slot);
      } else {
        gather[slot] = BigInt(start);
        mask[slot] = MASKED;
      }
    }
  }
  return { segments, length, gather, mask, scatter };
}

/** `[N, N]` additive mask: 0 where query and key share a segment. Quadratic: for comparisons only. */
export function blockDiagonalMask(cu: ArrayLike<number>): Float32Array {
  checkBoundaries(cu, 'blockDiagonalMask cu');
  const rows = cu[cu.length - 1];
  const mask = new Float32Array(rows * rows).fill(MASKED);
  for (let s = 0; s + 1 < cu.length; s++) {
    for (let i = cu[s]; i < cu[s + 1]; i++) mask.fill(0, i * rows + cu[s], i * rows + cu[s + 1]);
  }
  return mask;
}
