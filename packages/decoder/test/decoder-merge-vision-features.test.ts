import { describe, expect, it } from 'vitest';
import { hostTensor, isQwenVLError } from '@qwen-vl/core';
import { mergeVisionFeatures } from '../src/index.js';

const IMAGE = 151655;
const VIDEO = 151656;
const config = { imageTokenId: IMAGE, videoTokenId: VIDEO };

/** Embedding of token position p, feature h: 100·p + h, so every value names its origin. */
function embeds(batch: number, length: number, hidden: number) {
  return hostTensor(
    'float32',
    Float32Array.from({ length: batch * length * hidden }, (_, i) => 100 * Math.floor(i / hidden) + (i % hidden)),
    [batch, length, hidden],
  );
}

describe('mergeVisionFeatures', () => {
  it('puts feature row k at the k-th pad token, row-major over the batch, images and videos separately', () => {
    // Row 0: [text, IMAGE, VIDEO]; row 1: [IMAGE, text, IMAGE].
    const ids = hostTensor('int32', Int32Array.of(7, IMAGE, VIDEO, IMAGE, 8, IMAGE), [2, 3]);
    const images = hostTensor('float32', Float32Array.of(-1, -2, -3, -4, -5, -6), [3, 2]);
    const videos = hostTensor('float32', Float32Array.of(-7, -8), [1, 2]);
    const input = embeds(2, 3, 2);
    const merged = mergeVisionFeatures(input, ids, images, videos, config);
    expect(merged.dims).toEqual([2, 3, 2]);
    expect(Array.from(merged.data)).toEqual([0, 1, -1, -2, -7, -8, -3, -4, 400, 401, -5, -6]);
    // The input is left as it was.
    expect(Array.from(input.data)).toEqual([0, 1, 100, 101, 200, 201, 300, 301, 400, 401, 500, 501]);
  });

  it('leaves a text-only prompt unchanged', () => {
    const ids = hostTensor('int32', Int32Array.of(1, 2), [1, 2]);
    expect(Array.from(mergeVisionFeatures(embeds(1, 2, 3), ids, undefined, undefined, config).data)).toEqual([0, 1, 2, 100, 101, 102]);
  });

  it('throws PLACEHOLDER_MISMATCH naming both counts when tokens and feature rows differ', () => {
    const ids = hostTensor('int32', Int32Array.of(IMAGE, IMAGE, 5), [1, 3]);
    const catchError = (run: () => unknown) => {
      try {
        run();
      } catch (e) {
        return e;
      }
    };
    const tooFew = catchError(() => mergeVisionFeatures(embeds(1, 3, 2), ids, hostTensor('float32', new Float32Array(2), [1, 2]), undefined, config));
    expect(isQwenVLError(tooFew, 'PLACEHOLDER_MISMATCH')).toBe(true);
    expect((tooFew as Error).message).toBe('mergeVisionFeatures imageFeatures: input_ids hold 2 <|image_pad|> tokens but 1 image feature rows were given; they must be equal');

    const missing = catchError(() => mergeVisionFeatures(embeds(1, 3, 2), ids, undefined, undefined, config));
    expect((missing as Error).message).toContain('2 <|image_pad|> tokens but 0 image feature rows');

    const strayVideo = catchError(() => mergeVisionFeatures(embeds(1, 3, 2), ids, hostTensor('float32', new Float32Array(4), [2, 2]), hostTensor('float32', new Float32Array(2), [1, 2]), config));
    expect(isQwenVLError(strayVideo, 'PLACEHOLDER_MISMATCH')).toBe(true);
    expect((strayVideo as Error).message).toContain('0 <|video_pad|> tokens but 1 video feature rows');
  });

  it('rejects features of another width and ids of another shape', () => {
    const ids = hostTensor('int32', Int32Array.of(IMAGE, 5), [1, 2]);
    expect(() => mergeVisionFeatures(embeds(1, 2, 2), ids, hostTensor('float32', new Float32Array(3), [1, 3]), undefined, config)).toThrow('must be [n, 2] (the embedding width), got [1, 3]');
    expect(() => mergeVisionFeatures(embeds(1, 2, 2), hostTensor('int32', Int32Array.of(IMAGE, 5), [2, 1]), undefined, undefined, config)).toThrow('must be [B, S] of inputs_embeds');
  });
});
