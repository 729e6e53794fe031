import { describe, expect, it } from 'vitest';
import { inverseFrequencies, mropeCosSin } from '../src/index.js';

/** The float64 textbook formula: frequency j of a head of `headDim` dims is theta^(−2j/headDim). */
const angle64 = (position: number, j: number, headDim: number, theta: number) => position * Math.pow(theta, (-2 * j) / headDim);

/** `[3, 1, 1]` position ids holding one token at (t, h, w). */
const single = (t: number, h: number, w: number) => Int32Array.from([t, h, w]);

function expectTable(actual: Float32Array, expected: (d: number) => number, tolerance: number): void {
  const worst = Array.from(actual, (v, d) => Math.abs(v - expected(d))).reduce((a, b) => Math.max(a, b), 0);
  expect(worst).toBeLessThanOrEqual(tolerance);
}

describe('mropeCosSin', () => {
  // Positions chosen so every row's own angles stay below ~4 rad (float32 error well under
  // 1e-6), while taking a frequency from the wrong row changes its angle by a lot.
  it.each([
    { headDim: 16, section: [2, 3, 3] as const, pos: [3, 100, 20000] },
    { headDim: 128, section: [16, 24, 24] as const, pos: [3, 15, 20000] },
  ])('takes frequency j from row t, h or w by mrope_section $section', ({ headDim, section, pos }) => {
    const theta = 1e6;
    const { cos, sin } = mropeCosSin(single(pos[0], pos[1], pos[2]), 1, 1, { headDim, ropeTheta: theta, mropeSection: section });
    const rowOf = (j: number) => (j < section[0] ? 0 : j < section[0] + section[1] ? 1 : 2);
    const reference = (d: number) => {
      const j = d % (headDim / 2);
      return angle64(pos[rowOf(j)], j, headDim, theta);
    };
    expectTable(cos, (d) => Math.cos(reference(d)), 1e-6);
    expectTable(sin, (d) => Math.sin(reference(d)), 1e-6);
  });

  it('reduces to ordinary 1-D RoPE when the three rows are equal, laid out [B, L, headDim]', () => {
    const headDim = 128;
    // Batch 2 × length 4; row b holds positions 4b .. 4b+3 in all three rows.
    const positions = Int32Array.from({ length: 3 * 8 }, (_, i) => i % 8);
    const { cos, sin } = mropeCosSin(positions, 2, 4, { headDim, ropeTheta: 1e6, mropeSection: [16, 24, 24] });
    expect(cos.length).toBe(2 * 4 * headDim);
    const reference = (i: number) => angle64(Math.floor(i / headDim), i % (headDim / 2), headDim, 1e6);
    expectTable(cos, (i) => Math.cos(reference(i)), 1e-6);
    expectTable(sin, (i) => Math.sin(reference(i)), 1e-6);
  });

  it('computes angles in float32 as torch does', () => {
    // numpy float32: np.float32(100000) * (np.float32(1) / np.float32(1e6) ** np.float32(2/128))
    // = 80584.21875; the float64 angle 80584.2189… gives a cosine 1.8e-5 away.
    const { cos } = mropeCosSin(single(100000, 100000, 100000), 1, 1, { headDim: 128, ropeTheta: 1e6, mropeSection: [16, 24, 24] });
    expect(Math.abs(cos[1] - Math.cos(80584.21875))).toBeLessThan(1e-6);
    expect(Math.abs(cos[1] - Math.cos(angle64(100000, 1, 128, 1e6)))).toBeGreaterThan(1e-5);
  });

  it('rejects a section that does not cover half the head', () => {
    expect(() => mropeCosSin(single(0, 0, 0), 1, 1, { headDim: 16, ropeTheta: 1e6, mropeSection: [2, 3, 2] })).toThrow(/mropeSection/);
  });
});

describe('inverseFrequencies', () => {
  it('refuses a theta that is not a finite number > 0 and a dim that is not a positive even integer, naming them', () => {
    expect(() => inverseFrequencies(16, 0)).toThrow('inverseFrequencies theta: must be a finite number > 0, got 0');
    expect(() => inverseFrequencies(16, -1e4)).toThrow('inverseFrequencies theta');
    expect(() => inverseFrequencies(16, Infinity)).toThrow('inverseFrequencies theta');
    expect(() => inverseFrequencies(0, 1e4)).toThrow('inverseFrequencies dim: must be a positive even integer, got 0');
    expect(() => inverseFrequencies(15, 1e4)).toThrow('inverseFrequencies dim');
    expect(inverseFrequencies(4, 1e4)).toEqual(Float32Array.from([1, Math.fround(1 / Math.fround(Math.pow(1e4, 0.5)))]));
  });
});
