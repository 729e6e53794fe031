import type { GenerationConfig } from '@qwen-vl/core';
import type { SearchOptionsInput } from '@qwen-vl/decoder';

/** New-token budget when neither the caller nor generation_config.json sets a length. */
export const DEFAULT_MAX_NEW_TOKENS = 512;

/**
 * `search` with the new-token budget `qwen-vl run` and `qwen-vl serve` use when nothing sets
 * a length: neither the caller nor generation_config.json's `max_new_tokens`/`max_length`
 * (without it an answer could run to the model's whole context).
 */
export function withDefaultLength(search: SearchOptionsInput, generation: GenerationConfig): SearchOptionsInput {
  const unlimited = search.maxNewTokens === undefined && search.maxLength === undefined && generation.maxNewTokens === undefined && generation.maxLength === undefined;
  return unlimited ? { ...search, maxNewTokens: DEFAULT_MAX_NEW_TOKENS } : search;
}
