import { softmaxNormaliser } from './logits-processors.js';

/**
 * log softmax(logits)[tokenId], without materialising the distribution: one read of the
 * vocabulary (`softmaxNormaliser`) instead of a 150k-entry copy. The generator reports this
 * for a chosen token under the raw logits when asked to (`logprobs: true`).
 */
export function tokenLogprob(logits: Float32Array, tokenId: number): number {
  const { max, total } = softmaxNormaliser(logits);
  return logits[tokenId] - max - Math.log(total);
}
