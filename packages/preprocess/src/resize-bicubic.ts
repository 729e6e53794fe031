import { MAX_DECODED_PIXELS, QwenVLError } from '@qwen-vl/core';
import type { RawImage } from './image.js';
import { ScratchBytes } from './scratch.js';

/**
 * Pillow's `Image.resize(size, Image.BICUBIC)` on 8-bit RGB, reproduced to the bit: the
 * antialiasing separable convolution of Pillow's Resample.c, with its fixed-point weights,
 * rounding and clipping, so that resized pixels equal what Hugging Face's slow (PIL)
 * image processor feeds the model.
 */

/** Fixed-point weights carry 22 fractional bits: 8-bit samples times weights summed in 32 bits. */
const PRECISION_BITS = 22;
const FIXED_ONE = 1 << PRECISION_BITS;
/** Accumulators start at one half so the final shift rounds to nearest. */
const ROUNDING_HALF = 1 << (PRECISION_BITS - 1);
const BICUBIC_SUPPORT = 2;
const CHANNELS = 3;

/** Keys' cubic convolution kernel with a = -0.5, written in Pillow's evaluation order. */
function bicubic(x: number): number {
  const a = -0.5;
  if (x < 0) x = -x;
  if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
  return 0;
}

/** Per output position along one axis: the window of inputs it reads and their fixed-point weights. */
interface AxisCoefficients {
  /** First input index of output i's window. */
  firsts: Int32Array;
  /** Number of inputs output i reads. */
  counts: Int32Array;
  /** Output i's weights start at `weights[i · stride]`. */
  weights: Int32Array;
  stride: number;
}

/** Pillow's precompute_coeffs followed by normalize_coeffs_8bpc, for one axis. */
function axisCoefficients(inSize: number, outSize: number): AxisCoefficients {
  const scale = inSize / outSize;
  // Downscaling widens the kernel so every input pixel contributes (antialiasing).
  const filterScale = Math.max(scale, 1);
  const support = BICUBIC_SUPPORT * filterScale;
  const stride = Math.ceil(support) * 2 + 1;
  const firsts = new Int32Array(outSize);
  const counts = new Int32Array(outSize);
  const weights = new Int32Array(outSize * stride);
  const real = new Float64Array(stride);
  const inverseFilterScale = 1 / filterScale;

  for (let out = 0; out < outSize; out++) {
    const center = (out + 0.5) * scale;
    const first = Math.max(0, Math.trunc(center - support + 0.5));
    const count = Math.min(inSize, Math.trunc(center + support + 0.5)) - first;
    let sum = 0;
    for (let i = 0; i < count; i++) {
      const w = bicubic((i + first - center + 0.5) * inverseFilterScale);
      real[i] = w;
      sum += w;
    }
    for (let i = 0; i < count; i++) {
      const normalized = sum !== 0 ? real[i] / sum : real[i];
      // C's (int) cast after adding ±0.5: round half away from zero.
      weights[out * stride + i] = Math.trunc(normalized < 0 ? normalized * FIXED_ONE - 0.5 : normalized * FIXED_ONE + 0.5);
    }
    firsts[out] = first;
    counts[out] = count;
  }
  return { firsts, counts, weights, stride };
}

/** A pass's input: its samples, and a view of the same bytes for reading a pixel's three channels in one load. */
interface PassSource {
  samples: Uint8ClampedArray;
  words: DataView;
}

function passSource(samples: Uint8ClampedArray): PassSource {
  return { samples, words: new DataView(samples.buffer, samples.byteOffset, samples.length) };
}

/**
 * How a pass walks the samples for a range of its outputs. A pass convolves along one
 * axis; the lines are the positions along the other axis (rows for the horizontal pass,
 * columns for the vertical one), each holding three channel samples.
 */
interface PassLayout {
  /** Outputs [firstOut, endOut) of the axis are computed. */
  firstOut: number;
  endOut: number;
  lines: number;
  /** Sample index, in the source, of input 0 on line 0 (negative when the source starts further on). */
  srcOrigin: number;
  /** Sample index, in the destination, of output 0 on line 0. */
  dstOrigin: number;
  /** Distance between neighbouring inputs of one line, in the source, and between neighbouring outputs, in the destination. */
  tapStep: number;
  dstStep: number;
  /** Distance between the first samples of neighbouring lines, in the source and destination. */
  srcLineStride: number;
  dstLineStride: number;
}

