import { describe, expect, it } from 'vitest';
import { getRopeIndex } from '../src/index.js';
import type { Grid, RopeIndexConfig, RopeIndexInputs, TokenMatrix } from '../src/index.js';
import { expectQwenVLError } from '@qwen-vl/test-support';

// Token ids of the released checkpoints (and of the tiny golden model).
const VISION_START = 151652;
const VISION_END = 151653;
const IMAGE = 151655;
const VIDEO = 151656;
const PAD = 151643;

const config: RopeIndexConfig = { imageTokenId: IMAGE, videoTokenId: VIDEO, visionStartTokenId: VISION_START, vision: { spatialMergeSize: 2, tokensPerSecond: 2 } };

/** `count` ordinary text tokens (their ids do not matter to positions). */
const text = (count: number): number[] => Array.from({ length: count }, (_, i) => 1000 + i);
const visionBlock = (pad: number, count: number): number[] => [VISION_START, ...Array<number>(count).fill(pad), VISION_END];

/** Rows of one length as a row-major `[B, L]` matrix (any length-B list of rows gives `[B, first row's length]`). */
const matrix = (rows: readonly (readonly number[])[]): TokenMatrix => ({ dims: [rows.length, rows[0]?.length ?? 0], data: rows.flat() });

/** The inputs with their ids and mask as lists of rows, and the config's tokens per second. */
interface RowInputs extends Omit<RopeIndexInputs, 'inputIds' | 'attentionMask'> {
  inputIds: number[][];
  attentionMask?: number[][];
  tokensPerSecond?: number;
}

function run({ inputIds, attentionMask, tokensPerSecond = 2, ...grids }: RowInputs) {
  const inputs = { ...grids, inputIds: matrix(inputIds), attentionMask: attentionMask && matrix(attentionMask) };
  return getRopeIndex(inputs, { ...config, vision: { ...config.vision, tokensPerSecond } });
}

/** Rows `[t, h, w]` of batch row `b`, as plain arrays. */
function rowsOf(result: ReturnType<typeof getRopeIndex>, b = 0): number[][] {
  const { positionIds, batch, length } = result;
  return [0, 1, 2].map((r) => Array.from(positionIds.subarray((r * batch + b) * length, (r * batch + b + 1) * length)));
}

const range = (from: number, count: number): number[] => Array.from({ length: count }, (_, i) => from + i);

describe('getRopeIndex, images', () => {
  it('reproduces the worked example of the spec (476×644 image, delta −368)', () => {
    // 14 prompt tokens, <|vision_start|> at index 14, 17×23 = 391 image tokens, <|vision_end|>, 5 tokens.
    const inputIds = [...text(14), ...visionBlock(IMAGE, 391), ...text(5)];
    const result = run({ inputIds: [inputIds], imageGridThw: [[1, 34, 46]] });
    const [t, h, w] = rowsOf(result);

    for (const row of [t, h, w]) expect(row.slice(0, 15)).toEqual(range(0, 15));
    const image = { t: t.slice(15, 406), h: h.slice(15, 406), w: w.slice(15, 406) };
    expect(new Set(image.t)).toEqual(new Set([15]));
    expect(image.h).toEqual(range(15, 17).flatMap((y) => Array<number>(23).fill(y)));
    expect(image.w).toEqual(range(0, 17).flatMap(() => range(15, 23)));
    for (const row of [t, h, w]) expect(row.slice(406)).toEqual(range(38, 6));
    expect(Array.from(result.ropeDeltas)).toEqual([-368]);
  });

  it('places two images one after the other, each starting after the previous maximum', () => {
    // Grids [1,4,6] (2×3 merged) and [1,2,2] (1 merged token).
    const inputIds = [...text(2), ...visionBlock(IMAGE, 6), ...text(1), ...visionBlock(IMAGE, 1), ...text(1)];
    const result = run({
      inputIds: [inputIds],
      imageGridThw: [
        [1, 4, 6],
        [1, 2, 2],
      ],
    });
    // text 0 1, vs 2, image at base 3 (h 3..4, w 3..5), ve 6, text 7, vs 8, image base 9, ve 10, text 11.
    expect(rowsOf(result)).toEqual([
      [0, 1, 2, 3, 3, 3, 3, 3, 3, 6, 7, 8, 9, 10, 11],
      [0, 1, 2, 3, 3, 3, 4, 4, 4, 6, 7, 8, 9, 10, 11],
      [0, 1, 2, 3, 4, 5, 3, 4, 5, 6, 7, 8, 9, 10, 11],
    ]);
    expect(Array.from(result.ropeDeltas)).toEqual([12 - 15]);
  });
});

