import { QwenVLError } from '@qwen-vl/core';
import { checkGrids, checkPositiveInteger } from './grid.js';
import type { Grid } from './grid.js';
import { inverseFrequencies } from './inverse-frequencies.js';

export interface VisionRotaryOptions {
  /** Vision attention head dim (80 for released checkpoints). */
  headDim: number;
  spatialMergeSize: number;
  /** RoPE base; Hugging Face fixes it at 10000. */
  theta?: number;
}

/**
 * The vision tower's 2-D rotary angles (`rot_pos_emb`), `[N, headDim/2]` float32, one row
 * per patch in pixel-row order: per grid, t-major, then merge blocks in raster order, then
 * the patches inside a block. Columns 0..headDim/4−1 are the patch row times each
 * frequency, the rest its column times the same frequencies. Attention later uses
 * `concat(angles, angles)`.
 */
export function visionRotaryAngles(grids: readonly Grid[], opts: VisionRotaryOptions): Float32Array {
  const { headDim, spatialMergeSize: m } = opts;
  const rotaryDim = headDim / 2;
  if (!Number.isInteger(headDim / 4) || headDim <= 0) {
    throw new QwenVLError('INVALID_ARGUMENT', `must be a positive multiple of 4, got ${headDim}`, { source: 'visionRotaryAngles headDim' });
  }
  checkPositiveInteger(m, 'visionRotaryAngles spatialMergeSize');
  checkGrids(grids, m, 'visionRotaryAngles grids');

  const invFreq = inverseFrequencies(rotaryDim, opts.theta ?? 10000);
  const half = invFreq.length;
  const patches = grids.reduce((sum, [t, h, w]) => sum + t * h * w, 0);
  const out = new Float32Array(patches * rotaryDim);
  let row = 0;
  for (const [t, h, w] of grids) {
    for (let tt = 0; tt < t; tt++) {
      for (let bh = 0; bh < h / m; bh++) {
        for (let bw = 0; bw < w / m; bw++) {
          for (let mh = 0; mh < m; mh++) {
            for (let mw = 0; mw < m; mw++, row++) {
              const y = bh * m + mh;
              const x = bw * m + mw;
              for (let j = 0; j < half; j++) {
                out[row * rotaryDim + j] = y * invFreq[j];
                out[row * rotaryDim + half + j] = x * invFreq[j];
              }
            }
          }
        }
      }
    }
  }
  return out;
}