/**
 * One pass over a range of outputs, for every line. Each tap's pixel is read with one
 * little-endian 32-bit load (R, G, B and a byte of the next pixel) instead of three byte
 * loads. The usual windows (4 taps when upscaling, 5 or 6 when shrinking by up to a half)
 * have their own loops with the weights in registers, since JavaScript engines do not
 * unroll loops; other sizes loop over the taps. A 32-bit load would pass the end of the
 * source on its last pixel, so a window that reaches it leaves its last line to the
 * bytewise loop. The destination is clamped, so storing `sum >> 22` clips to 0..255 as
 * Pillow's clip8 does.
 */
function resamplePass(source: PassSource, dst: Uint8ClampedArray, coefficients: AxisCoefficients, layout: PassLayout): void {
  const { firsts, counts, weights, stride } = coefficients;
  // `| 0` marks the layout's numbers as 32-bit integers: without it V8 keeps the loop
  // counters below in doubles and converts them back on every load and store.
  const srcLineStride = layout.srcLineStride | 0;
  const dstLineStride = layout.dstLineStride | 0;
  const tapStep = layout.tapStep | 0;
  const { words, samples } = source;
  const t1 = tapStep;
  const t2 = 2 * tapStep;
  const t3 = 3 * tapStep;
  const t4 = 4 * tapStep;
  const t5 = 5 * tapStep;
  for (let out = layout.firstOut; out < layout.endOut; out++) {
    const count = counts[out];
    const w = out * stride;
    let s = (layout.srcOrigin + firsts[out] * tapStep) | 0;
    let d = (layout.dstOrigin + out * layout.dstStep) | 0;
    let lines = layout.lines | 0;
    if (s + (lines - 1) * srcLineStride + (count - 1) * tapStep + 4 > samples.length) {
      lines -= 1;
      convolveBytewise(samples, dst, weights, w, count, s + lines * srcLineStride, d + lines * dstLineStride, 1, layout);
    }
    const end = s + lines * srcLineStride;
    if (count === 4) {
      const w0 = weights[w],
        w1 = weights[w + 1],
        w2 = weights[w + 2],
        w3 = weights[w + 3];
      for (; s < end; s = (s + srcLineStride) | 0, d = (d + dstLineStride) | 0) {
        const p0 = words.getInt32(s, true),
          p1 = words.getInt32((s + t1) | 0, true),
          p2 = words.getInt32((s + t2) | 0, true),
          p3 = words.getInt32((s + t3) | 0, true);
        dst[d] = (ROUNDING_HALF + Math.imul(p0 & 255, w0) + Math.imul(p1 & 255, w1) + Math.imul(p2 & 255, w2) + Math.imul(p3 & 255, w3)) >> PRECISION_BITS;
        dst[d + 1] = (ROUNDING_HALF + Math.imul((p0 >> 8) & 255, w0) + Math.imul((p1 >> 8) & 255, w1) + Math.imul((p2 >> 8) & 255, w2) + Math.imul((p3 >> 8) & 255, w3)) >> PRECISION_BITS;
        dst[d + 2] = (ROUNDING_HALF + Math.imul((p0 >> 16) & 255, w0) + Math.imul((p1 >> 16) & 255, w1) + Math.imul((p2 >> 16) & 255, w2) + Math.imul((p3 >> 16) & 255, w3)) >> PRECISION_BITS;
      }
    } else if (count === 5) {
      const w0 = weights[w],
        w1 = weights[w + 1],
        w2 = weights[w + 2],
        w3 = weights[w + 3],
        w4 = weights[w + 4];
      for (; s < end; s = (s + srcLineStride) | 0, d = (d + dstLineStride) | 0) {
        const p0 = words.getInt32(s, true),
          p1 = words.getInt32((s + t1) | 0, true),
          p2 = words.getInt32((s + t2) | 0, true),
          p3 = words.getInt32((s + t3) | 0, true);
        const p4 = words.getInt32((s + t4) | 0, true);
        dst[d] = (ROUNDING_HALF + Math.imul(p0 & 255, w0) + Math.imul(p1 & 255, w1) + Math.imul(p2 & 255, w2) + Math.imul(p3 & 255, w3) + Math.imul(p4 & 255, w4)) >> PRECISION_BITS;
        dst[d + 1] =
          (ROUNDING_HALF + Math.imul((p0 >> 8) & 255, w0) + Math.imul((p1 >> 8) & 255, w1) + Math.imul((p2 >> 8) & 255, w2) + Math.imul((p3 >> 8) & 255, w3) + Math.imul((p4 >> 8) & 255, w4)) >>
          PRECISION_BITS;
        dst[d + 2] =
          (ROUNDING_HALF + Math.imul((p0 >> 16) & 255, w0) + Math.imul((p1 >> 16) & 255, w1) + Math.imul((p2 >> 16) & 255, w2) + Math.imul((p3 >> 16) & 255, w3) + Math.imul((p4 >> 16) & 255, w4)) >>
          PRECISION_BITS;
      }
    } else if (count === 6) {
      const w0 = weights[w],
        w1 = weights[w + 1],
        w2 = weights[w + 2],
        w3 = weights[w + 3],
        w4 = weights[w + 4],
        w5 = weights[w + 5];
      for (; s < end; s = (s + srcLineStride) | 0, d = (d + dstLineStride) | 0) {
        const p0 = words.getInt32(s, true),
          p1 = words.getInt32((s + t1) | 0, true),
          p2 = words.getInt32((s + t2) | 0, true),
          p3 = words.getInt32((s + t3) | 0, true);
        const p4 = words.getInt32((s + t4) | 0, true),
          p5 = words.getInt32((s + t5) | 0, true);
        dst[d] =
          (ROUNDING_HALF + Math.imul(p0 & 255, w0) + Math.imul(p1 & 255, w1) + Math.imul(p2 & 255, w2) + Math.imul(p3 & 255, w3) + Math.imul(p4 & 255, w4) + Math.imul(p5 & 255, w5)) >> PRECISION_BITS;
        dst[d + 1] =
          (ROUNDING_HALF +
            Math.imul((p0 >> 8) & 255, w0) +
            Math.imul((p1 >> 8) & 255, w1) +
            Math.imul((p2 >> 8) & 255, w2) +
            Math.imul((p3 >> 8) & 255, w3) +
            Math.imul((p4 >> 8) & 255, w4) +
            Math.imul((p5 >> 8) & 255, w5)) >>
          PRECISION_BITS;
        dst[d + 2] =
          (ROUNDING_HALF +
            Math.imul((p0 >> 16) & 255, w0) +
            Math.imul((p1 >> 16) & 255, w1) +
            Math.imul((p2 >> 16) & 255, w2) +
            Math.imul((p3 >> 16) & 255, w3) +
            Math.imul((p4 >> 16) & 255, w4) +
            Math.imul((p5 >> 16) & 255, w5)) >>
          PRECISION_BITS;
      }
    } else {
      // Any other window (wider when shrinking more, narrower at the image's edges): the
      // taps in a loop, the three channels' sums in registers.
      for (; s < end; s = (s + srcLineStride) | 0, d = (d + dstLineStride) | 0) {
        let r = ROUNDING_HALF;
        let g = ROUNDING_HALF;
        let b = ROUNDING_HALF;
        for (let i = 0, t = s; i < count; i++, t = (t + tapStep) | 0) {
          const pixel = words.getInt32(t, true);
          const weight = weights[w + i];
          r += Math.imul(pixel & 255, weight);
          g += Math.imul((pixel >> 8) & 255, weight);
          b += Math.imul((pixel >> 16) & 255, weight);
        }
        dst[d] = r >> PRECISION_BITS;
        dst[d + 1] = g >> PRECISION_BITS;
        dst[d + 2] = b >> PRECISION_BITS;
      }
    }
  }
}

