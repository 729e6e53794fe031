import type { PreprocessorConfig } from '@qwen-vl/core';
import type { RawImage } from './image.js';

/**
 * Rescale, normalize and the Qwen2-VL patch flattening in one pass over the pixels.
 *
 * Every 8-bit sample maps to one of only 256 values per channel, so the float32 pipeline of
 * Hugging Face (`float32(x_float64 · rescale)`, then `(x - mean) / std` in float32) is
 * evaluated once per (channel, value) into a lookup table and the flattening just copies
 * table entries.
 */

const CHANNELS = 3;
const LEVELS = 256;

/**
 * Table of 3·256 entries: entry c·256 + v is the model input for value v of channel c.
 * `Math.fround` after each operation reproduces NumPy's float32 arithmetic exactly.
 */
export function normalizationTable(config: PreprocessorConfig): Float32Array {
  const table = new Float32Array(CHANNELS * LEVELS);
  for (let c = 0; c < CHANNELS; c++) {
    const mean = Math.fround(config.imageMean[c]);
    const std = Math.fround(config.imageStd[c]);
    for (let v = 0; v < LEVELS; v++) {
      const rescaled = Math.fround(v * config.rescaleFactor);
      table[c * LEVELS + v] = Math.fround(Math.fround(rescaled - mean) / std);
    }
  }
  return table;
}

export interface PatchGeometry {
  patchSize: number;
  temporalPatchSize: number;
  mergeSize: number;
}

/** Floats per patch row: C · temporal_patch_size · patch_size². */
export function patchRowSize(geometry: PatchGeometry): number {
  return CHANNELS * geometry.temporalPatchSize * geometry.patchSize * geometry.patchSize;
}

/**
 * Writes the patch rows of `frames` (RGB, all the same size, a multiple of
 * patch_size·merge_size on each side, count a multiple of temporal_patch_size) into `out`
 * from float `offset` on, and returns the number of rows written. The frames may be a band
 * of whole merge blocks cut from taller images: the rows written are then that band's, and
 * they sit in `out` exactly where they do among the full image's rows. A frame that is the
 * same object as the one before it (a still image's second frame, padding) is copied, not
 * looked up again.
 *
 * Equivalent to Hugging Face's reshape of [F, C, H, W] into
 * [t, tp, C, h/m, m, p, w/m, m, p], transpose (0, 3, 6, 4, 7, 2, 1, 5, 8) and flatten to
 * rows of C·tp·p·p: rows run over (t, block row, block column, row in block, column in
 * block), so every merge_size² consecutive rows are one merged token; columns run over
 * (channel, frame in the pair, y, x).
 */
export function writePatches(frames: readonly RawImage[], table: Float32Array, geometry: PatchGeometry, out: Float32Array, offset: number): number {
  const { patchSize: p, temporalPatchSize: tp, mergeSize: m } = geometry;
  const { width, height } = frames[0];
  const gridT = frames.length / tp;
  const blockRows = height / (p * m);
  const blockCols = width / (p * m);
  const stride = width * CHANNELS;
  const area = p * p;
  // Distance between one channel's block of a patch row and the next channel's.
  const channelSpan = tp * area;
  const rowSize = CHANNELS * channelSpan;
  const greenTable = LEVELS;
  const blueTable = 2 * LEVELS;
  // Two pixels' six bytes are read with one 32-bit and one 16-bit little-endian load.
  const views = frames.map(({ data }) => new DataView(data.buffer, data.byteOffset, data.length));
  let o = offset;
  for (let t = 0; t < gridT; t++) {
    for (let by = 0; by < blockRows; by++) {
      for (let bx = 0; bx < blockCols; bx++) {
        for (let my = 0; my < m; my++) {
          for (let mx = 0; mx < m; mx++) {
            const corner = (by * m + my) * p * stride + (bx * m + mx) * p * CHANNELS;
            for (let f = t * tp; f < (t + 1) * tp; f++) {
              const frameStart = o + (f - t * tp) * area;
              if (f > t * tp && frames[f] === frames[f - 1]) {
                // A still image's second frame, or a padding frame: repeat the previous
                // frame's block of every channel, a bulk copy instead of lookups.
                for (let c = frameStart; c < o + rowSize; c += channelSpan) out.copyWithin(c, c - area, c);
                continue;
              }
              const view = views[f];
              // Two pixels at a time, all three channels at once: one pass over the source bytes.
              // `| 0` keeps the index arithmetic in 32-bit integers rather than checked adds.
              for (let py = 0, rowStart = corner, i = frameStart; py < p; py++, rowStart += stride) {
                const rowEnd = i + p;
                let s = rowStart | 0;
                for (; i + 1 < rowEnd; i = (i + 2) | 0, s = (s + 2 * CHANNELS) | 0) {
                  const rgbr = view.getInt32(s, true);
                  const gb = view.getUint16((s + 4) | 0, true);
                  const g = (i + channelSpan) | 0;
                  const b = (g + channelSpan) | 0;
                  out[i] = table[rgbr & 255];
                  out[g] = table[greenTable + ((rgbr >> 8) & 255)];
                  out[b] = table[blueTable + ((rgbr >> 16) & 255)];
                  out[(i + 1) | 0] = table[rgbr >>> 24];
                  out[(g + 1) | 0] = table[greenTable + (gb & 255)];
                  out[(b + 1) | 0] = table[blueTable + (gb >> 8)];
                }
                if (i < rowEnd) {
                  // An odd patch size leaves one pixel.
                  const rg = view.getUint16(s, true);
                  out[i] = table[rg & 255];
                  out[i + channelSpan] = table[greenTable + (rg >> 8)];
                  out[i + 2 * channelSpan] = table[blueTable + view.getUint8(s + 2)];
                  i++;
                }
              }
            }
            o += rowSize;
          }
        }
      }
    }
  }
  return (o - offset) / rowSize;
}
