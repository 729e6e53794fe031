import { describe, expect, it } from 'vitest';
import { MAX_DECODED_PIXELS, isQwenVLError } from '@qwen-vl/core';
import type { RawImage } from '../src/image.js';
import { BicubicResampler, resizeBicubic } from '../src/resize-bicubic.js';
import { ScratchBytes } from '../src/scratch.js';

function rgb(width: number, height: number, samples: number[]): RawImage {
  return { width, height, channels: 3, data: Uint8Array.from(samples) };
}

/**
 * Pillow's BICUBIC resize written as directly as its description reads (one sample at a
 * time, no tap grouping), used as the oracle for sizes the hand-checked cases do not reach.
 */
function referenceResize(image: RawImage, width: number, height: number): Uint8Array {
  const cubic = (x: number) => {
    x = Math.abs(x);
    if (x < 1) return (1.5 * x - 2.5) * x * x + 1;
    if (x < 2) return (((x - 5) * x + 8) * x - 4) * -0.5;
    return 0;
  };
  const windows = (inSize: number, outSize: number) => {
    const scale = inSize / outSize;
    const filterScale = Math.max(scale, 1);
    const support = 2 * filterScale;
    return Array.from({ length: outSize }, (_, out) => {
      const center = (out + 0.5) * scale;
      const first = Math.max(0, Math.trunc(center - support + 0.5));
      const end = Math.min(inSize, Math.trunc(center + support + 0.5));
      const real = Array.from({ length: end - first }, (_, i) => cubic((i + first - center + 0.5) * (1 / filterScale)));
      const sum = real.reduce((a, b) => a + b, 0);
      const fixed = real.map((w) => (sum !== 0 ? w / sum : w) * 2 ** 22).map((w) => Math.trunc(w < 0 ? w - 0.5 : w + 0.5));
      return { first, fixed };
    });
  };
  const clip = (sum: number) => Math.min(255, Math.max(0, Math.floor(sum / 2 ** 22)));
  let pixels = image.data;
  let w = image.width;
  if (width !== image.width) {
    const next = new Uint8Array(width * image.height * 3);
    const taps = windows(image.width, width);
    for (let y = 0; y < image.height; y++) {
      for (let x = 0; x < width; x++) {
        for (let c = 0; c < 3; c++) {
          let sum = 2 ** 21;
          taps[x].fixed.forEach((k, i) => (sum += pixels[(y * w + taps[x].first + i) * 3 + c] * k));
          next[(y * width + x) * 3 + c] = clip(sum);
        }
      }
    }
    pixels = next;
    w = width;
  }
  if (height !== image.height) {
    const next = new Uint8Array(w * height * 3);
    const taps = windows(image.height, height);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < w; x++) {
        for (let c = 0; c < 3; c++) {
          let sum = 2 ** 21;
          taps[y].fixed.forEach((k, i) => (sum += pixels[((taps[y].first + i) * w + x) * 3 + c] * k));
          next[(y * w + x) * 3 + c] = clip(sum);
        }
      }
    }
    pixels = next;
  }
  return pixels;
}

/** Deterministic samples with many 0 and 255 values, so clipping is exercised. */
function noise(width: number, height: number, seed: number): RawImage {
  let state = seed;
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < data.length; i++) {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    const v = state >>> 24;
    data[i] = v < 40 ? 0 : v > 215 ? 255 : v;
  }
  return { width, height, channels: 3, data };
}

