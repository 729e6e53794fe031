/**
 * Input and output names of the exported text graphs. They are the names onnxruntime-genai
 * and transformers.js use for Qwen2.5-VL, so the runtime can drive either layout's decoder
 * and ours with the same feeds.
 */
export const EMBED_IO = {
  inputIds: 'input_ids',
  inputsEmbeds: 'inputs_embeds',
} as const;

export const DECODER_IO = {
  inputsEmbeds: 'inputs_embeds',
  attentionMask: 'attention_mask',
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