describe('getRopeIndex, padded batch', () => {
  const rowA = [...text(2), ...visionBlock(IMAGE, 6), ...text(1)];
  const rowB = [...text(2), ...visionBlock(IMAGE, 1), ...text(2)];
  const padding = rowA.length - rowB.length;
  const batch = run({
    inputIds: [rowA, [...Array<number>(padding).fill(PAD), ...rowB]],
    attentionMask: [rowA.map(() => 1), [...Array<number>(padding).fill(0), ...rowB.map(() => 1)]],
    imageGridThw: [
      [1, 4, 6],
      [1, 2, 2],
    ],
  });

  it('gives each row the positions it has alone, with padded slots at 1', () => {
    const aloneA = run({ inputIds: [rowA], imageGridThw: [[1, 4, 6]] });
    const aloneB = run({ inputIds: [rowB], imageGridThw: [[1, 2, 2]] });
    expect(rowsOf(batch, 0)).toEqual(rowsOf(aloneA));
    const paddedB = rowsOf(batch, 1);
    for (let r = 0; r < 3; r++) {
      expect(paddedB[r].slice(0, padding)).toEqual(Array<number>(padding).fill(1));
      expect(paddedB[r].slice(padding)).toEqual(rowsOf(aloneB)[r]);
    }
    // Hand check of row B: text 0 1, vs 2, the single image token at (3,3,3), ve 4, text 5 6.
    expect(rowsOf(aloneB)[0]).toEqual([0, 1, 2, 3, 4, 5, 6]);
  });

  it('counts padding in the delta', () => {
    // Row A: max 7, length 11. Row B: max 6, padded length 11 (alone: length 7, delta 0).
    expect(Array.from(batch.ropeDeltas)).toEqual([8 - 11, 7 - 11]);
  });

  it('walks the image grids across rows with one global counter', () => {
    // Swapping the grids makes row A's 6 placeholders meet the 1-token grid.
    expectQwenVLError(
      () =>
        run({
          inputIds: [rowA, [...Array<number>(padding).fill(PAD), ...rowB]],
          attentionMask: [rowA.map(() => 1), [...Array<number>(padding).fill(0), ...rowB.map(() => 1)]],
          imageGridThw: [
            [1, 2, 2],
            [1, 4, 6],
          ],
        }),
      'PLACEHOLDER_MISMATCH',
      /row 0: image 0 has 6 <\|image_pad\|> tokens but its grid \[1, 2, 2\] needs 1/,
    );
  });
});

describe('getRopeIndex, videos', () => {
  // Grid [t, 4, 4]: 2×2 merged tokens per temporal step.
  const video = (t: number) => [...text(1), ...visionBlock(VIDEO, 4 * t), ...text(1)];
  const tRow = (grid: Grid, secondPerGridT?: number[], tokensPerSecond = 2) => rowsOf(run({ inputIds: [video(grid[0])], videoGridThw: [grid], secondPerGridT, tokensPerSecond }))[0];

  it('spaces temporal steps by second_per_grid_t · tokens_per_second', () => {
    // Base 2 (text 0, vision_start 1); each step holds 4 tokens.
    const steps = (values: number[]) => values.flatMap((v) => Array<number>(4).fill(2 + v));
    // 0.5 s per step at 2 tokens/s: T = floor(t · 0.5 · 2) = t.
    expect(tRow([2, 4, 4], [0.5])).toEqual([0, 1, ...steps([0, 1]), 4, 5]);
    // 1.0 s per step: T = 0, 2; the block then ends at 2 + 2, so vision_end is 5.
    expect(tRow([2, 4, 4], [1.0])).toEqual([0, 1, ...steps([0, 2]), 5, 6]);
    expect(tRow([3, 4, 4], [0.5])).toEqual([0, 1, ...steps([0, 1, 2]), 5, 6]);
    expect(tRow([3, 4, 4], [1.0])).toEqual([0, 1, ...steps([0, 2, 4]), 7, 8]);
    // No second_per_grid_t means 1.0.
    expect(tRow([3, 4, 4])).toEqual(tRow([3, 4, 4], [1.0]));
    // 0.75 s per step: 0, 1.5, 3 floor to 0, 1, 3 (the float product is floored, not the factor).
    expect(tRow([3, 4, 4], [0.75])).toEqual([0, 1, ...steps([0, 1, 3]), 6, 7]);
  });

  it('floors the float32 product as torch does', () => {
    // 7 · (31/14) · 2 is 31 exactly, but in float32 (numpy: np.float32(np.float32(7) *
    // np.float32(31/14)) * np.float32(2) = 30.999998) it floors to 30, as the float32
    // tensor arithmetic of Hugging Face does.
    const t = tRow([8, 4, 4], [31 / 14]);
    expect(t[2 + 7 * 4]).toBe(2 + 30);
  });

  it('mixes images and a video in one prompt, each from its own grid list', () => {
    const inputIds = [...visionBlock(IMAGE, 1), ...visionBlock(VIDEO, 2), ...visionBlock(IMAGE, 2)];
    const result = run({
      inputIds: [inputIds],
      imageGridThw: [
        [1, 2, 2],
        [1, 2, 4],
      ],
      videoGridThw: [[2, 2, 2]],
      secondPerGridT: [1.0],
    });
    // vs 0, image (1,1,1), ve 2, vs 3, video base 4 with T 0 and 2, ve 7, vs 8, image base 9 (w 9,10), ve 11.
    expect(rowsOf(result)).toEqual([
      [0, 1, 2, 3, 4, 6, 7, 8, 9, 9, 11],
      [0, 1, 2, 3, 4, 4, 7, 8, 9, 9, 11],
      [0, 1, 2, 3, 4, 4, 7, 8, 9, 10, 11],
    ]);
    expect(Array.from(result.ropeDeltas)).toEqual([12 - 11]);
  });
});

