import { describe, expect, it } from 'vitest';
import { reorderRows, windowIndex } from '../src/index.js';
import type { Grid } from '../src/index.js';

const opts = { windowSize: 112, patchSize: 14, spatialMergeSize: 2 };
const range = (from: number, count: number): number[] => Array.from({ length: count }, (_, i) => from + i);
const diffs = (cu: Int32Array): number[] => Array.from(cu.subarray(1), (v, i) => v - cu[i]);

/** Merged-token ids of the window covering rows r0.. and cols c0.. of an `lw`-wide grid (raster order inside). */
function windowTokens(lw: number, rows: number[], cols: number[], offset = 0): number[] {
  return rows.flatMap((r) => cols.map((c) => offset + r * lw + c));
}

describe('windowIndex', () => {
  it('cuts the spec example (476×644 → grid 34×46) into 30 windows of 16/12/4/3 merged tokens', () => {
    const { windowIndex: order, cuWindowSeqlens, cuSeqlens } = windowIndex([[1, 34, 46]], opts);
    // 17×23 merged tokens: 4 full window rows + 1 row, 5 full window cols + 3 cols.
    const sizes = [...Array<number[]>(4).fill([16, 16, 16, 16, 16, 12]).flat(), 4, 4, 4, 4, 4, 3];
    expect(cuWindowSeqlens.length).toBe(31);
    expect(diffs(cuWindowSeqlens)).toEqual(sizes.map((s) => s * 4));
    expect(Array.from(order.subarray(0, 16))).toEqual(windowTokens(23, range(0, 4), range(0, 4)));
    expect(Array.from(order.subarray(80, 92))).toEqual(windowTokens(23, range(0, 4), [20, 21, 22]));
    expect(Array.from(order.subarray(388))).toEqual(windowTokens(23, [16], [20, 21, 22]));
    expect(Array.from(cuSeqlens)).toEqual([0, 34 * 46]);
  });

  it('drops the empty extra windows of sides divisible by 4 (merged 8×8)', () => {
    // Padding adds a full 4 to each side: 3×3 windows, of which only the top-left 2×2 hold
    // tokens. Unfiltered boundaries would be 0,64,128,128,192,256,256,256,256,256.
    const { windowIndex: order, cuWindowSeqlens } = windowIndex([[1, 16, 16]], opts);
    expect(Array.from(cuWindowSeqlens)).toEqual([0, 64, 128, 192, 256]);
    expect(Array.from(order)).toEqual([
      ...windowTokens(8, range(0, 4), range(0, 4)),
      ...windowTokens(8, range(0, 4), range(4, 4)),
      ...windowTokens(8, range(4, 4), range(0, 4)),
      ...windowTokens(8, range(4, 4), range(4, 4)),
    ]);
  });

  it('windows each temporal slice and each image separately, offsetting token ids', () => {
    // A video of 2 slices of 4×12 patches (2×6 merged: windows of 2×4 and 2×2 tokens) and an
    // 8×8-patch image (4×4 merged: one full window plus empty padding windows).
    const grids: Grid[] = [
      [2, 4, 12],
      [1, 8, 8],
    ];
    const result = windowIndex(grids, opts);
    const slice = (offset: number) => [...windowTokens(6, [0, 1], range(0, 4), offset), ...windowTokens(6, [0, 1], [4, 5], offset)];
    expect(Array.from(result.windowIndex)).toEqual([...slice(0), ...slice(12), ...range(24, 16)]);
    expect(Array.from(result.cuWindowSeqlens)).toEqual([0, 32, 48, 80, 96, 160]);
    expect(Array.from(result.cuSeqlens)).toEqual([0, 48, 96, 160]);
  });

  it('splits full attention per temporal slice: video t=2 and two images', () => {
    const { cuSeqlens } = windowIndex(
      [
        [2, 16, 16],
        [1, 4, 6],
        [1, 34, 46],
      ],
      opts,
    );
    expect(Array.from(cuSeqlens)).toEqual([0, 256, 512, 536, 536 + 1564]);
  });

  it('has reverseIndex ∘ windowIndex = identity', () => {
    for (const grids of [
      [[1, 34, 46]],
      [
        [2, 16, 16],
        [1, 4, 6],
      ],
      [[3, 20, 12]],
    ] as Grid[][]) {
      const { windowIndex: order, reverseIndex } = windowIndex(grids, opts);
      expect(Array.from(order, (token) => reverseIndex[token])).toEqual(range(0, order.length));
      expect(Array.from(reverseIndex, (position) => order[position])).toEqual(range(0, order.length));
    }
  });
});

describe('reorderRows', () => {
  it('moves whole groups of rows and the reverse index restores them', () => {
    // 3 groups of 2 rows of 2 floats; value = 10 · row + column.
    const rows = Float32Array.from({ length: 12 }, (_, i) => 10 * Math.floor(i / 2) + (i % 2));
    const order = Int32Array.from([2, 0, 1]);
    const moved = reorderRows(rows, 2, 2, order);
    expect(Array.from(moved)).toEqual([40, 41, 50, 51, 0, 1, 10, 11, 20, 21, 30, 31]);
    expect(Array.from(reorderRows(moved, 2, 2, Int32Array.from([1, 2, 0])))).toEqual(Array.from(rows));
  });

  it('round-trips patch rows through a real window index', () => {
    const { windowIndex: order, reverseIndex } = windowIndex([[1, 34, 46]], opts);
    const rows = Float32Array.from({ length: 34 * 46 * 3 }, (_, i) => i);
    const windowed = reorderRows(rows, 3, 4, order);
    // Group g of the windowed rows is merged token order[g]: its first float is 12 · order[g].
    expect(windowed[12 * 20]).toBe(12 * order[20]);
    const merged = reorderRows(windowed, 12, 1, reverseIndex);
    expect(Array.from(merged)).toEqual(Array.from(rows));
  });

  it('rejects a size mismatch', () => {
    expect(() => reorderRows(new Float32Array(10), 2, 2, Int32Array.from([0, 1, 2]))).toThrow(/10 floats/);
  });
});
