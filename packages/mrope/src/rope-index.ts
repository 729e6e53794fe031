import { QwenVLError } from '@qwen-vl/core';
import { checkGrids, checkPositiveInteger, mergedTokenCount } from './grid.js';
import type { Grid } from './grid.js';

/**
 * A row-major `[B, L]` matrix of token ids or mask values. `@qwen-vl/core`'s
 * `HostTensor<'int32'>` is one, so the processor's tensors are passed as they are.
 */
export interface TokenMatrix {
  readonly dims: readonly number[];
  readonly data: ArrayLike<number>;
}

/**
 * What `getRopeIndex` reads of the prepared inputs: `@qwen-vl/preprocess`'s `PreparedInputs`
 * (what `QwenVLProcessor.prepare` and `prepareBatch` return) has these fields, so it is passed
 * whole. Hugging Face's `input_ids`, `attention_mask`, `image_grid_thw`, `video_grid_thw`
 * and `second_per_grid_ts`.
 */
export interface RopeIndexInputs {
  /** `[B, L]`: B token rows, all of the padded length L. */
  readonly inputIds: TokenMatrix;
  /** `[B, L]`: 1 = token, 0 = padding (left padding typical); omitted = all ones. */
  readonly attentionMask?: TokenMatrix;
  /** One `[t, h, w]` per image, in order across the whole batch. */
  readonly imageGridThw?: readonly Grid[];
  /** One `[t, h, w]` per video, in order across the whole batch. */
  readonly videoGridThw?: readonly Grid[];
  /** One per video, seconds covered by one temporal grid step; default 1.0. */
  readonly secondPerGridT?: readonly number[];
}

/** The parts of the model's config.json that `getRopeIndex` needs; `@qwen-vl/core`'s `ModelConfig` has them. */
export interface RopeIndexConfig {
  readonly imageTokenId: number;
  readonly videoTokenId: number;
  readonly visionStartTokenId: number;
  readonly vision: {
    readonly spatialMergeSize: number;
    /** `vision_config.tokens_per_second` (2 for released checkpoints, not the class default 4). */
    readonly tokensPerSecond: number;
  };
}

export interface RopeIndex {
  /** `[3, batch, length]` row-major: the t, h and w position of every token. */
  positionIds: Int32Array;
  batch: number;
  length: number;
  /** `[batch]`: what decode adds to the cache position, `max position + 1 − length`. */
  ropeDeltas: Int32Array;
}

const SOURCE = 'getRopeIndex';

/** The tokens of one row that the attention mask keeps, and where they sit in the padded row. */
interface KeptTokens {
  tokens: number[];
  slots: number[];
}

interface VisionBlockCounts {
  images: number;
  videos: number;
}

/** The token ids and settings the layout of a row reads. */
interface LayoutSettings {
  readonly imageTokenId: number;
  readonly videoTokenId: number;
  readonly visionStartTokenId: number;
  readonly spatialMergeSize: number;
  readonly tokensPerSecond: number;
  readonly secondPerGridT: readonly number[] | undefined;
}

/**
 * Hugging Face `Qwen2_5_VLModel.get_rope_index`: the 3-D (t, h, w) position of every token
 * of a batch, and the per-row delta that decoding adds to the cache position. Text tokens
 * advance all three rows together; an image or video block holds its text start fixed and
 * spreads its merged tokens over time, height and width, so a block of `lh × lw` tokens only
 * advances the next text position by `max(T_last + 1, lh, lw)`.
 *
 * `inputs` is what the processor prepared (`QwenVLProcessor.prepare` / `prepareBatch`), and
 * `config` the model's (`ModelConfig`), both passed whole.
 */