describe('getRopeIndex, text only', () => {
  it('is arange with delta 0 without a mask', () => {
    const result = run({ inputIds: [text(5), text(5)] });
    expect(rowsOf(result, 1)).toEqual([range(0, 5), range(0, 5), range(0, 5)]);
    expect(Array.from(result.ropeDeltas)).toEqual([0, 0]);
  });

  it('is cumsum(mask) − 1 with padded slots at 1', () => {
    const result = run({
      inputIds: [text(5), text(5)],
      attentionMask: [
        [1, 1, 1, 1, 1],
        [0, 0, 1, 1, 1],
      ],
    });
    expect(rowsOf(result, 1)[2]).toEqual([1, 1, 0, 1, 2]);
    expect(Array.from(result.ropeDeltas)).toEqual([0, 3 - 5]);
  });

  it('takes the delta over the padded 1s too, as Hugging Face does', () => {
    const result = run({ inputIds: [text(4)], attentionMask: [[0, 0, 0, 1]] });
    expect(rowsOf(result)[0]).toEqual([1, 1, 1, 0]);
    expect(Array.from(result.ropeDeltas)).toEqual([2 - 4]);
  });
});

describe('getRopeIndex, errors', () => {
  it('rejects more image placeholders than grids, naming both counts', () => {
    const inputIds = [...visionBlock(IMAGE, 1), ...visionBlock(IMAGE, 1)];
    expectQwenVLError(() => run({ inputIds: [inputIds], imageGridThw: [[1, 2, 2]] }), 'PLACEHOLDER_MISMATCH', /2 images .* but 1 image grids/);
  });

  it('rejects grids without placeholders', () => {
    expectQwenVLError(() => run({ inputIds: [text(3)], videoGridThw: [[1, 2, 2]] }), 'PLACEHOLDER_MISMATCH', /0 videos .* but 1 video grids/);
  });

  it('rejects a pad run shorter than its grid', () => {
    const inputIds = [...visionBlock(IMAGE, 3)];
    expectQwenVLError(() => run({ inputIds: [inputIds], imageGridThw: [[1, 4, 4]] }), 'PLACEHOLDER_MISMATCH', /image 0 has 3 <\|image_pad\|> tokens but its grid \[1, 4, 4\] needs 4/);
  });

  it('rejects ids that do not fill [B, L], a mask of another shape, and odd grids', () => {
    expectQwenVLError(() => run({ inputIds: [text(3), text(4)] }), 'INVALID_ARGUMENT', /holds 7 values, its dims \[2, 3\] need 6/);
    expectQwenVLError(() => getRopeIndex({ inputIds: { dims: [6], data: text(6) } }, config), 'INVALID_ARGUMENT', /must be \[B, L\].*got \[6\]/);
    expectQwenVLError(() => run({ inputIds: [text(3), text(3)], attentionMask: [[1, 1, 1]] }), 'INVALID_ARGUMENT', /is \[1, 3\], inputIds is \[2, 3\]/);
    expectQwenVLError(() => run({ inputIds: [text(3)], attentionMask: [[1, 2, 1]] }), 'INVALID_ARGUMENT', /row 0 entry 1 is 2/);
    expectQwenVLError(() => run({ inputIds: [visionBlock(IMAGE, 1)], imageGridThw: [[1, 3, 2]] }), 'INVALID_ARGUMENT', /imageGridThw\[0\].*multiples of spatialMergeSize 2/);
  });
});
