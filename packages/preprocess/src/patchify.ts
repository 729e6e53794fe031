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

/** The last table made, and the settings it was made for: a model's calls all reuse one. */
let lastTable: { key: string; table: Float32Array } | undefined;

/**
 * Table of 3·256 entries: entry c·256 + v is the model input for value v of channel c.
 * `Math.fround` after each operation reproduces NumPy's float32 arithmetic exactly.
 */
export function normalizationTable(config: PreprocessorConfig): Float32Array {
  // Numbers print as the shortest string that reads back as the same double, so equal keys mean equal settings.
  const key = [...config.imageMean, ...config.imageStd, config.rescaleFactor].join(' ');
  if (lastTable?.key === key) return lastTable.table;
  const table = new Float32Array(CHANNELS * LEVELS);
  for (let c = 0; c < CHANNELS; c++) {
    const mean = Math.fround(config.imageMean[c]);
    const std = Math.fround(config.imageStd[c]);
    for (let v = 0; v < LEVELS; v++) {
      const rescaled = Math.fround(v * config.rescaleFactor);
      table[c * LEVELS + v] = Math.fround(Math.fround(rescaled - mean) / std);
    }
  }
  lastTable = { key, table };
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
 * same object as the one before it (a still image's second frame, padding) is looked up
 * once and stored in both places.
 *
 * Equivalent to Hugging Face's reshape of [F, C, H, W] into
 * [t, tp, C, h/m, m, p, w/m, m, p], transpose (0, 3, 6, 4, 7, 2, 1, 5, 8) and flatten to
 * rows of C·tp·p·p: rows run over (t, block row, block column, row in block, column in
 * block), so every merge_size² consecutive rows are one merged token; columns run over
 * (channel, frame in the pair, y, x). The rows are written in order, so the output is
 * filled front to back.
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
  // The table's and the output's floats are moved as their 32-bit patterns: integer loads
  // and stores, where Float32Array elements would be widened to doubles and narrowed back.
  const bits = new Int32Array(table.buffer, table.byteOffset, table.length);
  const outBits = new Int32Array(out.buffer, out.byteOffset, out.length);
  // Two pixels' six bytes are read with one 32-bit and one 16-bit little-endian load.
  const views = frames.map(({ data }) => new DataView(data.buffer, data.byteOffset, data.length));
  let o = offset;
  for (let t = 0; t < gridT; t++) {
    for (let by = 0; by < blockRows; by++) {
      for (let bx = 0; bx < blockCols; bx++) {
        for (let my = 0; my < m; my++) {
          for (let mx = 0; mx < m; mx++) {
            const corner = (by * m + my) * p * stride + (bx * m + mx) * p * CHANNELS;
            for (let f = t * tp, next = f + 1; f < (t + 1) * tp; f = next, next = f + 1) {
              while (next < (t + 1) * tp && frames[next] === frames[f]) next++;
              const first = o + (f - t * tp) * area;
              // Frame f's values also go to the next frame's slots when it is the same
              // frame (a still image's pair); otherwise the second store repeats the first.
              const copy = next - f > 1 ? area : 0;
              writePatchFrame(views[f], corner, stride, p, bits, outBits, first, copy, channelSpan);
              // More than two equal frames (a temporal patch size above 2): bulk copies.
              for (let extra = f + 2; extra < next; extra++) {
                const at = o + (extra - t * tp) * area;
                for (let c = 0; c < CHANNELS; c++) outBits.copyWithin(at + c * channelSpan, first + c * channelSpan, first + c * channelSpan + area);
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

/**
 * One frame's p×p pixels from sample `corner` of `view` into a patch row whose frame block
 * starts at `first` (red; green and blue follow `channelSpan` apart), each value stored
 * again `copy` floats further on. Two pixels at a time, all three channels at once.
 */
function writePatchFrame(view: DataView, corner: number, stride: number, p: number, bits: Int32Array, out: Int32Array, first: number, copy: number, channelSpan: number): void {
  // `| 0` keeps the index arithmetic in 32-bit integers rather than checked adds.
  const green = LEVELS;
  const blue = 2 * LEVELS;
  for (let py = 0, rowStart = corner, i = first | 0; py < p; py++, rowStart += stride) {
    const rowEnd = i + p;
    let s = rowStart | 0;
    for (; i + 1 < rowEnd; i = (i + 2) | 0, s = (s + 2 * CHANNELS) | 0) {
      const rgbr = view.getInt32(s, true);
      const gb = view.getUint16((s + 4) | 0, true);
      const r0 = bits[rgbr & 255];
      const g0 = bits[green + ((rgbr >> 8) & 255)];
      const b0 = bits[blue + ((rgbr >> 16) & 255)];
      const r1 = bits[rgbr >>> 24];
      const g1 = bits[green + (gb & 255)];
      const b1 = bits[blue + (gb >> 8)];
      const g = (i + channelSpan) | 0;
      const b = (g + channelSpan) | 0;
      out[i] = r0;
      out[(i + 1) | 0] = r1;
      out[g] = g0;
      out[(g + 1) | 0] = g1;
      out[b] = b0;
      out[(b + 1) | 0] = b1;
      out[(i + copy) | 0] = r0;
      out[(i + copy + 1) | 0] = r1;
      out[(g + copy) | 0] = g0;
      out[(g + copy + 1) | 0] = g1;
      out[(b + copy) | 0] = b0;
      out[(b + copy + 1) | 0] = b1;
    }
    if (i < rowEnd) {
      // An odd patch size leaves one pixel.
      const rg = view.getUint16(s, true);
      const r = bits[rg & 255];
      const g = bits[green + (rg >> 8)];
      const b = bits[blue + view.getUint8(s + 2)];
      out[i] = r;
      out[i + channelSpan] = g;
      out[i + 2 * channelSpan] = b;
      out[i + copy] = r;
      out[i + channelSpan + copy] = g;
      out[i + 2 * channelSpan + copy] = b;
      i++;
    }
  }
}