export function getRopeIndex(inputs: RopeIndexInputs, config: RopeIndexConfig): RopeIndex {
  const { batch, length } = checkRows(inputs);
  const images = inputs.imageGridThw ?? [];
  const videos = inputs.videoGridThw ?? [];
  const settings: LayoutSettings = {
    imageTokenId: config.imageTokenId,
    videoTokenId: config.videoTokenId,
    visionStartTokenId: config.visionStartTokenId,
    spatialMergeSize: config.vision.spatialMergeSize,
    tokensPerSecond: config.vision.tokensPerSecond,
    secondPerGridT: inputs.secondPerGridT,
  };
  checkPositiveInteger(settings.spatialMergeSize, `${SOURCE} config.vision.spatialMergeSize`);
  checkGrids(images, settings.spatialMergeSize, `${SOURCE} imageGridThw`);
  checkGrids(videos, settings.spatialMergeSize, `${SOURCE} videoGridThw`);
  checkVideoTiming(settings, videos.length);

  const ids = inputs.inputIds.data;
  const mask = inputs.attentionMask?.data;
  const rows = Array.from({ length: batch }, (_, b) => keptTokens(ids, mask, b * length, length));
  const counts = rows.map((row) => countVisionBlocks(row.tokens, settings));
  checkBlockTotals(counts, images.length, videos.length);

  const positionIds = new Int32Array(3 * batch * length).fill(1);
  const ropeDeltas = new Int32Array(batch);
  const plane = batch * length;
  const cursor: GridCursor = { images, videos, image: 0, video: 0 };
  rows.forEach((row, b) => {
    if (images.length === 0 && videos.length === 0) {
      ropeDeltas[b] = writeTextOnlyRow(row, positionIds.subarray(b * length), plane, length);
      return;
    }
    if (row.tokens.length === 0) {
      throw new QwenVLError('INVALID_ARGUMENT', `masks out every token of row ${b}`, { source: `${SOURCE} attentionMask` });
    }
    const positions = layoutMultimodalRow(row.tokens, counts[b], cursor, b, settings);
    const n = row.tokens.length;
    let max = 0;
    for (let r = 0; r < 3; r++) {
      for (let k = 0; k < n; k++) {
        const value = positions[r * n + k];
        positionIds[r * plane + b * length + row.slots[k]] = value;
        if (value > max) max = value;
      }
    }
    ropeDeltas[b] = max + 1 - length;
  });
  return { positionIds, batch, length, ropeDeltas };
}

/** `[B, L]` with B, L ≥ 1 and `data` holding B·L values. */
function checkMatrix(matrix: TokenMatrix, name: string): { batch: number; length: number } {
  const { dims } = matrix;
  if (dims.length !== 2 || !dims.every((d) => Number.isInteger(d) && d > 0)) {
    throw new QwenVLError('INVALID_ARGUMENT', `must be [B, L] with B and L at least 1, got [${dims.join(', ')}]`, { source: `${SOURCE} ${name}` });
  }
  const [batch, length] = dims;
  if (matrix.data.length !== batch * length) {
    throw new QwenVLError('INVALID_ARGUMENT', `holds ${matrix.data.length} values, its dims [${batch}, ${length}] need ${batch * length}`, { source: `${SOURCE} ${name}` });
  }
  return { batch, length };
}

function checkRows(inputs: RopeIndexInputs): { batch: number; length: number } {
  const { batch, length } = checkMatrix(inputs.inputIds, 'inputIds');
  const mask = inputs.attentionMask;
  if (mask === undefined) return { batch, length };
  const maskShape = checkMatrix(mask, 'attentionMask');
  if (maskShape.batch !== batch || maskShape.length !== length) {
    throw new QwenVLError('INVALID_ARGUMENT', `is [${maskShape.batch}, ${maskShape.length}], inputIds is [${batch}, ${length}]`, { source: `${SOURCE} attentionMask` });
  }
  for (let i = 0; i < mask.data.length; i++) {
    const value = mask.data[i];
    if (value !== 0 && value !== 1) {
      throw new QwenVLError('INVALID_ARGUMENT', `row ${Math.floor(i / length)} entry ${i % length} is ${value}; the mask holds only 0 and 1`, { source: `${SOURCE} attentionMask` });
    }
  }
  return { batch, length };
}

