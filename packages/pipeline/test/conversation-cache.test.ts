import { describe, expect, it } from 'vitest';
import { ConversationCache, promptImages } from '../src/conversation-cache.js';
import type { PromptImage } from '../src/conversation-cache.js';

/** Which leading prompt tokens a chat call may take from the previous call's KV cache. */

const ids = (...values: number[]) => Int32Array.from(values);
const image = (grid: [number, number, number], fill: number): PromptImage => ({ grid, pixels: new Float32Array(grid[0] * grid[1] * grid[2] * 2).fill(fill) });

describe('promptImages', () => {
  it('gives each image its own rows of pixelValues, by its grid', () => {
    const pixelValues = Float32Array.from({ length: (4 + 8) * 3 }, (_, i) => i);
    const [first, second] = promptImages({
      pixelValues,
      imageGridThw: [
        [1, 2, 2],
        [2, 2, 2],
      ],
      rowSize: 3,
    });
    expect(first.grid).toEqual([1, 2, 2]);
    expect(Array.from(first.pixels)).toEqual(Array.from({ length: 12 }, (_, i) => i));
    expect(Array.from(second.pixels)).toEqual(Array.from({ length: 24 }, (_, i) => 12 + i));
  });
});

describe('ConversationCache', () => {
  const images = [image([1, 2, 2], 0.5)];
  // Prompt 1 2 3, generated 4 5 6 of which 4 5 were fed back: the cache holds 1 2 3 4 5.
  const cache = ConversationCache.after(ids(1, 2, 3), images, [4, 5, 6], 5)!;

  it('holds the prompt and the generated tokens the session cached', () => {
    expect(Array.from(cache.tokenIds)).toEqual([1, 2, 3, 4, 5]);
    // A call that ended before its prefill leaves no cache to reuse...
    expect(ConversationCache.after(ids(1, 2, 3), images, [], 2)).toBeUndefined();
    // ...also when the session still holds an earlier conversation exactly as long as this prompt:
    // a prefill always produces a token, so no token means the prompt never ran.
    expect(ConversationCache.after(ids(1, 2, 3), images, [], 3)).toBeUndefined();
  });

  it('serves a prompt that continues it with the same images, and at least one new token', () => {
    expect(cache.reusableBy(ids(1, 2, 3, 4, 5, 6, 7), images)).toBe(5);
    expect(cache.reusableBy(ids(1, 2, 3, 4, 5, 9), [...images, image([1, 2, 2], 0.25)])).toBe(5);
    expect(cache.reusableBy(ids(1, 2, 3, 4, 5), images)).toBe(0);
  });

  it('serves nothing to a prompt that departs from it, or whose cached image changed', () => {
    expect(cache.reusableBy(ids(1, 2, 3, 4, 8, 6, 7), images)).toBe(0);
    expect(cache.reusableBy(ids(1, 2, 3), images)).toBe(0);
    expect(cache.reusableBy(ids(1, 2, 3, 4, 5, 6), [image([1, 2, 2], 0.75)])).toBe(0);
    expect(cache.reusableBy(ids(1, 2, 3, 4, 5, 6), [image([1, 1, 4], 0.5)])).toBe(0);
    expect(cache.reusableBy(ids(1, 2, 3, 4, 5, 6), [])).toBe(0);
  });
});
