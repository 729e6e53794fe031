import { QwenVLError } from '@qwen-vl/core';
import type { RawImage } from './image.js';

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

/**
 * Taps are applied four at a time: JavaScript engines do not unroll loops, and a loop of
 * four or five taps per output costs more in loop control than in arithmetic. Windows are
 * padded to a multiple of four with zero weights that point at a valid input, which leaves
 * every sum unchanged.
 */
const TAP_GROUP = 4;

/** Per output position: which inputs it reads and their fixed-point weights. */
interface AxisCoefficients {
  /** Number of 4-tap groups output i reads. */
  groups: Int32Array;
  /** Tap j of output i reads the input at offset `offsets[i·taps + j]` (input index × step). */
  offsets: Int32Array;
  weights: Int32Array;
  /** Stride of `offsets` and `weights`: the most taps any output may read, rounded up to a whole group. */
  taps: number;
}

/**
 * Pillow's precompute_coeffs followed by normalize_coeffs_8bpc, for one axis. `step` is the
 * distance between neighbouring inputs in the sample array (3 along a row, the row stride
 * down a column).
 */
function axisCoefficients(inSize: number, outSize: number, step: number): AxisCoefficients {
  const scale = inSize / outSize;
  // Downscaling widens the kernel so every input pixel contributes (antialiasing).
  const filterScale = Math.max(scale, 1);
  const support = BICUBIC_SUPPORT * filterScale;
  const maxWindow = Math.ceil(support) * 2 + 1;
  const taps = Math.ceil(maxWindow / TAP_GROUP) * TAP_GROUP;
  const groups = new Int32Array(outSize);
  const offsets = new Int32Array(outSize * taps);
  const weights = new Int32Array(outSize * taps);
  const real = new Float64Array(maxWindow);
  const inverseFilterScale = 1 / filterScale;

  for (let out = 0; out < outSize; out++) {
    const center = (out + 0.5) * scale;
    const first = Math.max(0, Math.trunc(center - support + 0.5));
    const end = Math.min(inSize, Math.trunc(center + support + 0.5));
    const count = end - first;
    let sum = 0;
    for (let i = 0; i < count; i++) {
      const w = bicubic((i + first - center + 0.5) * inverseFilterScale);
      real[i] = w;
      sum += w;
    }
    const base = out * taps;
    groups[out] = Math.ceil(count / TAP_GROUP);
    for (let i = 0; i < groups[out] * TAP_GROUP; i++) {
      offsets[base + i] = Math.min(first + i, inSize - 1) * step;
      if (i >= count) continue;
      const normalized = sum !== 0 ? real[i] / sum : real[i];
      // C's (int) cast after adding ±0.5: round half away from zero.
      weights[base + i] = Math.trunc(normalized < 0 ? normalized * FIXED_ONE - 0.5 : normalized * FIXED_ONE + 0.5);
    }
  }
  return { groups, offsets, weights, taps };
}

/**
 * How a pass walks the interleaved samples. A pass convolves along one axis; the "lines" are
 * the positions along the other axis (rows for the horizontal pass, columns for the
 * vertical one), each holding three channel samples per position.
 */
interface PassLayout {
  lines: number;
  /** Distance between the first samples of neighbouring lines, in the source and destination. */
  srcLineStride: number;
  dstLineStride: number;
  /** Distance between neighbouring outputs of one line in the destination. */
  dstStep: number;
}

/**
 * Lines are processed in blocks of this many, so that the source and destination lines one
 * block touches stay in cache while every output position sweeps over them.
 */
const LINE_BLOCK = 256;

/**
 * One separable pass. Within a block of lines the loops run output by output with the lines
 * innermost, so each group's four offsets and weights are loaded once and reused across the
 * block. Windows wider than one group (strong downscaling) carry their partial sums in
 * `sums`. The destination is clamped, so storing `sum >> 22` clips to 0..255 as Pillow's
 * clip8 does.
 */
