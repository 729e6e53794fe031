import { describe, expect, it } from 'vitest';
import type { VisionConfig } from '@qwen-vl/core';
import { visionFeeds } from '../src/vision-inputs.js';
import { blockDiagonalMask, paddedSegments } from '../src/segment-layout.js';
import { MASKED } from '../src/graph-io.js';

// Window 56 px = 2 merged tokens a side (4×4 patches); head_dim 16, so 4 rotary frequencies
// 1, 0.1, 0.01, 0.001 for the rows and the same for the columns.
const config: VisionConfig = {
  depth: 2,
  hiddenSize: 32,
  intermediateSize: 64,
  numHeads: 2,
  outHiddenSize: 32,
  patchSize: 14,
  spatialMergeSize: 2,
  temporalPatchSize: 2,
  windowSize: 56,
  fullAttBlockIndexes: [1],
  tokensPerSecond: 2,
  inChannels: 3,
};

// Image 1: 2×3 merged tokens → windows {0,1,3,4} (16 patches) and {2,5} (8 patches);
// image 2: 1 merged token (4 patches). 28 patches in all.
const grids = [
  [1, 4, 6],
  [1, 2, 2],
] as const;
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);
const repeat = (value: number, count: number) => Array<number>(count).fill(value);
const numbers = (data: ArrayLike<number | bigint>) => Array.from(data, Number);

describe('paddedSegments', () => {
  it('pads every segment to the longest, pointing pad slots at the segment start', () => {
    const layout = paddedSegments([0, 16, 24, 28]);
    expect([layout.segments, layout.length]).toEqual([3, 16]);
    expect(numbers(layout.gather)).toEqual([...range(0, 16), ...range(16, 24), ...repeat(16, 8), ...range(24, 28), ...repeat(24, 12)]);
    expect(numbers(layout.scatter)).toEqual([...range(0, 24), ...range(32, 36)]);
    const maskRow = (s: number) => numbers(layout.mask.subarray(s * 16, (s + 1) * 16));
    expect(maskRow(0)).toEqual(repeat(0, 16));
    expect(maskRow(1)).toEqual([...repeat(0, 8), ...repeat(MASKED, 8)]);
    expect(maskRow(2)).toEqual([...repeat(0, 4), ...repeat(MASKED, 12)]);
  });

  it('rounds the slot count up to a multiple, padding every segment', () => {
    const layout = paddedSegments([0, 5, 7], 4);
    expect([layout.segments, layout.length]).toEqual([2, 8]);
    expect(numbers(layout.gather)).toEqual([...range(0, 5), ...repeat(0, 3), 5, 6, ...repeat(5, 6)]);
    expect(numbers(layout.scatter)).toEqual([...range(0, 5), 8, 9]);
    expect(numbers(layout.mask)).toEqual([...repeat(0, 5), ...repeat(MASKED, 3), 0, 0, ...repeat(MASKED, 6)]);
  });

  it('rejects empty segments and boundaries that do not start at 0', () => {
    expect(() => paddedSegments([0, 4, 4])).toThrow(/rise strictly/);
    expect(() => paddedSegments([2, 4])).toThrow(/start at 0/);
    expect(() => paddedSegments([0])).toThrow(/at least one segment/);
  });
});

describe('blockDiagonalMask', () => {
  it('lets each row see exactly its own segment', () => {
    const mask = blockDiagonalMask([0, 2, 5]);
    const rows = Array.from({ length: 5 }, (_, i) => numbers(mask.subarray(i * 5, (i + 1) * 5)).map((v) => (v === 0 ? 1 : 0)));
    expect(rows).toEqual([
      [1, 1, 0, 0, 0],
      [1, 1, 0, 0, 0],
      [0, 0, 1, 1, 1],
      [0, 0, 1, 1, 1],
      [0, 0, 1, 1, 1],
    ]);
    expect(Math.min(...mask)).toBe(MASKED);
  });
});

