import { parseGenerationConfig } from '@qwen-vl/core';
import { describe, expect, it } from 'vitest';
import { applyMinLength, applyRepetitionPenalty, applyTemperature, argmax, logSoftmax, processLogits, resolveSearchOptions, softmax, topKFilter, topPFilter } from '../src/index.js';

const f32 = (values: number[]): Float32Array => Float32Array.from(values);
const kept = (logits: Float32Array): number[] => [...logits.keys()].filter((i) => logits[i] !== -Infinity);
const NEG = -Infinity;

/** HF's TopPLogitsWarper written out literally: full stable ascending sort, cumulative softmax. */
function referenceTopPKept(logits: Float32Array, p: number): number[] {
  const probs = softmax(logits);
  const ascending = [...logits.keys()].sort((a, b) => probs[a] - probs[b] || a - b);
  const keep: number[] = [];
  let cumulative = 0;
  ascending.forEach((id, rank) => {
    cumulative += probs[id];
    if (cumulative > 1 - p || rank === ascending.length - 1) keep.push(id);
  });
  return keep.sort((a, b) => a - b);
}

/** Rough logits with many exact ties (one decimal), deterministic without any RNG. */
function tiedLogits(size: number): Float32Array {
  return Float32Array.from({ length: size }, (_, i) => Math.round(Math.sin(i * 1.7) * 40) / 10);
}

describe('applyRepetitionPenalty', () => {
  it('divides positive and multiplies negative logits of every seen id once (hand-computed)', () => {
    const logits = f32([2, -1, 0.5, -3, 0, 4]);
    // id 1 appears twice and id 0 twice: each is penalised once. Ids 2 and 5 are unseen.
    const out = applyRepetitionPenalty(logits, [0, 1, 1, 4, 3, 0], 2);
    expect([...out]).toEqual([1, -2, 0.5, -6, 0, 4]);
    const qwen = applyRepetitionPenalty(logits, Int32Array.from([5, 1, 5]), 1.05);
    expect(qwen[5]).toBeCloseTo(4 / 1.05, 6);
    expect(qwen[1]).toBeCloseTo(-1.05, 6);
    expect(qwen[0]).toBe(2);
    expect([...logits]).toEqual([2, -1, 0.5, -3, 0, 4]);
  });

  it('rejects a token id outside the vocabulary', () => {
    expect(() => applyRepetitionPenalty(f32([1, 2]), [2], 1.1)).toThrow(/outside the vocabulary/);
  });
});

describe('applyMinLength', () => {
  it('forbids every EOS id until the sequence (prompt included) reaches minLength', () => {
    const logits = f32([1, 2, 3, 4]);
    expect([...applyMinLength(logits, 5, 6, [3, 1])]).toEqual([1, NEG, 3, NEG]);
    expect([...applyMinLength(logits, 6, 6, [3, 1])]).toEqual([1, 2, 3, 4]);
  });
});

describe('applyTemperature', () => {
  it('divides every logit by the temperature', () => {
    expect([...applyTemperature(f32([1, -2, 0.5, NEG]), 0.5)]).toEqual([2, -4, 1, NEG]);
    expect(() => applyTemperature(f32([1]), 0)).toThrow(/> 0/);
  });

  it('tends to greedy, not NaN, at a temperature that overflows float32 (1e-300 used to pick the last id)', () => {
    for (const logits of [
      [1, 3, 2, NEG],
      [-5, -2, -4, -3],
      [3, 3, 1, 0],
    ]) {
      const scaled = applyTemperature(f32(logits), 1e-300);
      expect([...scaled].some(Number.isNaN)).toBe(false);
      const probabilities = softmax(scaled);
      const top = Math.max(...logits);
      const tops = logits.filter((x) => x === top).length;
      expect([...probabilities]).toEqual(logits.map((x) => (x === top ? 1 / tops : 0)));
    }
  });
});

describe('topKFilter', () => {
  it('keeps the k largest logits', () => {
    expect([...topKFilter(f32([1, 3, 2, 0.5, 0]), 2)]).toEqual([NEG, 3, 2, NEG, NEG]);
  });

  it('keeps every logit tied with the k-th largest, as HF does', () => {
    expect(kept(topKFilter(f32([1, 2, 2, 3]), 2))).toEqual([1, 2, 3]);
    expect(kept(topKFilter(f32([3, 1, 3, 3]), 1))).toEqual([0, 2, 3]);
  });

  it('keeps everything for k = 0, k ≥ V, or when fewer than k logits are finite', () => {
    expect(kept(topKFilter(f32([1, 2, 3]), 0))).toEqual([0, 1, 2]);
    expect(kept(topKFilter(f32([1, 2, 3]), 5))).toEqual([0, 1, 2]);
    expect(kept(topKFilter(f32([NEG, 1, NEG]), 2))).toEqual([1]);
  });

  it('matches a full sort on a 5000-token row with ties', () => {
    const logits = tiedLogits(5000);
    for (const k of [1, 7, 50, 400]) {
      const kthValue = [...logits].sort((a, b) => b - a)[k - 1];
      expect(kept(topKFilter(logits, k))).toEqual([...logits.keys()].filter((i) => logits[i] >= kthValue));
    }
  });
});

