import { describe, expect, it } from 'vitest';
import { hostTensor } from '@qwen-vl/core';
import { GOLDEN_CASES, goldenArray, goldenGrids, goldenJson, goldenModelConfig, numbers } from '@qwen-vl/test-support';
import { getRopeIndex } from '../src/index.js';

const config = goldenModelConfig();

describe.each(GOLDEN_CASES.map((goldenCase) => goldenCase.name))('golden case %s', (name) => {
  it('reproduces position_ids and rope_delta', () => {
    const ids = numbers(goldenArray(name, 'input_ids').data);
    const expected = goldenArray(name, 'position_ids');
    const ropeDelta = goldenJson(name).rope_delta;

    // The processor's form: int32 [1, L] ids and the model config as parsed.
    const inputIds = hostTensor('int32', Int32Array.from(ids), [1, ids.length]);
    const result = getRopeIndex({ inputIds, imageGridThw: goldenGrids(name) }, config);

    expect(expected.dims).toEqual([3, ids.length]);
    expect(Array.from(result.positionIds)).toEqual(numbers(expected.data));
    expect(Array.from(result.ropeDeltas)).toEqual([ropeDelta]);
  });
});
