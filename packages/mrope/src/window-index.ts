import { QwenVLError } from '@qwen-vl/core';
import { checkGrids, checkPositiveInteger, mergedTokenCount } from './grid.js';
import type { Grid } from './grid.js';

export interface WindowIndexOptions {
  /** Window side in pixels (`vision_config.window_size`, 112). */
  windowSize: number;
  patchSize: number;
  spatialMergeSize: number;
}

export interface WindowIndex {
  /** Merged-token permutation into window order, length N / merge². */
  windowIndex: Int32Array;
  /** `argsort(windowIndex)`: puts window-ordered merged tokens back in natural order. */
  reverseIndex: Int32Array;
  /** Window boundaries in patches (window order), with repeated boundaries removed. */
  cuWindowSeqlens: Int32Array;
  /** Full-attention boundaries in patches: one segment per temporal slice of each grid. */
  cuSeqlens: Int32Array;
}

/**
 * Hugging Face `get_window_index` plus the full-attention `cu_seqlens` of the vision tower.
 * Each temporal slice of merged tokens is cut into square windows of
 * `windowSize / merge / patch` tokens a side, ordered t, window row, window column, raster
 * order inside. The padding to whole windows always adds at least one row and column, so a
 * side already divisible by the window gets a full empty extra window; its boundary repeats
 * and is dropped, as `unique_consecutive` does.
 */
export function windowIndex(grids: readonly Grid[], opts: WindowIndexOptions): WindowIndex {
  const { spatialMergeSize: m } = opts;
  checkPositiveInteger(opts.windowSize, 'windowIndex windowSize');
  checkPositiveInteger(opts.patchSize, 'windowIndex patchSize');
  checkPositiveInteger(m, 'windowIndex spatialMergeSize');
  checkGrids(grids, m, 'windowIndex grids');
  const side = Math.floor(opts.windowSize / m / opts.patchSize);
  if (side === 0) {
    throw new QwenVLError('INVALID_ARGUMENT', `${opts.windowSize} px is smaller than one merged token (${m * opts.patchSize} px)`, { source: 'windowIndex windowSize' });
  }
  const unit = m * m;

  const merged = grids.reduce((sum, grid) => sum + mergedTokenCount(grid, m), 0);
  const order = new Int32Array(merged);
  const boundaries = [0];
  let filled = 0;
  let offset = 0;
  for (const [t, h, w] of grids) {
    const lh = h / m;
    const lw = w / m;
    const windowRows = Math.floor(lh / side) + 1;
    const windowCols = Math.floor(lw / side) + 1;
    for (let tt = 0; tt < t; tt++) {
      for (let wr = 0; wr < windowRows; wr++) {
        for (let wc = 0; wc < windowCols; wc++) {
          const before = filled;
          for (let r = wr * side; r < Math.min((wr + 1) * side, lh); r++) {
            for (let c = wc * side; c < Math.min((wc + 1) * side, lw); c++) {
              order[filled++] = offset + (tt * lh + r) * lw + c;
            }
          }
          const last = boundaries[boundaries.length - 1];
          const end = last + (filled - before) * unit;
          if (end !== last) boundaries.push(end);
        }
      }
    }
    offset += t * lh * lw;
  }

  const reverseIndex = new Int32Array(merged);
  order.forEach((token, position) => {
    reverseIndex[token] = position;
  });
  return { windowIndex: order, reverseIndex, cuWindowSeqlens: Int32Array.from(boundaries), cuSeqlens: fullAttentionSeqlens(grids) };
}

/** `[0] + cumsum(repeat_interleave(h·w, t))`: the tower never attends across frames. */
function fullAttentionSeqlens(grids: readonly Grid[]): Int32Array {
  const out = [0];
  for (const [t, h, w] of grids) {
    for (let tt = 0; tt < t; tt++) out.push(out[out.length - 1] + h * w);
  }
  return Int32Array.from(out);
}