describe('visionFeeds', () => {
  const feeds = visionFeeds(grids, config);

  it('gives the window permutation of the merged tokens and its inverse', () => {
    expect(numbers(feeds.window_index.data)).toEqual([0, 1, 3, 4, 2, 5, 6]);
    expect(numbers(feeds.reverse_index.data)).toEqual([0, 1, 4, 2, 3, 5, 6]);
    expect([feeds.window_index.type, feeds.window_index.dims]).toEqual(['int64', [7]]);
  });

  it('segments windowed blocks by window and full blocks by image', () => {
    expect(feeds.window_mask.dims).toEqual([3, 1, 1, 16]);
    expect(numbers(feeds.window_scatter.data)).toEqual([...range(0, 24), ...range(32, 36)]);
    // Frames of 24 and 4 patches, in slots of 32: a multiple of the 16 query chunks.
    expect(feeds.full_mask.dims).toEqual([2, 1, 1, 32]);
    expect(numbers(feeds.full_gather.data)).toEqual([...range(0, 24), ...repeat(0, 8), ...range(24, 28), ...repeat(24, 28)]);
    expect(numbers(feeds.full_scatter.data)).toEqual([...range(0, 24), ...range(32, 36)]);
  });

  it('lays the rotary table out in window order, angles repeated over both head halves', () => {
    expect(feeds.rotary_cos.dims).toEqual([28, 16]);
    const row = (name: 'rotary_cos' | 'rotary_sin', r: number) => numbers((feeds[name].data as Float32Array).subarray(r * 16, (r + 1) * 16));
    // Row 16 starts window 2: merged token 2, i.e. patch row 0, column 4 of image 1.
    const angles16 = [0, 0, 0, 0, 4, 0.4, 0.04, 0.004];
    // Row 19 is that token's last patch: patch row 1, column 5.
    const angles19 = [1, 0.1, 0.01, 0.001, 5, 0.5, 0.05, 0.005];
    for (const [r, angles] of [
      [16, angles16],
      [19, angles19],
    ] as const) {
      const twice = [...angles, ...angles];
      row('rotary_cos', r).forEach((v, d) => expect(v).toBeCloseTo(Math.cos(twice[d]), 6));
      row('rotary_sin', r).forEach((v, d) => expect(v).toBeCloseTo(Math.sin(twice[d]), 6));
    }
    // Row 24 is image 2's first patch: position (0, 0) again.
    expect(row('rotary_cos', 24)).toEqual(repeat(1, 16));
    expect(row('rotary_sin', 24)).toEqual(repeat(0, 16));
  });

  it('gives N×N block masks instead for the dense layout', () => {
    const dense = visionFeeds(grids, config, { attention: 'dense-mask' });
    expect(Object.keys(dense).sort()).toEqual(['full_mask', 'reverse_index', 'rotary_cos', 'rotary_sin', 'window_index', 'window_mask']);
    const at = (name: string, i: number, j: number) => (dense[name].data as Float32Array)[i * 28 + j];
    expect(dense.window_mask.dims).toEqual([28, 28]);
    expect([at('window_mask', 20, 16), at('window_mask', 20, 23), at('window_mask', 20, 15), at('window_mask', 20, 24)]).toEqual([0, 0, MASKED, MASKED]);
    expect([at('full_mask', 20, 0), at('full_mask', 20, 23), at('full_mask', 20, 24), at('full_mask', 25, 27)]).toEqual([0, 0, MASKED, 0]);
  });

  it('has inputs only for the attention kinds the config uses', () => {
    const allFull = visionFeeds(grids, { ...config, fullAttBlockIndexes: [0, 1] });
    expect(Object.keys(allFull).filter((name) => name.startsWith('window_'))).toEqual(['window_index']);
    expect(allFull.full_mask).toBeDefined();
  });

  it('rejects a grid that is not whole merge blocks', () => {
    expect(() => visionFeeds([[1, 3, 4]], config)).toThrow(/multiples of spatialMergeSize/);
  });
});
