import { QwenVLError } from '@qwen-vl/core';
import { inverseFrequencies } from './inverse-frequencies.js';

export interface MropeOptions {
  headDim: number;
  ropeTheta: number;
  /** Frequencies taken from the t, h and w rows, in that order; sums to headDim / 2. */
  mropeSection: readonly [number, number, number];
}

/**
 * Multimodal RoPE tables of the text layers, `[B, L, headDim]` each, from `[3, B, L]`
 * position ids. Frequency j takes its angle from the t row when j < s0, the h row when
 * j < s0 + s1, the w row otherwise; both halves of the head use the same frequencies
 * (`concat(freqs, freqs)`, for `rotate_half`). Angles and cos/sin are float32, as Hugging
 * Face computes them before casting to the model dtype.
 */
export function mropeCosSin(positionIds: Int32Array, batch: number, length: number, opts: MropeOptions): { cos: Float32Array; sin: Float32Array } {
  const { headDim, ropeTheta, mropeSection } = opts;
  const half = headDim / 2;
  if (!Number.isInteger(half) || half <= 0) {
    throw new QwenVLError('INVALID_ARGUMENT', `must be a positive even integer, got ${headDim}`, { source: 'mropeCosSin headDim' });
  }
  if (mropeSection.some((s) => !Number.isInteger(s) || s < 0) || mropeSection[0] + mropeSection[1] + mropeSection[2] !== half) {
    throw new QwenVLError('INVALID_ARGUMENT', `${JSON.stringify(mropeSection)} must be non-negative integers summing to headDim / 2 = ${half}`, { source: 'mropeCosSin mropeSection' });
  }
  if (positionIds.length !== 3 * batch * length) {
    throw new QwenVLError('INVALID_ARGUMENT', `has ${positionIds.length} entries, [3, ${batch}, ${length}] needs ${3 * batch * length}`, { source: 'mropeCosSin positionIds' });
  }

  const invFreq = inverseFrequencies(headDim, ropeTheta);
  const rowOf = Array.from(invFreq, (_, j) => (j < mropeSection[0] ? 0 : j < mropeSection[0] + mropeSection[1] ? 1 : 2));
  const plane = batch * length;
  const cos = new Float32Array(plane * headDim);
  const sin = new Float32Array(plane * headDim);
  for (let token = 0; token < plane; token++) {
    const out = token * headDim;
    for (let j = 0; j < half; j++) {
      const angle = Math.fround(positionIds[rowOf[j] * plane + token] * invFreq[j]);
      cos[out + j] = cos[out + half + j] = Math.cos(angle);
      sin[out + j] = sin[out + half + j] = Math.sin(angle);
    }
  }
  return { cos, sin };
}
