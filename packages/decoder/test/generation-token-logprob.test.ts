import { describe, expect, it } from 'vitest';
import { tokenLogprob } from '../src/index.js';

/** log softmax in float64 the textbook way: max, then the sum of Math.exp. */
function referenceLogprob(logits: Float32Array, tokenId: number): number {
  const max = logits.reduce((m, x) => Math.max(m, x), -Infinity);
  const sum = logits.reduce((s, x) => s + Math.exp(x - max), 0);
  return logits[tokenId] - max - Math.log(sum);
}

/** A vocabulary-sized row of logits spread like a language model's, from a fixed LCG. */
function modelLikeLogits(size: number, seed: number): Float32Array {
  let state = seed;
  const uniform = () => (state = (Math.imul(state, 1664525) + 1013904223) >>> 0) / 2 ** 32;
  return Float32Array.from({ length: size }, () => (uniform() + uniform() + uniform() - 1.5) * 8);
}

describe('tokenLogprob', () => {
  it('is log softmax of the token (hand-computed)', () => {
    // softmax of [0, ln 3] is [1/4, 3/4].
    const logits = Float32Array.of(0, Math.log(3));
    expect(tokenLogprob(logits, 0)).toBeCloseTo(Math.log(0.25), 7);
    expect(tokenLogprob(logits, 1)).toBeCloseTo(Math.log(0.75), 7);
  });

  it('matches the float64 reference on a 151,936-token row, with its largest logit first, last or in the middle', () => {
    const logits = modelLikeLogits(151936, 7);
    for (const peakAt of [0, 75000, 151935]) {
      const row = logits.slice();
      row[peakAt] = 30;
      for (const token of [peakAt, 1, 151934]) expect(Math.abs(tokenLogprob(row, token) - referenceLogprob(row, token))).toBeLessThan(1e-8);
    }
    // Ascending logits make the running maximum change at every entry.
    const ascending = Float32Array.from({ length: 5000 }, (_, i) => i / 100);
    expect(Math.abs(tokenLogprob(ascending, 4000) - referenceLogprob(ascending, 4000))).toBeLessThan(1e-8);
  });

  it('stays finite for large logits and gives -Infinity to a filtered token', () => {
    const logits = Float32Array.of(1000, 1000, -Infinity, -1000);
    expect(tokenLogprob(logits, 0)).toBeCloseTo(Math.log(0.5), 12);
    expect(tokenLogprob(logits, 2)).toBe(-Infinity);
    expect(tokenLogprob(logits, 3)).toBeCloseTo(-2000 - Math.log(2), 9);
  });
});
