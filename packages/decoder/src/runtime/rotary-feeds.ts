import { hostTensor } from '@qwen-vl/core';
import type { HostTensor, TextConfig } from '@qwen-vl/core';
import { mropeCosSin } from '@qwen-vl/mrope';
import { DECODER_IO } from './io-names.js';

/**
 * The decoder's `rotary_cos` / `rotary_sin` inputs, float32 `[B, S, headDim]`, for the
 * `[3, B, S]` MRoPE position ids of the tokens a run adds.
 */
export function rotaryFeeds(positionIds: Int32Array, batch: number, length: number, text: TextConfig): Record<string, HostTensor<'float32'>> {
  const { cos, sin } = mropeCosSin(positionIds, batch, length, text);
  const dims = [batch, length, text.headDim];
  return { [DECODER_IO.rotaryCos]: hostTensor('float32', cos, dims), [DECODER_IO.rotarySin]: hostTensor('float32', sin, dims) };
}