describe('topPFilter', () => {
  // probabilities 0.15, 0.5, 0.05, 0.3; ascending cumulative: 0.05, 0.2, 0.5, 1.
  const logits = f32([Math.log(0.15), Math.log(0.5), Math.log(0.05), Math.log(0.3)]);

  it('removes the tokens whose ascending cumulative probability is ≤ 1 − p', () => {
    expect(kept(topPFilter(logits, 0.75))).toEqual([1, 3]);
    expect(kept(topPFilter(logits, 0.9))).toEqual([0, 1, 3]);
    expect(kept(topPFilter(logits, 0.97))).toEqual([0, 1, 2, 3]);
    const out = topPFilter(logits, 0.75);
    expect(out[1]).toBe(logits[1]);
    expect(out[3]).toBe(logits[3]);
  });

  it('always keeps the most likely token', () => {
    expect(kept(topPFilter(logits, 0.3))).toEqual([1]);
    expect(kept(topPFilter(logits, 1e-9))).toEqual([1]);
  });

  it('removes a token whose cumulative probability equals 1 − p, lower index first among ties', () => {
    // Uniform over 4: ascending cumulative 0.25, 0.5, 0.75, 1 with ids 0, 1, 2, 3 (stable sort).
    expect(kept(topPFilter(f32([0, 0, 0, 0]), 0.5))).toEqual([2, 3]);
    expect(kept(topPFilter(f32([0, 0, 0, 0]), 0.6))).toEqual([1, 2, 3]);
  });

  it('treats already filtered tokens as probability 0', () => {
    // 0.4 (cumulative 0.4 ≤ 0.5) goes, 0.6 stays.
    expect(kept(topPFilter(f32([NEG, Math.log(0.6), Math.log(0.4), NEG]), 0.5))).toEqual([1]);
  });

  it('keeps everything at p = 1', () => {
    expect(kept(topPFilter(logits, 1))).toEqual([0, 1, 2, 3]);
  });

  it('matches a literal full-sort implementation on a 5000-token row with ties', () => {
    const row = tiedLogits(5000);
    for (const p of [0.01, 0.1, 0.5, 0.9, 0.999]) {
      expect(kept(topPFilter(row, p))).toEqual(referenceTopPKept(row, p));
    }
  });
});

describe('softmax, logSoftmax and argmax', () => {
  it('compute probabilities and log-probabilities (hand-computed)', () => {
    const logits = f32([0, Math.log(3), NEG]);
    const probs = softmax(logits);
    expect(probs[0]).toBeCloseTo(0.25, 6);
    expect(probs[1]).toBeCloseTo(0.75, 6);
    expect(probs[2]).toBe(0);
    const logProbs = logSoftmax(logits);
    expect(logProbs[0]).toBeCloseTo(Math.log(0.25), 6);
    expect(logProbs[1]).toBeCloseTo(Math.log(0.75), 6);
    expect(logProbs[2]).toBe(NEG);
  });

  it('stays finite for large logits', () => {
    expect(softmax(f32([1000, 1000]))[0]).toBe(0.5);
  });

  it('argmax picks the lowest index among ties', () => {
    expect(argmax(f32([1, 5, 5, 2]))).toBe(1);
    expect(argmax(f32([NEG, NEG, 0]))).toBe(2);
  });
});

describe('processLogits', () => {
  const noDefaults = parseGenerationConfig({});

  it('applies repetition penalty and min length for greedy search, without warping', () => {
    const options = resolveSearchOptions({ greedy: true, repetitionPenalty: 2, minLength: 4, eosTokenIds: [2], temperature: 0.5, topK: 1 }, noDefaults);
    // Sequence [0, 0, 1] has length 3 < 4, so EOS id 2 is forbidden; ids 0 and 1 are penalised.
    expect([...processLogits(f32([4, -1, 9, 3]), options, [0, 0, 1])]).toEqual([2, -2, NEG, 3]);
  });

  it('applies temperature before top-p', () => {
    // Probabilities 0.6 / 0.4; at temperature 0.5 they become 0.36/0.52 ≈ 0.692 and 0.16/0.52 ≈ 0.308.
    // With p = 0.65 the 0.308 token falls in the removed tail (≤ 0.35); at temperature 1 it would stay.
    const logits = f32([Math.log(0.6), Math.log(0.4)]);
    const options = resolveSearchOptions({ doSample: true, temperature: 0.5, topP: 0.65, topK: 0 }, noDefaults);
    const out = processLogits(logits, options, []);
    expect(out[0]).toBeCloseTo(2 * Math.log(0.6), 6);
    expect(out[1]).toBe(NEG);
    expect(kept(processLogits(logits, { ...options, temperature: 1 }, []))).toEqual([0, 1]);
  });

  it('applies the repetition penalty before top-k', () => {
    // Without the penalty ids 0 and 1 are the top 2; penalised, id 0 (3 → 1.5) drops below id 2.
    const options = resolveSearchOptions({ doSample: true, temperature: 1, topK: 2, topP: 1, repetitionPenalty: 2 }, noDefaults);
    expect(kept(processLogits(f32([3, 4, 2, 0]), options, [0]))).toEqual([1, 2]);
  });
});