function checkVideoTiming(settings: LayoutSettings, videoCount: number): void {
  if (!Number.isFinite(settings.tokensPerSecond) || settings.tokensPerSecond <= 0) {
    throw new QwenVLError('INVALID_ARGUMENT', `must be a positive number, got ${settings.tokensPerSecond}`, { source: `${SOURCE} config.vision.tokensPerSecond` });
  }
  const spg = settings.secondPerGridT;
  if (spg === undefined) return;
  if (spg.length !== videoCount) {
    throw new QwenVLError('INVALID_ARGUMENT', `has ${spg.length} entries for ${videoCount} videos; give one per video`, { source: `${SOURCE} secondPerGridT` });
  }
  spg.forEach((value, v) => {
    if (!Number.isFinite(value) || value < 0) {
      throw new QwenVLError('INVALID_ARGUMENT', `must be a non-negative number, got ${value}`, { source: `${SOURCE} secondPerGridT[${v}]` });
    }
  });
}

/** The kept tokens of the row of `length` values that starts at `offset` of `ids` (and of `mask`). */
function keptTokens(ids: ArrayLike<number>, mask: ArrayLike<number> | undefined, offset: number, length: number): KeptTokens {
  const tokens: number[] = [];
  const slots: number[] = [];
  for (let s = 0; s < length; s++) {
    if (mask === undefined || mask[offset + s] === 1) {
      tokens.push(ids[offset + s]);
      slots.push(s);
    }
  }
  return { tokens, slots };
}

/** Hugging Face counts a vision item as a `<|vision_start|>` directly followed by a pad token. */
function countVisionBlocks(tokens: readonly number[], ids: LayoutSettings): VisionBlockCounts {
  const counts = { images: 0, videos: 0 };
  for (let k = 0; k + 1 < tokens.length; k++) {
    if (tokens[k] !== ids.visionStartTokenId) continue;
    if (tokens[k + 1] === ids.imageTokenId) counts.images++;
    else if (tokens[k + 1] === ids.videoTokenId) counts.videos++;
  }
  return counts;
}

function checkBlockTotals(counts: readonly VisionBlockCounts[], imageGrids: number, videoGrids: number): void {
  const images = counts.reduce((sum, c) => sum + c.images, 0);
  const videos = counts.reduce((sum, c) => sum + c.videos, 0);
  if (images !== imageGrids) {
    throw new QwenVLError('PLACEHOLDER_MISMATCH', `inputIds hold ${images} images (<|vision_start|><|image_pad|>) but ${imageGrids} image grids were given`, { source: `${SOURCE} imageGridThw` });
  }
  if (videos !== videoGrids) {
    throw new QwenVLError('PLACEHOLDER_MISMATCH', `inputIds hold ${videos} videos (<|vision_start|><|video_pad|>) but ${videoGrids} video grids were given`, { source: `${SOURCE} videoGridThw` });
  }
}

/**
 * `cumsum(mask) − 1` with padded slots set to 1, as Hugging Face does without grids (no
 * mask is the all-ones mask, which gives `arange(L)` and delta 0). Its delta takes the
 * maximum over the padded slots too, unlike the multimodal path.
 */
function writeTextOnlyRow(row: KeptTokens, rowStart: Int32Array, plane: number, length: number): number {
  const values = new Int32Array(length).fill(1);
  row.slots.forEach((slot, k) => {
    values[slot] = k;
  });
  for (let r = 0; r < 3; r++) rowStart.set(values, r * plane);
  const max = values.reduce((a, b) => Math.max(a, b), -Infinity);
  return max + 1 - length;
}

/**
 * Hugging Face computes the temporal index as `arange(t) * second_per_grid_t *
 * tokens_per_second` on a float32 tensor and truncates with `.long()`; each product is
 * rounded to float32 here so the floor lands on the same side of an integer.
 */