/** One sample and one tap at a time, reading no byte past the window: lines from sample `s` of the source and `d` of the destination. */
function convolveBytewise(src: Uint8ClampedArray, dst: Uint8ClampedArray, weights: Int32Array, w: number, count: number, s: number, d: number, lines: number, layout: PassLayout): void {
  const { srcLineStride, dstLineStride, tapStep } = layout;
  for (let line = 0; line < lines; line++, s += srcLineStride, d += dstLineStride) {
    for (let c = 0; c < CHANNELS; c++) {
      let sum = ROUNDING_HALF;
      for (let i = 0, t = s + c; i < count; i++, t += tapStep) sum += src[t] * weights[w + i];
      dst[d + c] = sum >> PRECISION_BITS;
    }
  }
}

/**
 * Rows are resampled horizontally in blocks of this many: the block's source rows stay in
 * cache while every output column sweeps over them, and each column's weights are loaded
 * once per block rather than once per row. A block spans a band of patch rows.
 */
const ROW_BLOCK = 32;

/**
 * Horizontal pass of `rows` rows, from `src` (pixels `srcStep` bytes apart: 3 for RGB, 4
 * for RGBA, whose alpha is never read) at row `srcRow` into RGB `dst` at row `dstRow`.
 */
function horizontalPass(src: PassSource, srcRow: number, dst: Uint8ClampedArray, dstRow: number, rows: number, coefficients: AxisCoefficients, inWidth: number, srcStep: number): void {
  const srcLineStride = inWidth * srcStep;
  const outWidth = coefficients.counts.length;
  const dstLineStride = outWidth * CHANNELS;
  for (let block = 0; block < rows; block += ROW_BLOCK) {
    resamplePass(src, dst, coefficients, {
      firstOut: 0,
      endOut: outWidth,
      lines: Math.min(ROW_BLOCK, rows - block),
      srcOrigin: (srcRow + block) * srcLineStride,
      dstOrigin: (dstRow + block) * dstLineStride,
      tapStep: srcStep,
      dstStep: CHANNELS,
      srcLineStride,
      dstLineStride,
    });
  }
}

