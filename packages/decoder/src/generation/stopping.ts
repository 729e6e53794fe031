import type { SearchOptions } from './search-options.js';

/** Why a row stopped generating. */
export type FinishReason = 'eos' | 'length' | 'stop' | 'aborted';

/** The part of an AbortSignal the generator reads, so no DOM or Node type is needed. */
export interface AbortFlag {
  readonly aborted: boolean;
}

/** Where one row stands right after a token was chosen for it. */
export interface RowProgress {
  /** The token just chosen. */
  readonly tokenId: number;
  /** Tokens of the row's prompt. */
  readonly promptLength: number;
  /** Tokens generated so far, the one just chosen included. */
  readonly generatedLength: number;
  /** Whether the row's StopStringMatcher has seen a stop string (the new token's text included). */
  readonly stopStringMatched: boolean;
}

export type StoppingOptions = Pick<SearchOptions, 'eosTokenIds' | 'ignoreEos' | 'maxNewTokens' | 'maxLength'>;

/**
 * Whether the row is finished after this token, and why; undefined to keep going. When
 * several reasons hold at once the most specific wins: a cancelled request, then EOS, then a
 * stop string, then the length limits (which only say the budget ran out). An 'eos' token is
 * the end marker, not output: the caller does not detokenize it.
 */
export function finishReason(options: StoppingOptions, progress: RowProgress, signal?: AbortFlag): FinishReason | undefined {
  if (signal?.aborted) return 'aborted';
  if (!options.ignoreEos && options.eosTokenIds.includes(progress.tokenId)) return 'eos';
  if (progress.stopStringMatched) return 'stop';
  if (options.maxNewTokens !== undefined && progress.generatedLength >= options.maxNewTokens) return 'length';
  if (options.maxLength !== undefined && progress.promptLength + progress.generatedLength >= options.maxLength) return 'length';
  return undefined;
}
