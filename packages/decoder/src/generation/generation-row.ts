import { IncrementalDetokenizer } from './detokenizer.js';
import type { DecodeTokens } from './detokenizer.js';
import type { TokenHistory } from './logits-processors.js';
import type { RandomSource } from './sampler.js';
import type { SearchOptions } from './search-options.js';
import { StopStringMatcher } from './stop-strings.js';
import { finishReason } from './stopping.js';
import type { FinishReason } from './stopping.js';

/** How a row's tokens are drawn and reported. */
export interface RowSampling {
  /** What its draws come from when sampling: the generation's one source (rows of a batch share it), or the row's own. */
  readonly rng: RandomSource;
  /** Whether each chosen token's logprob is computed (`GenerationControl.logprobs`). */
  readonly logprobs: boolean;
}

/**
 * One prompt's side of a generation: its search options and sampling, what the logits
 * processors read of its history (its distinct ids and length, kept up to date token by token
 * rather than rescanned), the chosen tokens with their logprobs, the text emitted, and why it
 * stopped. Text goes through the
 * incremental detokenizer and then the stop-string matcher, so no piece splits a UTF-8
 * character or shows any part of a stop string.
 */
export class GenerationRow implements TokenHistory {
  readonly tokens: number[] = [];
  /** One per token when the generation reports logprobs; empty otherwise. */
  readonly logprobs: number[] = [];
  /** Real prompt tokens of the row. */
  readonly promptTokens: number;
  private textSoFar = '';
  private reason: FinishReason | undefined;
  private readonly detokenizer: IncrementalDetokenizer;
  private readonly stops: StopStringMatcher;
  private readonly seen: Set<number>;

  constructor(
    promptIds: readonly number[],
    decode: DecodeTokens,
    readonly options: SearchOptions,
    readonly sampling: RowSampling,
  ) {
    this.seen = new Set(promptIds);
    this.promptTokens = promptIds.length;
    this.detokenizer = new IncrementalDetokenizer(decode);
    this.stops = new StopStringMatcher(options.stopStrings);
  }

  /** Prompt and generated ids, each once: what the repetition penalty touches. */
  get distinctIds(): ReadonlySet<number> {
    return this.seen;
  }

  /** Prompt plus generated tokens: what min length counts. */
  get sequenceLength(): number {
    return this.promptTokens + this.tokens.length;
  }

  get text(): string {
    return this.textSoFar;
  }

  get finishReason(): FinishReason | undefined {
    return this.reason;
  }

  get finished(): boolean {
    return this.reason !== undefined;
  }

  /**
   * Records the chosen token and returns the text it releases ('' while a character or a
   * possible stop string is incomplete). On the row's last token the held-back text comes
   * too, unless a stop string ended the row. An EOS token stays in `tokens` (as Hugging Face
   * returns it) but is not detokenized. `logprob` is undefined when the generation does not
   * report logprobs.
   */
  accept(tokenId: number, logprob: number | undefined): string {
    this.tokens.push(tokenId);
    if (logprob !== undefined) this.logprobs.push(logprob);
    this.seen.add(tokenId);
    const isEos = !this.options.ignoreEos && this.options.eosTokenIds.includes(tokenId);
    let piece = isEos ? '' : this.stops.push(this.detokenizer.push(tokenId));
    this.reason = finishReason(this.options, { tokenId, promptLength: this.promptTokens, generatedLength: this.tokens.length, stopStringMatched: this.stops.stopped });
    if (this.reason !== undefined && this.reason !== 'stop') piece += this.stops.push(this.detokenizer.flush()) + this.stops.flush();
    this.textSoFar += piece;
    return piece;
  }

  /**
   * Ends the row because the request was cancelled. Text held back (part of a character, or
   * what may begin a stop string) is dropped, so the row's text stays what was streamed.
   */
  abort(): void {
    this.reason = 'aborted';
  }
}
