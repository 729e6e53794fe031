import { QwenVLError, hostTensor } from '@qwen-vl/core';
import type { HostTensor } from '@qwen-vl/core';
import { columnRange } from '../runtime/column-range.js';
import type { DecoderSession, PromptPositions } from '../runtime/decoder-session.js';
import type { DecodeTokens } from './detokenizer.js';
import { GenerationRow } from './generation-row.js';
import { GenerationStopwatch, defaultClock } from './generation-timings.js';
import type { Clock, GenerationTimings } from './generation-timings.js';
import { createRandomSource } from './sampler.js';
import type { SearchOptions } from './search-options.js';
import type { AbortFlag, FinishReason } from './stopping.js';
import { TokenSelector } from './token-selector.js';
import type { GenerationStreamEvent } from './token-selector.js';

export type { GenerationStreamEvent } from './token-selector.js';

/**
 * The token rows of a prompt as the processor prepared them: `@qwen-vl/preprocess`'s
 * `PreparedInputs` (from `QwenVLProcessor.prepare` or `prepareBatch`) has these fields.
 */
export interface PromptTokens {
  /** int32 `[B, L]`: the token ids (padding included, masked out by `attentionMask`); the repetition penalty and the token counts read them. */
  readonly inputIds: HostTensor<'int32'>;
  /** int32 `[B, L]`: 1 on tokens, 0 on the left padding. */
  readonly attentionMask: HostTensor<'int32'>;
}

/**
 * The prompt(s) of one generation, B rows left-padded to length L: the processor's inputs
 * as they are, with their positions and embeddings, e.g.
 * `{ ...inputs, positions: getRopeIndex(inputs, config), inputsEmbeds }`.
 */
export interface PreparedPrompt extends PromptTokens {
  /** `getRopeIndex` of the whole rows, `[3, B, L]` (cached positions included). */
  readonly positions: PromptPositions;
  /**
   * How many leading positions of every row the session's cache already holds (a previous
   * turn of the same conversation): the generation then extends that sequence instead of
   * starting one, feeding the positions after them. 0 (the default) starts a new sequence.
   */
  readonly cachedTokens?: number;
  /** float32 `[B, L − cachedTokens, hidden]`: the embeddings of the positions not cached, vision features already merged (`mergeVisionFeatures`). */
  readonly inputsEmbeds: HostTensor<'float32'>;
}

export interface RowResult {
  /** Generated ids in order; an EOS that ended the row is the last one (as Hugging Face returns it). */
  tokens: number[];
  /** The detokenized output: EOS and any stop string (with what followed it) left out. */
  text: string;
  /** One per token of `tokens` when `GenerationControl.logprobs` is on; empty otherwise. */
  logprobs: number[];
  finishReason: FinishReason;
  /** The row's real prompt tokens (its padding not counted). */
  promptTokens: number;
  generatedTokens: number;
}

export interface GenerationResult {
  rows: RowResult[];
  timings: GenerationTimings;
}

export interface GenerationControl {
  /**
   * Cancels the generation, checked before every model run: unfinished rows end with
   * finishReason 'aborted' and keep the text streamed so far. An `AbortSignal` fits.
   */
  signal?: AbortFlag;
  /** Raw logits `[B, vocab]` of each step before any processing (step 0 = after the prefill); the array is not reused. */
  onStepLogits?: (step: number, logits: HostTensor<'float32'>) => void;
  /**
   * Report each token's logprob (events' `logprob`, rows' `logprobs`). Off by default: it
   * reads the whole vocabulary once more per token (a log-sum-exp over ~150k logits), the
   * largest cost of a step outside the model. Off, `logprob` is NaN and `logprobs` is empty.
   */
  logprobs?: boolean;
}

export interface GeneratorOptions {
  /** What finished rows feed while others go on; Hugging Face's default, the first EOS id, when omitted. */
  padTokenId?: number;
  /** Millisecond clock for the timings; `performance.now` by default. */
  now?: Clock;
}

/** The part of DecoderSession the generation loop drives. */
export type GenerationSession = Pick<DecoderSession, 'prefill' | 'extend' | 'step'>;

/**
 * The decoding loop: one prefill, then one decoder step per token while any row is
 * unfinished. Per row and step it picks a token as `sampleToken(processLogits(…))` would,
 * over the row's prompt and generated ids (`TokenChooser`: buffers reused throughout, no copy
 * at all for plain greedy search; one seeded random source per generation, rows drawing in
 * row order), detokenizes it and decides whether the row is done (`finishReason`). Nothing
 * vocabulary-sized is allocated per token. Finished rows keep feeding the pad token, whose output is ignored,
 * so the batch stays rectangular. A cancelled request is noticed before the next run.
 *
 * Generations on one session must not overlap (the session holds one KV cache): a
 * `stream()` started before the previous one finished supersedes it, and the older stream
 * throws INVALID_ARGUMENT if it is resumed.
 */
export class Generator {
  private readonly padTokenId: number | undefined;
  private readonly now: Clock;
  private latest = 0;

  constructor(
    private readonly session: GenerationSession,
    private readonly decode: DecodeTokens,
    options: GeneratorOptions = {},
  ) {
    this.padTokenId = options.padTokenId;
    this.now = options.now ?? defaultClock();
  }

