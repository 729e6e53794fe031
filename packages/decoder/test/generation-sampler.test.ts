import { describe, expect, it } from 'vitest';
import { Xoshiro128, createRandomSource, sampleToken } from '../src/index.js';

const f32 = (values: number[]): Float32Array => Float32Array.from(values);

describe('Xoshiro128', () => {
  it('reproduces the reference xoshiro128** outputs for state [1, 2, 3, 4]', () => {
    const rng = new Xoshiro128([1, 2, 3, 4]);
    expect([rng.nextUint32(), rng.nextUint32(), rng.nextUint32(), rng.nextUint32()]).toEqual([11520, 0, 5927040, 70819200]);
  });

  it('seeds through splitmix32 (values from an independent Python implementation)', () => {
    const draw = (rng: Xoshiro128) => Array.from({ length: 5 }, () => rng.nextUint32());
    expect(draw(Xoshiro128.fromSeed(0))).toEqual([3809008728, 1219411154, 2874742318, 3019234641, 2098308073]);
    expect(draw(Xoshiro128.fromSeed(42))).toEqual([2837322924, 2689157697, 135565847, 3108665369, 1018650268]);
    // A seed above 2^32 uses its high word too.
    expect(draw(Xoshiro128.fromSeed(2 ** 40 + 5))).toEqual([3616982058, 3009542268, 2256370102, 3221208720, 3269149589]);
  });

  it('gives uniform floats in [0, 1)', () => {
    const rng = Xoshiro128.fromSeed(1);
    const draws = Array.from({ length: 10000 }, () => rng.nextFloat());
    expect(Math.min(...draws)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...draws)).toBeLessThan(1);
    expect(draws.reduce((a, b) => a + b, 0) / draws.length).toBeCloseTo(0.5, 1);
  });

  it('rejects seeds it cannot represent and the all-zero state', () => {
    expect(() => Xoshiro128.fromSeed(-1)).toThrow(/\[0, 2\^53\)/);
    expect(() => Xoshiro128.fromSeed(1.5)).toThrow(/\[0, 2\^53\)/);
    expect(() => new Xoshiro128([0, 0, 0, 0])).toThrow(/all zero/);
  });
});

describe('sampleToken', () => {
  const logits = f32([1, 2, 0.5, -1, 3]);
  const softmaxOf = (values: number[]) => {
    const exps = values.map(Math.exp);
    const total = exps.reduce((a, b) => a + b, 0);
    return exps.map((e) => e / total);
  };

  it('is argmax with the lowest index on ties when not sampling', () => {
    expect(sampleToken(f32([0, 7, 7, 1]), { doSample: false }, Xoshiro128.fromSeed(3))).toBe(1);
  });

  it('repeats the same tokens for the same seed and differs for another seed', () => {
    const run = (seed: number) => {
      const rng = createRandomSource(seed);
      return Array.from({ length: 64 }, () => sampleToken(logits, { doSample: true }, rng));
    };
    expect(run(7)).toEqual(run(7));
    expect(run(7)).not.toEqual(run(8));
  });

  it('draws tokens with their softmax probabilities (20k draws, within 2%)', () => {
    const rng = createRandomSource(2024);
    const counts = new Array<number>(logits.length).fill(0);
    const draws = 20000;
    for (let i = 0; i < draws; i++) counts[sampleToken(logits, { doSample: true }, rng)]++;
    const expected = softmaxOf([...logits]);
    counts.forEach((count, id) => expect(Math.abs(count / draws - expected[id])).toBeLessThan(0.02));
  });

  it('never draws a filtered (-Infinity) token', () => {
    const rng = createRandomSource(5);
    const filtered = f32([-Infinity, 0, -Infinity, 0.3, -Infinity]);
    const seen = new Set<number>();
    for (let i = 0; i < 2000; i++) seen.add(sampleToken(filtered, { doSample: true }, rng));
    expect([...seen].sort()).toEqual([1, 3]);
  });

  it('fails clearly when every token is filtered', () => {
    expect(() => sampleToken(f32([-Infinity, -Infinity]), { doSample: true }, createRandomSource(1))).toThrow(/-Infinity/);
  });
});
