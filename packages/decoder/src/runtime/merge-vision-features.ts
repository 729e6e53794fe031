import { QwenVLError, hostTensor } from '@qwen-vl/core';
import type { HostTensor, ModelConfig } from '@qwen-vl/core';

/**
 * Hugging Face's `masked_scatter` of the vision features into the token embeddings: the
 * k-th `<|image_pad|>` token of the batch (row-major over rows, then positions) gets image
 * feature row k, and likewise for `<|video_pad|>` and the video features. Returns a new
 * `[B, S, hidden]` tensor; `inputsEmbeds` is left as it was.
 */
export function mergeVisionFeatures(
  inputsEmbeds: HostTensor<'float32'>,
  inputIds: HostTensor<'int32'>,
  imageFeatures: HostTensor<'float32'> | undefined,
  videoFeatures: HostTensor<'float32'> | undefined,
  config: Pick<ModelConfig, 'imageTokenId' | 'videoTokenId'>,
): HostTensor<'float32'> {
  const [batch, length, hidden] = inputsEmbeds.dims;
  if (inputsEmbeds.dims.length !== 3 || inputIds.dims.length !== 2 || inputIds.dims[0] !== batch || inputIds.dims[1] !== length) {
    throw new QwenVLError('INVALID_ARGUMENT', `input_ids [${inputIds.dims.join(', ')}] must be [B, S] of inputs_embeds [${inputsEmbeds.dims.join(', ')}]`, { source: 'mergeVisionFeatures inputIds' });
  }
  const out = new Float32Array(inputsEmbeds.data);
  placeFeatures(out, inputIds.data, hidden, imageFeatures, config.imageTokenId, 'image', '<|image_pad|>');
  placeFeatures(out, inputIds.data, hidden, videoFeatures, config.videoTokenId, 'video', '<|video_pad|>');
  return hostTensor('float32', out, inputsEmbeds.dims);
}

function placeFeatures(embeds: Float32Array, ids: Int32Array, hidden: number, features: HostTensor<'float32'> | undefined, tokenId: number, kind: 'image' | 'video', tokenText: string): void {
  const source = `mergeVisionFeatures ${kind}Features`;
  const rows = features?.dims[0] ?? 0;
  if (features !== undefined && (features.dims.length !== 2 || features.dims[1] !== hidden)) {
    throw new QwenVLError('INVALID_ARGUMENT', `must be [n, ${hidden}] (the embedding width), got [${features.dims.join(', ')}]`, { source });
  }
  const slots: number[] = [];
  ids.forEach((id, position) => {
    if (id === tokenId) slots.push(position);
  });
  if (slots.length !== rows) {
    throw new QwenVLError('PLACEHOLDER_MISMATCH', `input_ids hold ${slots.length} ${tokenText} tokens but ${rows} ${kind} feature rows were given; they must be equal`, { source });
  }
  slots.forEach((position, k) => embeds.set((features as HostTensor<'float32'>).data.subarray(k * hidden, (k + 1) * hidden), position * hidden));
}