describe('resizeBicubic', () => {
  it('returns an equal copy when the size is unchanged', () => {
    const image = noise(5, 4, 1);
    const resized = resizeBicubic(image, 5, 4);
    expect(resized).toMatchObject({ width: 5, height: 4, channels: 3 });
    expect(resized.data).toEqual(image.data);
    expect(resized.data.buffer).not.toBe(image.data.buffer);
  });

  it('keeps a constant image constant when scaling up and down', () => {
    const image = rgb(7, 5, Array.from({ length: 7 * 5 }, () => [0, 137, 255]).flat());
    for (const [w, h] of [
      [20, 13],
      [3, 2],
      [1, 1],
      [7, 11],
    ]) {
      const resized = resizeBicubic(image, w, h);
      expect(resized.data).toEqual(Uint8Array.from(Array.from({ length: w * h }, () => [0, 137, 255]).flat()));
    }
  });

  it('averages 2×1 into 1×1 with the half-up rounding of the fixed-point sum', () => {
    // Downscale by 2: taps at ±0.25 of the widened kernel get equal weights 1/2 = 2^21.
    // Result floor((a + b + 1) / 2).
    expect(Array.from(resizeBicubic(rgb(2, 1, [10, 20, 30, 21, 40, 255]), 1, 1).data)).toEqual([16, 30, 143]);
    expect(Array.from(resizeBicubic(rgb(1, 2, [10, 20, 30, 21, 40, 255]), 1, 1).data)).toEqual([16, 30, 143]);
  });

  it('upscales 2 → 4 with the hand-computed Keys weights, clipping overshoot', () => {
    // Output 0 (center 0.25): cubic(0.25) = 111/128 and cubic(1.25) = -9/128, normalized
    // to 37/34 and -3/34. Output 1 (center 0.75): 111/140 and 29/140. Outputs 2, 3 mirror.
    // [0, 255] → [-22.5, 52.8, 202.2, 277.5] clipped and rounded;
    // [100, 200] → [91.2, 120.7, 179.3, 208.8].
    const resized = resizeBicubic(rgb(2, 1, [0, 100, 0, 255, 200, 255]), 4, 1);
    expect(Array.from(resized.data)).toEqual([0, 91, 0, 53, 121, 53, 202, 179, 202, 255, 209, 255]);
    const vertical = resizeBicubic(rgb(1, 2, [0, 100, 0, 255, 200, 255]), 1, 4);
    expect(Array.from(vertical.data)).toEqual(Array.from(resized.data));
  });

  it.each([
    // [in w, in h, out w, out h]: mild up/down scales like smart_resize produces (windows of
    // 4 and 5 taps), shrinks by up to a half (5 and 6 taps, and 7 just past it), strong
    // downscales whose windows are dozens of taps wide, inputs narrower than a window, and
    // passes over more than one block of rows.
    [128, 96, 130, 94],
    [100, 90, 80, 72],
    [100, 90, 71, 66],
    [150, 120, 99, 79],
    [64, 300, 70, 290],
    [300, 40, 290, 45],
    [37, 29, 56, 56],
    [640, 48, 64, 47],
    [500, 3, 7, 9],
    [1, 1, 5, 3],
    [3, 2, 1, 1],
    [2, 5, 9, 2],
    [97, 61, 13, 200],
  ])('matches the direct transcription of Pillow for %i×%i → %i×%i', (w, h, outW, outH) => {
    const image = noise(w, h, w * 31 + h);
    const resized = resizeBicubic(image, outW, outH);
    expect(resized).toMatchObject({ width: outW, height: outH, channels: 3 });
    const expected = referenceResize(image, outW, outH);
    expect(resized.data.length).toBe(expected.length);
    // Index of the first differing sample (-1 when none), cheaper to compare than the arrays.
    expect(resized.data.findIndex((v, i) => v !== expected[i])).toBe(-1);
  });

  it('reads pixels through a view that starts inside a larger buffer', () => {
    // The samples sit at an odd byte offset with other bytes around them, which must neither
    // be read as pixels nor shift the 32-bit loads.
    const image = noise(41, 23, 7);
    const buffer = new Uint8Array(image.data.length + 9).fill(255);
    buffer.set(image.data, 5);
    const view: RawImage = { ...image, data: buffer.subarray(5, 5 + image.data.length) };
    for (const [w, h] of [
      [56, 28],
      [28, 14],
      [41, 30],
      [50, 23],
    ]) {
      expect(resizeBicubic(view, w, h).data).toEqual(referenceResize(image, w, h));
    }
  });

  it('reads RGBA without its alpha, through every combination of passes', () => {
    const image = noise(41, 23, 5);
    // Alpha from another stream of noise, 0 and 255 included: it must never reach a sum.
    const alpha = noise(41, 23, 6).data;
    const rgba: RawImage = { width: 41, height: 23, channels: 4, data: new Uint8Array(41 * 23 * 4) };
    for (let p = 0; p < 41 * 23; p++) {
      rgba.data.set(image.data.subarray(p * 3, p * 3 + 3), p * 4);
      rgba.data[p * 4 + 3] = alpha[p * 3];
    }
    for (const [w, h] of [
      [56, 28],
      [56, 23],
      [41, 28],
      [41, 23],
    ]) {
      const resized = resizeBicubic(rgba, w, h);
      expect(resized).toMatchObject({ width: w, height: h, channels: 3 });
      expect(resized.data).toEqual(referenceResize(image, w, h));
    }
  });

  it('rejects non-RGB input and bad target sizes', () => {
    const gray: RawImage = { width: 2, height: 2, channels: 1, data: new Uint8Array(4) };
    expect(() => resizeBicubic(gray, 4, 4)).toThrow(/RGB/);
    try {
      resizeBicubic(noise(2, 2, 3), 0, 4);
      expect.unreachable();
    } catch (error) {
      expect(isQwenVLError(error, 'INVALID_ARGUMENT')).toBe(true);
    }
  });

  it('refuses a target beyond MAX_DECODED_PIXELS before allocating it (100000×100000 was a 30 GB RangeError)', () => {
    expect(() => resizeBicubic(noise(2, 2, 3), 100_000, 100_000)).toThrow(`resizeBicubic: target size 100000×100000 is more than the ${MAX_DECODED_PIXELS} pixels an image may have`);
    expect(resizeBicubic(noise(2, 2, 3), 8192, 1).data).toHaveLength(8192 * 3);
  });
});