/**
 * Vertical pass for output rows [start, end) into RGB `dst` from its first row. `src`
 * holds input rows from `srcFirstRow` on, pixels `srcStep` bytes apart. Each output row is
 * one run over contiguous samples.
 */
function verticalPass(src: PassSource, srcFirstRow: number, dst: Uint8ClampedArray, start: number, end: number, coefficients: AxisCoefficients, width: number, srcStep: number): void {
  const srcRowSamples = width * srcStep;
  const dstRowSamples = width * CHANNELS;
  resamplePass(src, dst, coefficients, {
    firstOut: start,
    endOut: end,
    lines: width,
    srcOrigin: -srcFirstRow * srcRowSamples,
    dstOrigin: -start * dstRowSamples,
    tapStep: srcRowSamples,
    dstStep: dstRowSamples,
    srcLineStride: srcStep,
    dstLineStride: CHANNELS,
  });
}

/** Rows [start, end) of `src` (pixels `srcStep` bytes apart) as RGB into `dst` from its first row. */
function copyRows(src: Uint8ClampedArray, dst: Uint8ClampedArray, start: number, end: number, width: number, srcStep: number): void {
  if (srcStep === CHANNELS) {
    dst.set(src.subarray(start * width * CHANNELS, end * width * CHANNELS));
    return;
  }
  for (let s = start * width * srcStep, d = 0, stop = end * width * srcStep; s < stop; s += srcStep, d += CHANNELS) {
    dst[d] = src[s];
    dst[d + 1] = src[s + 1];
    dst[d + 2] = src[s + 2];
  }
}

/**
 * Pillow's BICUBIC resize of one 8-bit image, produced a band of output rows at a time, so
 * a caller that consumes rows as they come never holds the whole resized image. As in
 * Pillow the horizontal pass runs first into an 8-bit intermediate, then the vertical
 * pass; a pass whose dimension is unchanged is skipped. Only the intermediate rows the
 * current band's vertical windows read are kept, and the ones the next band shares are
 * carried over rather than recomputed.
 *
 * The input is RGB or RGBA; the output is always RGB. An RGBA input's alpha is skipped as
 * the pixels are read, which is PIL's `convert('RGB')` (alpha dropped, never composited)
 * without a converted copy of the whole image.
 */
export class BicubicResampler {
  readonly width: number;
  readonly height: number;
  /** The input, viewed as clamped bytes whatever array type the caller's decoder produced, so element loads stay monomorphic. */
  private readonly source: PassSource;
  /** Bytes from one input pixel to the next: its channel count. */
  private readonly sourceStep: number;
  private readonly inWidth: number;
  private readonly horizontal: AxisCoefficients | undefined;
  private readonly vertical: AxisCoefficients | undefined;
  /** Where the intermediate rows live; a caller resizing many images passes the same one each time. */
  private readonly scratch: ScratchBytes;
  /** Horizontally resampled input rows [heldStart, heldEnd), when both passes run. */
  private intermediate = passSource(new Uint8ClampedArray(0));
  private heldStart = 0;
  private heldEnd = 0;

