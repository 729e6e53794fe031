import { QwenVLError } from '@qwen-vl/core';
import type { HostTensor } from '@qwen-vl/core';
import type { GenerationRow } from './generation-row.js';
import { TokenChooser } from './token-chooser.js';
import { tokenLogprob } from './token-logprob.js';

/** One generated token of one row, as the stream hands it out. */
export interface GenerationStreamEvent {
  /** Index of the prompt in the batch. */
  row: number;
  tokenId: number;
  /** The text this token releases: '' while a UTF-8 character or a possible stop string is incomplete, and for EOS. */
  text: string;
  /** log softmax of the chosen token under the raw logits (before any processor); NaN unless `GenerationControl.logprobs` is on. */
  logprob: number;
}

/**
 * Picks the tokens of each selection round, each row by its own search options and random
 * source (`GenerationRow.options`, `.sampling`); holds the chooser's buffers from round to
 * round. Both generation loops (`Generator`, `ContinuousBatch`) select through it.
 */
export class TokenSelector {
  /** Created with the first logits, when the vocabulary size is known. */
  private chooser: TokenChooser | undefined;

  /** One selection round: a token for every unfinished row, in row order; `logits` are `[rows, vocab]`. */
  chooseTokens(rows: readonly GenerationRow[], logits: HostTensor<'float32'>): GenerationStreamEvent[] {
    const [batch, vocab] = logits.dims;
    if (logits.dims.length !== 2 || batch !== rows.length || (this.chooser !== undefined && vocab !== this.chooser.vocabSize)) {
      throw new QwenVLError('INVALID_ARGUMENT', `are [${logits.dims.join(', ')}], expected [${rows.length}, ${this.chooser?.vocabSize ?? 'vocab'}]`, { source: 'decoder session logits' });
    }
    const chooser = (this.chooser ??= new TokenChooser(vocab));
    const events: GenerationStreamEvent[] = [];
    rows.forEach((row, b) => {
      if (row.finished) return;
      const raw = logits.data.subarray(b * vocab, (b + 1) * vocab);
      const tokenId = chooser.choose(raw, row.options, row, row.sampling.rng);
      const logprob = row.sampling.logprobs ? tokenLogprob(raw, tokenId) : undefined;
      events.push({ row: b, tokenId, text: row.accept(tokenId, logprob), logprob: logprob ?? NaN });
    });
    return events;
  }
}
