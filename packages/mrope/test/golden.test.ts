import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { decodeNpy, hostTensor, parseModelConfig } from '@qwen-vl/core';
import { getRopeIndex } from '../src/index.js';
import type { Grid } from '../src/index.js';

const golden = new URL('../../../testdata/golden/', import.meta.url);
const config = parseModelConfig(JSON.parse(readFileSync(new URL('tiny/model/config.json', golden), 'utf8')));

function npyNumbers(file: URL): { dims: readonly number[]; values: number[] } {
  const tensor = decodeNpy(new Uint8Array(readFileSync(file)), file.pathname);
  return { dims: tensor.dims, values: Array.from(tensor.data as ArrayLike<number | bigint>, Number) };
}

describe.each(['one_image', 'two_images', 'jpeg_downscale', 'text_only'])('golden case %s', (name) => {
  it('reproduces position_ids and rope_delta', () => {
    const ids = npyNumbers(new URL(`cases/${name}/input_ids.npy`, golden));
    const grid = npyNumbers(new URL(`cases/${name}/grid_thw.npy`, golden));
    const expected = npyNumbers(new URL(`cases/${name}/position_ids.npy`, golden));
    const { rope_delta: ropeDelta } = JSON.parse(readFileSync(new URL(`cases/${name}.json`, golden), 'utf8')) as { rope_delta: number };
    const grids: Grid[] = [];
    for (let i = 0; i < grid.dims[0]; i++) grids.push([grid.values[3 * i], grid.values[3 * i + 1], grid.values[3 * i + 2]]);

    // The processor's form: int32 [1, L] ids and the model config as parsed.
    const inputIds = hostTensor('int32', Int32Array.from(ids.values), [1, ids.values.length]);
    const result = getRopeIndex({ inputIds, imageGridThw: grids }, config);

    expect(expected.dims).toEqual([3, ids.values.length]);
    expect(Array.from(result.positionIds)).toEqual(expected.values);
    expect(Array.from(result.ropeDeltas)).toEqual([ropeDelta]);
  });
});
