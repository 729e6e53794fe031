import { QwenVLError, hostTensor } from '@qwen-vl/core';
import type { HostTensor } from '@qwen-vl/core';
import { stackPrefillInputs } from '../runtime/batch-rows.js';
import type { DecoderSession } from '../runtime/decoder-session.js';
import type { DecodeTokens } from './detokenizer.js';
import { GenerationRow } from './generation-row.js';
import { GenerationStopwatch, defaultClock } from './generation-timings.js';
import type { Clock } from './generation-timings.js';
import { generationResult, promptRows } from './generator.js';
import type { GenerationControl, GenerationResult, PreparedPrompt } from './generator.js';
import { createRandomSource } from './sampler.js';
import type { SearchOptions } from './search-options.js';
import { TokenSelector } from './token-selector.js';
import type { GenerationStreamEvent } from './token-selector.js';

/** The part of DecoderSession a continuous batch drives. */
export type BatchSession = Pick<DecoderSession, 'join' | 'leave' | 'step'>;

/** One request to generate in the batch, with its own search options and control. */
export interface BatchedRequest {
  /**
   * Builds the request's prompt, one row with nothing cached (`cachedTokens` 0), when it is
   * its turn to join: inside the batch's loop, so that the model runs it needs (its images'
   * vision encoder, its embeddings) never overlap the batch's runs.
   */
  readonly prompt: () => Promise<PreparedPrompt>;
  readonly options: SearchOptions;
  /** Its signal ends only this request; `onStepLogits` gets its row's logits, `[1, vocab]`, step 0 being its prefill's. */
  readonly control?: GenerationControl;
}

export interface ContinuousBatchOptions {
  /** The most rows generating at once; further requests wait for a row to end. */
  readonly maxBatch: number;
  /** Millisecond clock for the timings; `performance.now` by default. */
  readonly now?: Clock;
}

type Outcome = { readonly result: GenerationResult } | { readonly error: unknown };

/** One request on its way through the batch: waiting, then a row of it, then over. */
class BatchEntry {
  row: GenerationRow | undefined;
  stopwatch: GenerationStopwatch | undefined;
  /** Events the loop made that the request's stream has not handed out yet. */
  readonly events: GenerationStreamEvent[] = [];
  outcome: Outcome | undefined;
  /** The stream's consumer stopped reading before the end. */
  left = false;
  private wake: (() => void) | undefined;

  constructor(readonly request: BatchedRequest) {}

  /** Whether the request is to end now: its signal aborted, or nobody reads it any more. */
  get cancelled(): boolean {
    return this.left || this.request.control?.signal?.aborted === true;
  }

  /** Resolves at the loop's next news for this request (events, or its outcome). */
  news(): Promise<void> {
    return new Promise((resolve) => (this.wake = resolve));
  }

  notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  settle(outcome: Outcome): void {
    this.outcome = outcome;
    this.notify();
  }
}

/**
 * Continuous batching on one decoder session: requests that arrive while others generate join
 * the running batch at the next step, and leave it as soon as they end, up to `maxBatch` rows.
 * Each loop round admits the waiting requests there is room for (their prompts prefilled
 * together on their own, left-padded, then their cache merged into the batch's: `DecoderSession.join`),
 * frees the rows that ended (finished, aborted, or no longer read: `DecoderSession.leave`),
 * then runs one decoder step for every row. Every row chooses its tokens by its own search
 * options and seeded random source, with the same selection, stopping and detokenizing as
 * `Generator` (`TokenSelector`, `GenerationRow`), so a greedy request answers what it answers
 * alone, up to the rounding of batched arithmetic.
 *
 * The loop runs while any request waits or generates and hands each request's events to its
 * own stream; it never waits for a stream's consumer. A request's signal is checked before
 * every model run: it then ends with finishReason 'aborted', its row freed at once.
 */