function temporalIndex(step: number, secondsPerStep: number, tokensPerSecond: number): number {
  return Math.floor(Math.fround(Math.fround(step * Math.fround(secondsPerStep)) * Math.fround(tokensPerSecond)));
}

function firstIndexFrom(tokens: readonly number[], token: number, start: number, remaining: number): number {
  const found = remaining > 0 ? tokens.indexOf(token, start) : -1;
  return found === -1 ? tokens.length + 1 : found;
}

function padRunLength(tokens: readonly number[], start: number, pad: number): number {
  let run = 0;
  while (start + run < tokens.length && tokens[start + run] === pad) run++;
  return run;
}

/** The grids still to be placed; the counters run across the whole batch, as in Hugging Face. */
interface GridCursor {
  images: readonly Grid[];
  videos: readonly Grid[];
  image: number;
  video: number;
}

/** Positions of the kept tokens of one row, `[3, n]` (t row, h row, w row). */
function layoutMultimodalRow(tokens: readonly number[], counts: VisionBlockCounts, cursor: GridCursor, b: number, input: LayoutSettings): Int32Array {
  const n = tokens.length;
  const out = new Int32Array(3 * n);
  const m = input.spatialMergeSize;
  const writeText = (from: number, count: number, first: number) => {
    for (let k = 0; k < count; k++) {
      out[from + k] = out[n + from + k] = out[2 * n + from + k] = first + k;
    }
  };

  let st = 0;
  let next = 0;
  let remainingImages = counts.images;
  let remainingVideos = counts.videos;
  for (let block = 0; block < counts.images + counts.videos; block++) {
    // The earlier of the next image pad and the next video pad starts the block.
    const edImage = firstIndexFrom(tokens, input.imageTokenId, st, remainingImages);
    const edVideo = firstIndexFrom(tokens, input.videoTokenId, st, remainingVideos);
    const isImage = edImage < edVideo;
    const ed = isImage ? edImage : edVideo;
    const grid = isImage ? cursor.images[cursor.image] : cursor.videos[cursor.video];
    // Images are a single instant: their temporal index stays 0.
    const secondsPerStep = isImage ? 0 : (input.secondPerGridT?.[cursor.video] ?? 1);
    const needed = mergedTokenCount(grid, m);
    const run = padRunLength(tokens, ed, isImage ? input.imageTokenId : input.videoTokenId);
    // Hugging Face assumes the run is exactly as long as the grid needs; any other length
    // would silently shift every later position.
    if (run !== needed) {
      const item = isImage ? `image ${cursor.image} has ${run} <|image_pad|>` : `video ${cursor.video} has ${run} <|video_pad|>`;
      throw new QwenVLError('PLACEHOLDER_MISMATCH', `row ${b}: ${item} tokens but its grid [${grid.join(', ')}] needs ${needed}`, { source: `${SOURCE} inputIds` });
    }
    if (isImage) {
      cursor.image++;
      remainingImages--;
    } else {
      cursor.video++;
      remainingVideos--;
    }

    const textLen = ed - st;
    writeText(st, textLen, next);
    const base = next + textLen;
    const [lt, lh, lw] = [grid[0], grid[1] / m, grid[2] / m];
    let k = ed;
    let lastT = 0;
    for (let tt = 0; tt < lt; tt++) {
      lastT = temporalIndex(tt, secondsPerStep, input.tokensPerSecond);
      for (let hh = 0; hh < lh; hh++) {
        for (let ww = 0; ww < lw; ww++, k++) {
          out[k] = base + lastT;
          out[n + k] = base + hh;
          out[2 * n + k] = base + ww;
        }
      }
    }
    next = base + Math.max(lastT, lh - 1, lw - 1) + 1;
    st = ed + needed;
  }
  writeText(st, n - st, next);
  return out;
}
