import { describe, expect, it } from 'vitest';
import { visionRotaryAngles } from '../src/index.js';

// A 4×4 patch grid in pixel-row order: merge blocks in raster order, 2×2 patches inside.
const H_4X4 = [0, 0, 1, 1, 0, 0, 1, 1, 2, 2, 3, 3, 2, 2, 3, 3];
const W_4X4 = [0, 1, 0, 1, 2, 3, 2, 3, 0, 1, 0, 1, 2, 3, 2, 3];

/** Expected row: h · theta^(−2j/dim) for the first half, w · the same for the second (dim = headDim / 2). */
function expectedRow(h: number, w: number, headDim: number): number[] {
  const dim = headDim / 2;
  const freqs = Array.from({ length: dim / 2 }, (_, j) => Math.pow(10000, (-2 * j) / dim));
  return [...freqs.map((f) => h * f), ...freqs.map((f) => w * f)];
}

function expectRows(actual: Float32Array, expected: number[][]): void {
  const flat = expected.flat();
  expect(actual.length).toBe(flat.length);
  const worst = flat.reduce((max, v, i) => Math.max(max, Math.abs(actual[i] - v) / Math.max(1, Math.abs(v))), 0);
  expect(worst).toBeLessThan(1e-6);
}

describe('visionRotaryAngles', () => {
  it('lists h angles then w angles per patch in merge-block order (4×4 grid, head dim 16)', () => {
    // Head dim 16 → 8 rotary columns, frequencies 1, 0.1, 0.01, 0.001.
    const angles = visionRotaryAngles([[1, 4, 4]], { headDim: 16, spatialMergeSize: 2 });
    expectRows(
      angles,
      H_4X4.map((h, i) => expectedRow(h, W_4X4[i], 16)),
    );
  });

  it('repeats a grid per temporal step and concatenates grids (head dim 80)', () => {
    const angles = visionRotaryAngles(
      [
        [2, 4, 4],
        [1, 2, 2],
      ],
      { headDim: 80, spatialMergeSize: 2 },
    );
    const grid4 = H_4X4.map((h, i) => expectedRow(h, W_4X4[i], 80));
    const grid2 = [
      [0, 0],
      [0, 1],
      [1, 0],
      [1, 1],
    ].map(([h, w]) => expectedRow(h, w, 80));
    expectRows(angles, [...grid4, ...grid4, ...grid2]);
  });

  it('rejects a grid that is not whole merge blocks', () => {
    expect(() => visionRotaryAngles([[1, 4, 5]], { headDim: 80, spatialMergeSize: 2 })).toThrow(/grids\[0\]/);
  });
});
