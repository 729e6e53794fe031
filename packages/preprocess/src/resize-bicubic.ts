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

/** Per output position: the first input index, how many inputs it reads, and their fixed-point weights. */
interface AxisCoefficients {
  /** Entries 2i and 2i+1: first input index and tap count of output i. */
  bounds: Int32Array;
  /** Output i's weights start at i·taps. */
  weights: Int32Array;
  /** Stride of `weights`: the most taps any output may read. */
  taps: number;
}

function axisCoefficients(inSize: number, outSize: number): AxisCoefficients {
  const scale = inSize / outSize;
  // Downscaling widens the kernel so every input pixel contributes (antialiasing).
  const filterScale = Math.max(scale, 1);
  const support = BICUBIC_SUPPORT * filterScale;
  const taps = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const weights = new Int32Array(outSize * taps);
  const real = new Float64Array(taps);
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
    for (let i = 0; i < count; i++) {
      const normalized = sum !== 0 ? real[i] / sum : real[i];
      // C's (int) cast after adding ±0.5: round half away from zero.
      weights[base + i] = Math.trunc(normalized < 0 ? normalized * FIXED_ONE - 0.5 : normalized * FIXED_ONE + 0.5);
    }
    bounds[out * 2] = first;
    bounds[out * 2 + 1] = count;
  }
  return { bounds, weights, taps };
}

/**
 * Resamples each row. The destination is clamped, so storing `sum >> 22` clips to 0..255
 * exactly as Pillow's clip8 does.
 */
function resampleHorizontal(src: Uint8Array, inWidth: number, rows: number, outWidth: number, coefficients: AxisCoefficients): Uint8ClampedArray {
  const { bounds, weights, taps } = coefficients;
  const dst = new Uint8ClampedArray(outWidth * rows * CHANNELS);
  const inStride = inWidth * CHANNELS;
  let d = 0;
  for (let y = 0; y < rows; y++) {
    const rowStart = y * inStride;
    for (let x = 0; x < outWidth; x++) {
      const count = bounds[x * 2 + 1];
      const kernel = x * taps;
      let s = rowStart + bounds[x * 2] * CHANNELS;
      let r = ROUNDING_HALF;
      let g = ROUNDING_HALF;
      let b = ROUNDING_HALF;
      for (let i = 0; i < count; i++, s += CHANNELS) {
        const w = weights[kernel + i];
        r += src[s] * w;
        g += src[s + 1] * w;
        b += src[s + 2] * w;
      }
      dst[d++] = r >> PRECISION_BITS;
      dst[d++] = g >> PRECISION_BITS;
      dst[d++] = b >> PRECISION_BITS;
    }
  }
  return dst;
}

/** Resamples each column; all three channels of a row share the row's weights. */
function resampleVertical(src: Uint8Array | Uint8ClampedArray, width: number, outHeight: number, coefficients: AxisCoefficients): Uint8ClampedArray {
  const { bounds, weights, taps } = coefficients;
  const stride = width * CHANNELS;
  const dst = new Uint8ClampedArray(stride * outHeight);
  let d = 0;
  for (let y = 0; y < outHeight; y++) {
    const firstRow = bounds[y * 2] * stride;
    const count = bounds[y * 2 + 1];
    const kernel = y * taps;
    for (let j = 0; j < stride; j++) {
      let acc = ROUNDING_HALF;
      for (let i = 0, s = firstRow + j; i < count; i++, s += stride) {
        acc += src[s] * weights[kernel + i];
      }
      dst[d++] = acc >> PRECISION_BITS;
    }
  }
  return dst;
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
  let pixels: Uint8Array | Uint8ClampedArray = image.data;
  if (width !== image.width) {
    pixels = resampleHorizontal(pixels as Uint8Array, image.width, image.height, width, axisCoefficients(image.width, width));
  }
  if (height !== image.height) {
    pixels = resampleVertical(pixels, width, height, axisCoefficients(image.height, height));
  }
  const data = pixels === image.data ? image.data.slice() : new Uint8Array(pixels.buffer, pixels.byteOffset, pixels.length);
  return { width, height, channels: 3, data };
}