function resamplePass(src: Uint8ClampedArray, dst: Uint8ClampedArray, coefficients: AxisCoefficients, layout: PassLayout): void {
  const { groups, offsets, weights, taps } = coefficients;
  const { lines, srcLineStride, dstLineStride, dstStep } = layout;
  const sums = new Int32Array(LINE_BLOCK * CHANNELS);
  for (let blockStart = 0; blockStart < lines; blockStart += LINE_BLOCK) {
    const end = Math.min(LINE_BLOCK, lines - blockStart) * CHANNELS;
    const srcStart = blockStart * srcLineStride;
    const dstStart = blockStart * dstLineStride;
    for (let out = 0; out < groups.length; out++) {
      const firstGroup = out * taps;
      const lastGroup = firstGroup + (groups[out] - 1) * TAP_GROUP;
      for (let k = firstGroup; k <= lastGroup; k += TAP_GROUP) {
        const o0 = offsets[k];
        const o1 = offsets[k + 1];
        const o2 = offsets[k + 2];
        const o3 = offsets[k + 3];
        const w0 = weights[k];
        const w1 = weights[k + 1];
        const w2 = weights[k + 2];
        const w3 = weights[k + 3];
        const carried = k !== firstGroup;
        // Two loops rather than one with a store branch per sample: the hot loop stays short.
        if (k !== lastGroup) {
          for (let m = 0, s = srcStart; m < end; m += CHANNELS, s += srcLineStride) {
            sums[m] = (carried ? sums[m] : ROUNDING_HALF) + src[s + o0] * w0 + src[s + o1] * w1 + src[s + o2] * w2 + src[s + o3] * w3;
            sums[m + 1] = (carried ? sums[m + 1] : ROUNDING_HALF) + src[s + o0 + 1] * w0 + src[s + o1 + 1] * w1 + src[s + o2 + 1] * w2 + src[s + o3 + 1] * w3;
            sums[m + 2] = (carried ? sums[m + 2] : ROUNDING_HALF) + src[s + o0 + 2] * w0 + src[s + o1 + 2] * w1 + src[s + o2 + 2] * w2 + src[s + o3 + 2] * w3;
          }
        } else {
          for (let m = 0, s = srcStart, d = dstStart + out * dstStep; m < end; m += CHANNELS, s += srcLineStride, d += dstLineStride) {
            dst[d] = ((carried ? sums[m] : ROUNDING_HALF) + src[s + o0] * w0 + src[s + o1] * w1 + src[s + o2] * w2 + src[s + o3] * w3) >> PRECISION_BITS;
            dst[d + 1] = ((carried ? sums[m + 1] : ROUNDING_HALF) + src[s + o0 + 1] * w0 + src[s + o1 + 1] * w1 + src[s + o2 + 1] * w2 + src[s + o3 + 1] * w3) >> PRECISION_BITS;
            dst[d + 2] = ((carried ? sums[m + 2] : ROUNDING_HALF) + src[s + o0 + 2] * w0 + src[s + o1 + 2] * w1 + src[s + o2 + 2] * w2 + src[s + o3 + 2] * w3) >> PRECISION_BITS;
          }
        }
      }
    }
  }
}

/**
 * Resizes 8-bit RGB to `width`×`height` exactly as Pillow's BICUBIC resize does: the
 * horizontal pass runs first into an 8-bit intermediate, then the vertical pass; a pass
 * whose dimension is unchanged is skipped, and an unchanged size returns a copy.
 */
export function resizeBicubic(image: RawImage, width: number, height: number): RawImage {
  if (image.channels !== CHANNELS || image.data.length !== image.width * image.height * CHANNELS) {
    throw new QwenVLError('INVALID_IMAGE', `must be 8-bit RGB with ${image.width}×${image.height}×3 bytes, got ${image.channels} channels and ${image.data.length} bytes`, {
      source: 'resizeBicubic image',
    });
  }
  if (!Number.isInteger(width) || width <= 0 || !Number.isInteger(height) || height <= 0) {
    throw new QwenVLError('INVALID_ARGUMENT', `target size must be positive integers, got ${width}×${height}`, { source: 'resizeBicubic' });
  }
  // Both passes read a Uint8ClampedArray (the input through a view) whatever array type the
  // caller's decoder produced, which keeps their element loads monomorphic.
  let pixels = new Uint8ClampedArray(image.data.buffer, image.data.byteOffset, image.data.length);
  if (width !== image.width) {
    const rowSamples = image.width * CHANNELS;
    const next = new Uint8ClampedArray(width * image.height * CHANNELS);
    resamplePass(pixels, next, axisCoefficients(image.width, width, CHANNELS), {
      lines: image.height,
      srcLineStride: rowSamples,
      dstLineStride: width * CHANNELS,
      dstStep: CHANNELS,
    });
    pixels = next;
  }
  if (height !== image.height) {
    const rowSamples = width * CHANNELS;
    const next = new Uint8ClampedArray(rowSamples * height);
    resamplePass(pixels, next, axisCoefficients(image.height, height, rowSamples), {
      lines: width,
      srcLineStride: CHANNELS,
      dstLineStride: CHANNELS,
      dstStep: rowSamples,
    });
    pixels = next;
  }
  const resized = width !== image.width || height !== image.height;
  const data = resized ? new Uint8Array(pixels.buffer) : image.data.slice();
  return { width, height, channels: 3, data };
}
