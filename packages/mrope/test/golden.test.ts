import { describe, expect, it } from 'vitest';
import { GOLDEN_CASES, goldenArray, goldenGrids, goldenJson, goldenModelConfig, numbers } from '@qwen-vl/test-support';
import { getRopeIndex } from '../src/index.js';

const config = goldenModelConfig();

describe.each(GOLDEN_CASES.map((goldenCase) => goldenCase.name))('golden case %s', (name) => {
  it('reproduces position_ids and rope_delta', () => {
    const ids = numbers(goldenArray(name, 'input_ids').data);
    const expected = goldenArray(name, 'position_ids');
    const ropeDelta = goldenJson(name).rope_delta;

    const result = getRopeIndex({
      inputIds: [ids],
      imageGridThw: goldenGrids(name),
      spatialMergeSize: config.vision.spatialMergeSize,
      tokensPerSecond: config.vision.tokensPerSecond,
      imageTokenId: config.imageTokenId,
      videoTokenId: config.videoTokenId,
      visionStartTokenId: config.visionStartTokenId,
    });

    expect(expected.dims).toEqual([3, ids.length]);
    expect(Array.from(result.positionIds)).toEqual(numbers(expected.data));
    expect(Array.from(result.ropeDeltas)).toEqual([ropeDelta]);
  });
});
