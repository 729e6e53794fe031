import { QwenVLError } from '@qwen-vl/core';

/**
 * RoPE inverse frequencies `1 / theta^(2j / dim)` for j = 0..dim/2−1. Hugging Face builds
 * them from a float32 `arange`, so the exponent, the power and the reciprocal are each
 * rounded to float32 here too; angles derived from them then match torch's float32 ones.
 */
export function inverseFrequencies(dim: number, theta: number): Float32Array {
  if (!Number.isInteger(dim) || dim <= 0 || dim % 2 !== 0) throw new QwenVLError('INVALID_ARGUMENT', `must be a positive even integer, got ${dim}`, { source: 'inverseFrequencies dim' });
  // theta 0 gives infinite frequencies, a negative one NaN: every rotary angle then poisons the run.
  if (!Number.isFinite(theta) || theta <= 0) throw new QwenVLError('INVALID_ARGUMENT', `must be a finite number > 0, got ${theta}`, { source: 'inverseFrequencies theta' });
  const base = Math.fround(theta);
  const out = new Float32Array(dim / 2);
  for (let j = 0; j < out.length; j++) {
    const exponent = Math.fround((2 * j) / dim);
    out[j] = Math.fround(1 / Math.fround(Math.pow(base, exponent)));
  }
  return out;
}