  constructor(image: RawImage, width: number, height: number, scratch = new ScratchBytes()) {
    if ((image.channels !== 3 && image.channels !== 4) || image.data.length !== image.width * image.height * image.channels) {
      throw new QwenVLError('INVALID_IMAGE', `must be 8-bit RGB or RGBA with ${image.width}×${image.height}×${image.channels} bytes, got ${image.channels} channels and ${image.data.length} bytes`, {
        source: 'resizeBicubic image',
      });
    }
    if (!Number.isInteger(width) || width <= 0 || !Number.isInteger(height) || height <= 0) {
      throw new QwenVLError('INVALID_ARGUMENT', `target size must be positive integers, got ${width}×${height}`, { source: 'resizeBicubic' });
    }
    // Before the output is allocated: 100000×100000 asked for a 30 GB array (a RangeError).
    if (width * height > MAX_DECODED_PIXELS) {
      throw new QwenVLError('INVALID_ARGUMENT', `target size ${width}×${height} is more than the ${MAX_DECODED_PIXELS} pixels an image may have`, { source: 'resizeBicubic' });
    }
    this.width = width;
    this.height = height;
    this.inWidth = image.width;
    this.source = passSource(new Uint8ClampedArray(image.data.buffer, image.data.byteOffset, image.data.length));
    this.sourceStep = image.channels;
    this.horizontal = width !== image.width ? axisCoefficients(image.width, width) : undefined;
    this.vertical = height !== image.height ? axisCoefficients(image.height, height) : undefined;
    this.scratch = scratch;
  }

  /** Writes output rows [start, end) into `dst`, which holds (end - start) rows. */
  resampleRows(start: number, end: number, dst: Uint8ClampedArray): void {
    if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end > this.height || start >= end) {
      throw new QwenVLError('INVALID_ARGUMENT', `row range [${start}, ${end}) is empty or outside 0..${this.height}`, { source: 'BicubicResampler.resampleRows' });
    }
    const rowSamples = this.width * CHANNELS;
    if (dst.length < (end - start) * rowSamples) {
      throw new QwenVLError('INVALID_ARGUMENT', `holds ${dst.length} samples, rows ${start}..${end} need ${(end - start) * rowSamples}`, {
        source: 'BicubicResampler.resampleRows dst',
      });
    }
    const { horizontal, vertical, sourceStep } = this;
    if (vertical === undefined) {
      if (horizontal === undefined) copyRows(this.source.samples, dst, start, end, this.width, sourceStep);
      else horizontalPass(this.source, start, dst, 0, end - start, horizontal, this.inWidth, sourceStep);
      return;
    }
    if (horizontal === undefined) {
      verticalPass(this.source, 0, dst, start, end, vertical, this.width, sourceStep);
      return;
    }
    const first = vertical.firsts[start];
    this.holdIntermediateRows(first, vertical.firsts[end - 1] + vertical.counts[end - 1], horizontal);
    verticalPass(this.intermediate, first, dst, start, end, vertical, this.width, CHANNELS);
  }

  /** Makes `intermediate` hold the horizontally resampled input rows [start, end) from its first row. */
  private holdIntermediateRows(start: number, end: number, horizontal: AxisCoefficients): void {
    const rowSamples = this.width * CHANNELS;
    // Rows the previous band already computed, if they begin the new range (windows move forward).
    const reused = start >= this.heldStart && start < this.heldEnd ? Math.min(end, this.heldEnd) - start : 0;
    const keptFrom = (start - this.heldStart) * rowSamples;
    this.intermediate.samples.copyWithin(0, keptFrom, keptFrom + reused * rowSamples);
    const rows = this.scratch.take((end - start) * rowSamples, reused * rowSamples);
    if (rows !== this.intermediate.samples) this.intermediate = passSource(rows);
    if (start + reused < end) {
      horizontalPass(this.source, start + reused, rows, reused, end - start - reused, horizontal, this.inWidth, this.sourceStep);
    }
    this.heldStart = start;
    this.heldEnd = end;
  }
}

/**
 * Resizes 8-bit RGB (or RGBA, whose alpha is dropped) to `width`×`height` exactly as
 * Pillow's BICUBIC resize does; the result is RGB. An unchanged size returns a copy.
 */
export function resizeBicubic(image: RawImage, width: number, height: number): RawImage {
  const resampler = new BicubicResampler(image, width, height);
  const pixels = new Uint8ClampedArray(width * height * CHANNELS);
  resampler.resampleRows(0, height, pixels);
  return { width, height, channels: 3, data: new Uint8Array(pixels.buffer) };
}
