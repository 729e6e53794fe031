/**
 * Input and output names of the exported text graphs. Where a tensor means the same as in
 * onnxruntime-genai's and transformers.js's Qwen2.5-VL exports (embeddings, mask, cache,
 * logits) it has their name; the rotary tables are ours, as those exports take
 * `position_ids` and compute cos/sin in the graph. A decoder takes one or the other.
 */
export const EMBED_IO = {
  inputIds: 'input_ids',
  inputsEmbeds: 'inputs_embeds',
} as const;

export const DECODER_IO = {
  inputsEmbeds: 'inputs_embeds',
  attentionMask: 'attention_mask',
  /** float32 `[B, S, headDim]`: MRoPE cos and sin of the new tokens (`mropeCosSin`). */
  rotaryCos: 'rotary_cos',
  rotarySin: 'rotary_sin',
  /** int64 `[3, B, S]`: the MRoPE positions of the new tokens, for graphs that compute cos/sin themselves. */
  positionIds: 'position_ids',
  /** How many trailing positions get logits; 0 means all (Hugging Face's `logits_to_keep`). */
  numLogitsToKeep: 'num_logits_to_keep',
  logits: 'logits',
} as const;

export function pastKeyName(layer: number): string {
  return `past_key_values.${layer}.key`;
}

export function pastValueName(layer: number): string {
  return `past_key_values.${layer}.value`;
}

export function presentKeyName(layer: number): string {
  return `present.${layer}.key`;
}

export function presentValueName(layer: number): string {
  return `present.${layer}.value`;
}
