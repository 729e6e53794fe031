import { QwenVLError } from '@qwen-vl/core';
import { expNonPositive } from './fast-exp.js';
import { argmax, softmaxNormaliser } from './logits-processors.js';
import type { SearchOptions } from './search-options.js';

/** A source of uniform numbers in [0, 1). */
export interface RandomSource {
  nextFloat(): number;
}

/** One step of splitmix32: spreads a counter into well-mixed 32-bit words for seeding. */
function splitMix32(state: number): number {
  let z = state >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

const GOLDEN_GAMMA = 0x9e3779b9;

/**
 * xoshiro128** (Blackman & Vigna): 128 bits of state, all 32-bit integer arithmetic, so the
 * sequence for a seed is identical in every JavaScript engine — which `Math.random` is not.
 */
export class Xoshiro128 implements RandomSource {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  /** Starts from explicit state words (not all zero), as the reference test vectors do. */
  constructor(state: readonly [number, number, number, number]) {
    if (state.every((word) => word >>> 0 === 0)) {
      throw new QwenVLError('INVALID_ARGUMENT', 'must not be all zero (xoshiro would output only zeros)', { source: 'Xoshiro128 state' });
    }
    this.s0 = state[0] >>> 0;
    this.s1 = state[1] >>> 0;
    this.s2 = state[2] >>> 0;
    this.s3 = state[3] >>> 0;
  }

  /**
   * `seed` is any integer in [0, 2^53). Its low and high 32-bit halves each give two state
   * words through splitmix32's finalizer, a bijection: distinct seeds give distinct states,
   * and s0, s1 come from different inputs, so they are never both zero.
   */
  static fromSeed(seed: number): Xoshiro128 {
    if (!Number.isSafeInteger(seed) || seed < 0) {
      throw new QwenVLError('INVALID_ARGUMENT', `must be an integer in [0, 2^53), got ${seed}`, { source: 'Xoshiro128 seed' });
    }
    const low = seed >>> 0;
    const high = Math.floor(seed / 2 ** 32) >>> 0;
    return new Xoshiro128([splitMix32(low + GOLDEN_GAMMA), splitMix32(low + 2 * GOLDEN_GAMMA), splitMix32((high ^ 0x6a09e667) + GOLDEN_GAMMA), splitMix32((high ^ 0x6a09e667) + 2 * GOLDEN_GAMMA)]);
  }

  nextUint32(): number {
    const result = Math.imul(rotateLeft(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotateLeft(this.s3, 11);
    return result;
  }

  /** 53 random bits from two outputs, the full precision of a double in [0, 1). */
  nextFloat(): number {
    const high = this.nextUint32() >>> 5;
    const low = this.nextUint32() >>> 6;
    return (high * 2 ** 26 + low) / 2 ** 53;
  }
}

function rotateLeft(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** The sampler's random source for a run: seeded when `randomSeed` is set, else from a random seed. */
export function createRandomSource(randomSeed: number | undefined): Xoshiro128 {
  return Xoshiro128.fromSeed(randomSeed ?? Math.floor(Math.random() * 2 ** 53));
}

/**
 * Picks the next token from one row of processed logits (see `processLogits`): argmax (lowest
 * index on ties) for greedy search, else a draw from their softmax, where filtered tokens
 * (-Infinity) have probability 0.
 */
export function sampleToken(logits: Float32Array, options: Pick<SearchOptions, 'doSample'>, rng: RandomSource): number {
  return options.doSample ? drawIndex(logits, rng) : argmax(logits);
}

/**
 * One draw from the softmax of `scores` (a whole row, or the survivors `gatherTopK` listed):
 * the index whose weight, accumulated in index order, first exceeds a uniform share of the
 * total. Reads the scores twice and allocates nothing.
 */
export function drawIndex(scores: Float32Array, rng: RandomSource): number {
  const { max, total } = softmaxNormaliser(scores);
  return indexAtMass(scores, max, rng.nextFloat() * total);
}

function indexAtMass(scores: Float32Array, max: number, target: number): number {
  let cumulative = 0;
  let lastPossible = 0;
  for (let i = 0; i < scores.length; i++) {
    // Filtered tokens (-Infinity) and negligible ones weigh 0.
    const weight = expNonPositive(scores[i] - max);
    if (weight === 0) continue;
    cumulative += weight;
    lastPossible = i;
    if (target < cumulative) return i;
  }
  // Rounding can leave the running sum a hair under the total; a draw in that gap goes to the last possible token.
  return lastPossible;
}
