import { QwenVLError, hostTensor, toBigInt64 } from '@qwen-vl/core';
import type { HostTensor, TextConfig } from '@qwen-vl/core';
import { DECODER_IO } from './io-names.js';
import { rotaryFeeds } from './rotary-feeds.js';

/**
 * How a text graph takes the MRoPE positions of the tokens a run adds: as the cos/sin tables
 * the host computes (qwen-vl's own graphs), or as the `[3, B, S]` ids themselves, from which
 * the graph computes the tables (onnxruntime-genai's and transformers.js's exports).
 */
export type DecoderPositionInput = 'rotary-tables' | 'position-ids';

/** The position input a decoder graph with `inputNames` takes; INVALID_MODEL naming `source` when it has neither. */
export function decoderPositionInput(inputNames: readonly string[], source: string): DecoderPositionInput {
  if (inputNames.includes(DECODER_IO.rotaryCos) && inputNames.includes(DECODER_IO.rotarySin)) return 'rotary-tables';
  if (inputNames.includes(DECODER_IO.positionIds)) return 'position-ids';
  throw new QwenVLError(
    'INVALID_MODEL',
    `takes neither ${DECODER_IO.rotaryCos} and ${DECODER_IO.rotarySin} nor ${DECODER_IO.positionIds}, so it cannot be given the tokens' positions (it has inputs ${inputNames.join(', ')})`,
    { source },
  );
}

/** The feeds that carry `[3, B, S]` position ids `positionIds` to a graph taking `input`. */
export function positionFeeds(input: DecoderPositionInput, positionIds: Int32Array, batch: number, length: number, text: TextConfig): Record<string, HostTensor> {
  if (input === 'rotary-tables') return rotaryFeeds(positionIds, batch, length, text);
  return { [DECODER_IO.positionIds]: hostTensor('int64', toBigInt64(positionIds), [3, batch, length]) };
}
