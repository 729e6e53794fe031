import { describe, expect, it } from 'vitest';
import { isQwenVLError } from '@qwen-vl/core';
import { smartResize } from '../src/smart-resize.js';

// Expected sizes were computed with Hugging Face's `smart_resize` (newer releases) run in Python.
const checkpoint = { factor: 28, minPixels: 3136, maxPixels: 12845056 };

describe('smartResize', () => {
  it.each([
    // The worked examples of the reference (§1.2), height × width.
    [480, 640, 476, 644],
    [1080, 1920, 1092, 1932],
    [4000, 6000, 2912, 4368],
    [20, 20, 56, 56],
    // The golden images and the benchmark sizes.
    [200, 300, 196, 308],
    [768, 1024, 756, 1036],
    [3000, 4000, 2996, 4004],
  ])('%i×%i → %i×%i', (height, width, expectedHeight, expectedWidth) => {
    expect(smartResize(height, width, checkpoint)).toEqual({ height: expectedHeight, width: expectedWidth });
  });

  it('rounds sides that are odd multiples of 14 half-to-even, as Python round does', () => {
    // 42/28 = 1.5 → 2, 70/28 = 2.5 → 2 (Math.round would give 3 → 84).
    expect(smartResize(42, 70, checkpoint)).toEqual({ height: 56, width: 56 });
    expect(smartResize(70, 42, checkpoint)).toEqual({ height: 56, width: 56 });
    // 98/28 = 3.5 → 4, 126/28 = 4.5 → 4.
    expect(smartResize(98, 126, checkpoint)).toEqual({ height: 112, width: 112 });
  });

  it('scales tiny images up to min_pixels with ceil', () => {
    expect(smartResize(1, 1, checkpoint)).toEqual({ height: 56, width: 56 });
    expect(smartResize(1, 200, checkpoint)).toEqual({ height: 28, width: 812 });
    expect(smartResize(300, 300, { ...checkpoint, minPixels: 200000 })).toEqual({ height: 448, width: 448 });
  });

  it('scales images over max_pixels down with floor, keeping each side at least factor', () => {
    expect(smartResize(1000, 1000, { ...checkpoint, maxPixels: 100000 })).toEqual({ height: 308, width: 308 });
    // floor(30 / beta / 28) is 0 here; newer Hugging Face clamps it to one factor.
    expect(smartResize(30, 5000, { ...checkpoint, maxPixels: 7840 })).toEqual({ height: 28, width: 1120 });
  });

  it('keeps a size that is already a multiple of factor and within the budget', () => {
    expect(smartResize(56, 56, { factor: 28, minPixels: 3136, maxPixels: 3136 })).toEqual({ height: 56, width: 56 });
  });

  it('accepts an aspect ratio of exactly 200 and rejects 201 with Hugging Face message', () => {
    expect(smartResize(200, 1, checkpoint)).toEqual({ height: 812, width: 28 });
    expect(() => smartResize(1, 201, checkpoint)).toThrow('absolute aspect ratio must be smaller than 200, got 201.0');
    expect(() => smartResize(3, 1000, checkpoint)).toThrow('absolute aspect ratio must be smaller than 200, got 333.3333333333333');
    try {
      smartResize(201, 1, checkpoint);
      expect.unreachable();
    } catch (error) {
      expect(isQwenVLError(error, 'INVALID_ARGUMENT')).toBe(true);
    }
  });

  it('rejects sizes and budgets that are not positive integers', () => {
    expect(() => smartResize(0, 10, checkpoint)).toThrow(/height/);
    expect(() => smartResize(10, 2.5, checkpoint)).toThrow(/width/);
    expect(() => smartResize(10, 10, { ...checkpoint, maxPixels: 0 })).toThrow(/maxPixels/);
  });
});