describe('BicubicResampler', () => {
  /** Rows of `resampler` requested band by band, `band` rows at a time, concatenated. */
  function byBands(resampler: BicubicResampler, band: number): Uint8Array {
    const rowSamples = resampler.width * 3;
    const all = new Uint8Array(resampler.height * rowSamples);
    const dst = new Uint8ClampedArray(band * rowSamples);
    for (let start = 0; start < resampler.height; start += band) {
      const end = Math.min(start + band, resampler.height);
      resampler.resampleRows(start, end, dst);
      all.set(dst.subarray(0, (end - start) * rowSamples), start * rowSamples);
    }
    return all;
  }

  it.each([
    // Both passes, bands sharing intermediate rows; a strong vertical downscale whose bands
    // need more intermediate rows than the first; only one pass; no pass.
    [97, 61, 84, 56, 28],
    [90, 300, 56, 56, 28],
    [60, 40, 112, 84, 28],
    [60, 40, 60, 84, 7],
    [60, 40, 112, 40, 13],
    [28, 28, 28, 28, 5],
    [33, 50, 29, 17, 1],
  ])('gives the rows of the whole resize when asked band by band: %i×%i → %i×%i in bands of %i', (w, h, outW, outH, band) => {
    const image = noise(w, h, w + h);
    const expected = referenceResize(image, outW, outH);
    expect(byBands(new BicubicResampler(image, outW, outH), band)).toEqual(expected);
  });

  it('gives the same rows when bands are requested out of order or again', () => {
    const image = noise(45, 70, 11);
    const resampler = new BicubicResampler(image, 56, 56);
    const expected = referenceResize(image, 56, 56);
    const rowSamples = 56 * 3;
    const dst = new Uint8ClampedArray(20 * rowSamples);
    for (const [start, end] of [
      [28, 48],
      [0, 20],
      [10, 30],
      [10, 30],
      [36, 56],
      [29, 31],
    ]) {
      resampler.resampleRows(start, end, dst);
      expect(Array.from(dst.subarray(0, (end - start) * rowSamples))).toEqual(Array.from(expected.subarray(start * rowSamples, end * rowSamples)));
    }
  });

  it('gives each resampler its own rows when one scratch buffer serves them in turn', () => {
    // The second image is wider, so the shared buffer grows; the third reuses it with rows of the first still in it.
    const scratch = new ScratchBytes();
    for (const [w, h, outW, outH] of [
      [45, 70, 56, 56],
      [90, 60, 112, 84],
      [45, 70, 56, 28],
    ]) {
      const image = noise(w, h, w + h);
      expect(byBands(new BicubicResampler(image, outW, outH, scratch), 28)).toEqual(referenceResize(image, outW, outH));
    }
  });

  it('rejects row ranges outside the image and destinations too small for them', () => {
    const resampler = new BicubicResampler(noise(10, 10, 1), 20, 20);
    const dst = new Uint8ClampedArray(5 * 20 * 3);
    expect(() => resampler.resampleRows(18, 21, dst)).toThrow(/row range \[18, 21\)/);
    expect(() => resampler.resampleRows(3, 3, dst)).toThrow(/is empty/);
    expect(() => resampler.resampleRows(0, 6, dst)).toThrow(/holds 300 samples/);
  });
});
