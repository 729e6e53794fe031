import { QwenVLError } from '@qwen-vl/core';

/** One image's or video's patch grid `(t, h, w)`, as in `image_grid_thw` / `video_grid_thw`. */
export type Grid = readonly [t: number, h: number, w: number];

/** Throws unless `value` is a positive integer; `source` names the argument in the error. */
export function checkPositiveInteger(value: number, source: string): void {
  if (!Number.isInteger(value) || value <= 0) {
    throw new QwenVLError('INVALID_ARGUMENT', `must be a positive integer, got ${value}`, { source });
  }
}

/**
 * Every consumer of a grid divides h and w by the merge size, so a grid that is not a
 * whole number of merge blocks cannot describe real preprocessor output; rejecting it
 * here keeps the arithmetic below exact.
 */
export function checkGrids(grids: readonly Grid[], spatialMergeSize: number, source: string): void {
  grids.forEach((grid, i) => {
    const valid = grid.length === 3 && grid.every((v) => Number.isInteger(v) && v > 0);
    if (!valid) {
      throw new QwenVLError('INVALID_ARGUMENT', `must be three positive integers (t, h, w), got ${JSON.stringify(grid)}`, { source: `${source}[${i}]` });
    }
    if (grid[1] % spatialMergeSize !== 0 || grid[2] % spatialMergeSize !== 0) {
      throw new QwenVLError('INVALID_ARGUMENT', `h and w of [${grid.join(', ')}] must be multiples of spatialMergeSize ${spatialMergeSize}`, { source: `${source}[${i}]` });
    }
  });
}

/** Number of merged tokens a grid becomes: `t · (h / m) · (w / m)`. */
export function mergedTokenCount(grid: Grid, spatialMergeSize: number): number {
  return (grid[0] * grid[1] * grid[2]) / (spatialMergeSize * spatialMergeSize);
}