  /** Generates for every row of `prompt`, handing out each token as it is chosen; the return value is the summary. */
  async *stream(prompt: PreparedPrompt, options: SearchOptions, control: GenerationControl = {}): AsyncGenerator<GenerationStreamEvent, GenerationResult, undefined> {
    const generation = ++this.latest;
    // One random source for the whole generation: rows draw from it in row order.
    const sampling = { rng: createRandomSource(options.randomSeed), logprobs: control.logprobs === true };
    const rows = promptRows(prompt).map((ids) => new GenerationRow(ids, this.decode, options, sampling));
    const stopwatch = new GenerationStopwatch(this.now);
    const selector = new TokenSelector();
    const padTokenId = this.padTokenId ?? options.eosTokenIds[0] ?? 0;
    const cached = prompt.cachedTokens ?? 0;
    const prefill = { inputsEmbeds: prompt.inputsEmbeds, attentionMask: columnsFrom(prompt.attentionMask, cached), positions: positionsFrom(prompt, cached) };
    const runPrompt = () => (cached === 0 ? this.session.prefill(prefill) : this.session.extend(prefill));
    for (let step = 0; ; step++) {
      // Checked before each run, so a cancelled request costs no further model work.
      if (control.signal?.aborted) {
        for (const row of rows) if (!row.finished) row.abort();
        break;
      }
      this.requireLatest(generation);
      const logits = step === 0 ? await stopwatch.session(runPrompt, 'prefill') : await stopwatch.session(() => this.session.step(nextInputs(rows, padTokenId)), 'step');
      this.requireLatest(generation);
      const { onStepLogits } = control;
      // A copy: the decoder writes later runs' logits over the buffer these came in.
      if (onStepLogits !== undefined) stopwatch.caller(() => onStepLogits(step, { ...logits, data: logits.data.slice() }));
      const events = selector.chooseTokens(rows, logits);
      stopwatch.tokensChosen();
      for (const event of events) {
        stopwatch.pause();
        yield event;
        stopwatch.resume();
      }
      if (rows.every((row) => row.finished)) break;
    }
    return generationResult(rows, stopwatch);
  }

  /** `stream` without the events. */
  async generate(prompt: PreparedPrompt, options: SearchOptions, control?: GenerationControl): Promise<GenerationResult> {
    const stream = this.stream(prompt, options, control);
    for (;;) {
      const next = await stream.next();
      if (next.done === true) return next.value;
    }
  }

  private requireLatest(generation: number): void {
    if (generation !== this.latest) {
      throw new QwenVLError('INVALID_ARGUMENT', 'a later stream() on the same session replaced this generation; run generations one at a time', { source: 'Generator.stream' });
    }
  }
}

/** Each row's real prompt ids: the positions its mask marks as tokens. */
export function promptRows(prompt: PreparedPrompt): number[][] {
  const ids = prompt.inputIds;
  const mask = prompt.attentionMask;
  if (ids.dims.length !== 2 || mask.dims.length !== 2 || ids.dims[0] !== mask.dims[0] || ids.dims[1] !== mask.dims[1]) {
    throw new QwenVLError('INVALID_ARGUMENT', `must be [B, L] like attentionMask [${mask.dims.join(', ')}], got [${ids.dims.join(', ')}]`, { source: 'prompt inputIds' });
  }
  const [batch, length] = ids.dims;
  return Array.from({ length: batch }, (_, b) => {
    const row: number[] = [];
    for (let i = b * length; i < (b + 1) * length; i++) if (mask.data[i] !== 0) row.push(ids.data[i]);
    return row;
  });
}

/** Columns `start` onward of a `[B, L]` mask: the part of the prompt not in the cache. */
function columnsFrom(mask: HostTensor<'int32'>, start: number): HostTensor<'int32'> {
  const [batch, length] = mask.dims;
  if (!Number.isInteger(start) || start < 0 || start >= length) {
    throw new QwenVLError('INVALID_ARGUMENT', `must be an integer from 0 to ${length - 1} (the prompt has ${length} positions), got ${start}`, { source: 'prompt cachedTokens' });
  }
  return hostTensor('int32', columnRange(mask.data, batch, length, start, length), [batch, length - start]);
}

/** The positions of columns `start` onward (those not in the cache), with the rows' deltas. */
function positionsFrom(prompt: PreparedPrompt, start: number): PromptPositions {
  const [batch, length] = prompt.attentionMask.dims;
  const { positionIds, ropeDeltas } = prompt.positions;
  if (positionIds.length !== 3 * batch * length) {
    throw new QwenVLError('INVALID_ARGUMENT', `holds ${positionIds.length} values; the prompt's [3, ${batch}, ${length}] needs ${3 * batch * length}`, { source: 'prompt positions.positionIds' });
  }
  return { positionIds: columnRange(positionIds, 3 * batch, length, start, length), ropeDeltas };
}

/** What each row feeds the next step: its last token, or the pad once it is finished. */
function nextInputs(rows: readonly GenerationRow[], padTokenId: number): number[] {
  return rows.map((row) => (row.finished ? padTokenId : row.tokens[row.tokens.length - 1]));
}

/** The generation's result once its rows are done: each row's tokens, text and finish reason, and the timings. */
export function generationResult(rows: readonly GenerationRow[], stopwatch: GenerationStopwatch): GenerationResult {
  const started = rows.filter((row) => row.tokens.length > 0).length;
  const generated = rows.reduce((sum, row) => sum + row.tokens.length, 0);
  return {
    rows: rows.map((row) => ({
      tokens: [...row.tokens],
      text: row.text,
      logprobs: [...row.logprobs],
      finishReason: row.finishReason as FinishReason,
      promptTokens: row.promptTokens,
      generatedTokens: row.tokens.length,
    })),
    timings: stopwatch.timings(generated - started),
  };
}
