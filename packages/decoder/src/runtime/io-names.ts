/**
 * Input and output names of the exported text graphs. Where a tensor means the same as in
 * onnxruntime-genai's and transformers.js's Qwen2.5-VL exports (embeddings, mask, cache,
 * logits) it has their name; the rotary tables are ours, as those exports take
 * `position_ids` and compute cos/sin in the graph. A decoder takes one or the other.
 */
export const EMBED_IO = {
  inputIds: 'input_ids',
  inputsEmbeds: 'inputs_embeds',
  /**
   * float32 `[n, hidden]`: taken by embedding graphs that place the image features at the
   * `<|image_pad|>` tokens themselves (onnxruntime-genai's, `qwen-vl build --layout genai`);
   * `[0, hidden]` when there are none.
   */
  imageFeatures: 'image_features',
} as const;

export const DECODER_IO = {
  inputsEmbeds: 'inputs_embeds',
  attentionMask: 'attention_mask',
  /** float32 `[B, S, headDim]`: MRoPE cos and sin of the new tokens (`mropeCosSin`). */
  rotaryCos: 'rotary_cos',
  rotarySin: 'rotary_sin',
  /**
   * int64 `[3, B, S]`: the MRoPE position ids themselves, taken instead of the two tables by
   * graphs that compute cos and sin inside (onnxruntime-genai's and transformers.js's text
   * models, and `qwen-vl build --layout genai` and `--layout transformers.js`).
   */
  positionIds: 'position_ids',
  /**
   * How many trailing positions get logits; 0 means all (Hugging Face's `logits_to_keep`).
   * Optional: a graph without it returns logits for every new position.
   */
  numLogitsToKeep: 'num_logits_to_keep',
  logits: 'logits',
} as const;

/** The cache names of layer `layer`; `'%d'` gives onnxruntime-genai's pattern for all of them (`past_key_values.%d.key`). */
export function pastKeyName(layer: number | '%d'): string {
  return `past_key_values.${layer}.key`;
}

export function pastValueName(layer: number | '%d'): string {
  return `past_key_values.${layer}.value`;
}

export function presentKeyName(layer: number | '%d'): string {
  return `present.${layer}.key`;
}

export function presentValueName(layer: number | '%d'): string {
  return `present.${layer}.value`;
}
