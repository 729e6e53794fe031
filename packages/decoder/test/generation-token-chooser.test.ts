import { parseGenerationConfig } from '@qwen-vl/core';
import { describe, expect, it } from 'vitest';
import { Xoshiro128, processLogits, resolveSearchOptions, sampleToken } from '../src/index.js';
import type { SearchOptionsInput } from '../src/index.js';
import { TokenChooser } from '../src/generation/token-chooser.js';

/** Rough logits with many exact ties (one decimal), deterministic without any RNG. */
function tiedLogits(size: number): Float32Array {
  return Float32Array.from({ length: size }, (_, i) => Math.round(Math.sin(i * 1.7) * 40) / 10);
}

/** Logits spread like a language model's, with one clear favourite, from a fixed LCG. */
function modelLikeLogits(size: number, seed: number): Float32Array {
  let state = seed;
  const uniform = () => (state = (Math.imul(state, 1664525) + 1013904223) >>> 0) / 2 ** 32;
  const logits = Float32Array.from({ length: size }, () => (uniform() + uniform() + uniform() - 1.5) * 4);
  logits[seed % size] = 12;
  return logits;
}

/** Each search, and whether its draws spread over many tokens (so that agreeing on them means something). */
const SEARCHES: [SearchOptionsInput, boolean][] = [
  [{ greedy: true, repetitionPenalty: 1 }, false],
  [{ greedy: true, repetitionPenalty: 1.3, minLength: 10, eosTokenIds: [17] }, false],
  // Qwen2.5-VL's generation_config: a draw that is greedy in effect.
  [{ doSample: true, temperature: 1e-6, topK: 50, topP: 1, repetitionPenalty: 1.05 }, false],
  [{ doSample: true, temperature: 0.7, topK: 400, topP: 0.9, repetitionPenalty: 1.3, minLength: 10, eosTokenIds: [17] }, true],
  [{ doSample: true, temperature: 1.5, topK: 0, topP: 0.5 }, true],
  [{ doSample: true, temperature: 1, topK: 0, topP: 1 }, true],
  [{ doSample: true, temperature: 1, topK: 1, topP: 1 }, false],
];

describe('TokenChooser', () => {
  it('picks exactly what sampleToken(processLogits(…)) picks, draw for draw, leaving the logits untouched', () => {
    const rows = [tiedLogits(5000), modelLikeLogits(5000, 321), tiedLogits(5000).reverse(), modelLikeLogits(5000, 4321)];
    const sequences = [[3, 9, 3, 4000, 17], [12], [17, 400, 401, 402, 403, 404, 405, 406, 407, 408, 409], [321, 4321, 5]];
    for (const [input, varied] of SEARCHES) {
      const options = resolveSearchOptions(input, parseGenerationConfig({}));
      // One chooser for every row and step, as in a generation: nothing of one row may leak into the next.
      const chooser = new TokenChooser(5000);
      const [ours, reference] = [Xoshiro128.fromSeed(11), Xoshiro128.fromSeed(11)];
      const picked: number[] = [];
      for (let round = 0; round < 25; round++) {
        const logits = rows[round % rows.length];
        const sequence = sequences[round % sequences.length];
        const before = logits.slice();
        const token = chooser.choose(logits, options, { distinctIds: new Set(sequence), sequenceLength: sequence.length }, ours);
        expect(token, `${JSON.stringify(input)}, round ${round}`).toBe(sampleToken(processLogits(logits, options, sequence), options, reference));
        expect(logits).toEqual(before);
        picked.push(token);
      }
      if (varied) expect(new Set(picked).size, JSON.stringify(input)).toBeGreaterThan(10);
    }
  });
});