export class ContinuousBatch {
  private readonly waiting: BatchEntry[] = [];
  /** The rows generating, in the decoder batch's row order. */
  private rows: BatchEntry[] = [];
  private readonly selector = new TokenSelector();
  private readonly maxBatch: number;
  private readonly now: Clock;
  private looping = false;
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly session: BatchSession,
    private readonly decode: DecodeTokens,
    options: ContinuousBatchOptions,
  ) {
    if (!Number.isSafeInteger(options.maxBatch) || options.maxBatch < 1) {
      throw new QwenVLError('INVALID_ARGUMENT', `must be a positive integer, got ${String(options.maxBatch)}`, { source: 'ContinuousBatch maxBatch' });
    }
    this.maxBatch = options.maxBatch;
    this.now = options.now ?? defaultClock();
  }

  /** Rows generating now. */
  get size(): number {
    return this.rows.length;
  }

  /** Requests waiting for a row. */
  get waitingCount(): number {
    return this.waiting.length;
  }

  /**
   * Queues `request` and hands out its tokens as they are chosen; the return value is its
   * result (one row). Leaving the loop early frees its row before the next model run.
   */
  async *stream(request: BatchedRequest): AsyncGenerator<GenerationStreamEvent, GenerationResult, undefined> {
    const entry = new BatchEntry(request);
    this.waiting.push(entry);
    this.start();
    try {
      for (;;) {
        const event = entry.events.shift();
        if (event !== undefined) {
          yield event;
          continue;
        }
        const outcome = entry.outcome;
        if (outcome !== undefined) {
          if ('error' in outcome) throw outcome.error;
          return outcome.result;
        }
        await entry.news();
      }
    } finally {
      entry.left = entry.outcome === undefined;
    }
  }

  /** Resolves once no request waits or generates. */
  idle(): Promise<void> {
    if (!this.looping) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private start(): void {
    if (this.looping) return;
    this.looping = true;
    void this.loop();
  }

  private async loop(): Promise<void> {
    try {
      while (this.waiting.length > 0 || this.rows.length > 0) {
        await this.admit();
        // Rows that ended at their first token, or were cancelled meanwhile, leave before the step.
        await this.release();
        if (this.rows.length > 0) {
          await this.step();
          await this.release();
        }
      }
    } catch (error) {
      // Not a model failure (those end their own requests): nothing of the batch can be trusted.
      for (const entry of this.waiting.splice(0)) entry.settle({ error });
      await this.failRows(error, this.rows.length);
    } finally {
      this.looping = false;
      for (const resolve of this.idleWaiters.splice(0)) resolve();
    }
  }

  /** Prefills the waiting requests there is room for and adds them to the batch, with their first tokens. */
  private async admit(): Promise<void> {
    for (const entry of this.waiting.filter((waiting) => waiting.cancelled)) {
      this.waiting.splice(this.waiting.indexOf(entry), 1);
      this.end(entry);
    }
    const ready: { entry: BatchEntry; prompt: PreparedPrompt }[] = [];
    // Taken one by one, so that requests arriving while a prompt is built join in the same prefill.
    while (this.waiting.length > 0 && this.rows.length + ready.length < this.maxBatch) {
      const entry = this.waiting.shift()!;
      try {
        const prompt = await entry.request.prompt();
        // It may have been cancelled while its prompt was built.
        if (entry.cancelled) this.end(entry);
        else ready.push({ entry, prompt: checkJoiningPrompt(prompt) });
      } catch (error) {
        entry.settle({ error });
      }
    }
    if (ready.length === 0) return;
    const entries = ready.map(({ entry, prompt }) => {
      const { options, control } = entry.request;
      entry.row = new GenerationRow(promptRows(prompt)[0], this.decode, options, { rng: createRandomSource(options.randomSeed), logprobs: control?.logprobs === true });
      entry.stopwatch = new GenerationStopwatch(this.now);
      return entry;
    });
    let logits: HostTensor<'float32'>;
    const before = this.now();
    try {
      logits = await this.session.join(stackPrefillInputs(ready.map(({ prompt }) => prompt)));
    } catch (error) {
      // The batch's rows are as they were; only the joining requests fail.
      for (const entry of entries) entry.settle({ error });
      return;
    }
    const spent = this.now() - before;
    for (const entry of entries) entry.stopwatch!.ran(spent, 'prefill');
    this.rows.push(...entries);
    this.chooseTokens(entries, logits);
  }

  /** Frees the rows that ended: finished, cancelled, or failed in a callback. */
  private async release(): Promise<void> {
    const leaving = this.rows.flatMap((entry, index) => (entry.row!.finished || entry.cancelled || entry.outcome !== undefined ? [index] : []));
    if (leaving.length === 0) return;
    const batch = this.rows.length;
    const ended = leaving.map((index) => this.rows[index]);
    this.rows = this.rows.filter((_, index) => !leaving.includes(index));
    for (const entry of ended) this.end(entry);
    try {
      await this.session.leave(leaving);
    } catch (error) {
      await this.failRows(error, batch);
    }
  }

  /** One decoder step for every row, then a token for each. */
  private async step(): Promise<void> {
    const entries = this.rows;
    const lastTokens = entries.map(({ row }) => row!.tokens[row!.tokens.length - 1]);
    const before = this.now();
    let logits: HostTensor<'float32'>;
    try {
      logits = await this.session.step(lastTokens);
    } catch (error) {
      await this.failRows(error, entries.length);
      return;
    }
    const spent = this.now() - before;
    for (const entry of entries) entry.stopwatch!.ran(spent, 'step');
    this.chooseTokens(entries, logits);
  }

  /** A selection round over `entries`' rows, whose logits are `[entries, vocab]`; each request gets its event. */
  private chooseTokens(entries: readonly BatchEntry[], logits: HostTensor<'float32'>): void {
    const vocab = logits.dims[1];
    entries.forEach((entry, b) => {
      const onStepLogits = entry.request.control?.onStepLogits;
      if (onStepLogits === undefined) return;
      const rowLogits = hostTensor('float32', logits.data.slice(b * vocab, (b + 1) * vocab), [1, vocab]);
      try {
        entry.stopwatch!.caller(() => onStepLogits(entry.row!.tokens.length, rowLogits));
      } catch (error) {
        // The callback's failure ends its own request; the row leaves at the next release.
        entry.settle({ error });
      }
    });
    for (const event of this.selector.chooseTokens(
      entries.map(({ row }) => row!),
      logits,
    )) {
      const entry = entries[event.row];
      if (entry.outcome === undefined) entry.events.push({ ...event, row: 0 });
    }
    for (const entry of entries) {
      entry.stopwatch!.tokensChosen();
      entry.notify();
    }
  }

  /** Settles an entry whose generation ended (finished, or cancelled: then 'aborted' with what it has). */
  private end(entry: BatchEntry): void {
    if (entry.outcome !== undefined) return;
    const { options, control } = entry.request;
    const row = entry.row ?? new GenerationRow([], this.decode, options, { rng: createRandomSource(0), logprobs: control?.logprobs === true });
    if (!row.finished) row.abort();
    entry.settle({ result: generationResult([row], entry.stopwatch ?? new GenerationStopwatch(this.now)) });
  }

  /** A model run failed: every row's request fails with it, and the session's sequence (`rows` rows) is dropped. */
  private async failRows(error: unknown, rows: number): Promise<void> {
    for (const entry of this.rows.splice(0)) entry.settle({ error });
    await this.session.leave(Array.from({ length: rows }, (_, row) => row)).catch(() => undefined);
  }
}

/** A joining request's prompt: one row, nothing cached (a batch row starts its own sequence). */
function checkJoiningPrompt(prompt: PreparedPrompt): PreparedPrompt {
  if (prompt.inputIds.dims[0] !== 1 || (prompt.cachedTokens ?? 0) !== 0) {
    throw new QwenVLError('INVALID_ARGUMENT', `must be one row with nothing cached, got ${prompt.inputIds.dims[0]} rows and cachedTokens ${prompt.cachedTokens ?? 0}`, {
      source: 'BatchedRequest prompt',
    });
  }
  return prompt;
}
