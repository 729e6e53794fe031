/** Where the time of one generation went (milliseconds), counting only the generator's own work. */
export interface GenerationTimings {
  /** The prefill run over the prompt(s). */
  prefillMs: number;
  /** From the start of the generation to the first token chosen: prefill plus one selection. */
  firstTokenMs: number;
  /** From the first token chosen to the last. */
  decodeMs: number;
  /** Decoder steps run (one per token after the first, while any row is unfinished). */
  steps: number;
  /** Tokens the steps produced, all rows together, per second of `decodeMs`; 0 without steps. */
  tokensPerSecond: number;
  /** Time inside DecoderSession.prefill / step: the model runs and the cache bookkeeping around them. */
  runMs: number;
  /** Time outside the decoder session per selection round (logits processing, sampling, detokenizing). */
  overheadMsPerToken: number;
}

/** A millisecond clock; `performance.now` where the runtime has it. */
export type Clock = () => number;

export function defaultClock(): Clock {
  // Read from globalThis so the package needs neither DOM nor Node types; both runtimes have it.
  const performance = (globalThis as { performance?: { now(): number } }).performance;
  return performance !== undefined ? () => performance.now() : () => Date.now();
}

/**
 * Accumulates the timings of one generation. Time the generator spends suspended — waiting
 * for the consumer of its stream, or in the consumer's logits callback — is not its own work
 * and is left out, so the numbers describe the engine whatever the caller does per token.
 */
export class GenerationStopwatch {
  private readonly start: number;
  /** Time that was the caller's: suspended at a yield, or in its callback. */
  private outside = 0;
  private pausedAt = 0;
  private run = 0;
  private prefill = 0;
  private firstToken: number | undefined;
  private last: number;
  private stepCount = 0;

  constructor(private readonly now: Clock) {
    this.start = now();
    this.last = this.start;
  }

  /** Times a DecoderSession call; `prefill` marks the one over the prompt. */
  async session<T>(call: () => Promise<T>, kind: 'prefill' | 'step'): Promise<T> {
    const before = this.now();
    const result = await call();
    this.ran(this.now() - before, kind);
    return result;
  }

  /** Counts a DecoderSession call of `spentMs` that was timed elsewhere: a batch's run, shared by its rows. */
  ran(spentMs: number, kind: 'prefill' | 'step'): void {
    this.run += spentMs;
    if (kind === 'prefill') this.prefill = spentMs;
    else this.stepCount++;
  }

  /** Times something that is the caller's, not the generator's (a callback). */
  caller<T>(call: () => T): T {
    this.pause();
    try {
      return call();
    } finally {
      this.resume();
    }
  }

  /** The stream handed out an event; until `resume`, the time is the consumer's. */
  pause(): void {
    this.pausedAt = this.now();
  }

  resume(): void {
    this.outside += this.now() - this.pausedAt;
  }

  /** Marks the end of a selection round (a token chosen for every unfinished row). */
  tokensChosen(): void {
    this.last = this.elapsed();
    this.firstToken ??= this.last;
  }

  /** `decodeTokens`: tokens chosen after the first round, all rows together. */
  timings(decodeTokens: number): GenerationTimings {
    const firstTokenMs = this.firstToken ?? 0;
    const decodeMs = this.last - firstTokenMs;
    const rounds = this.firstToken === undefined ? 0 : this.stepCount + 1;
    return {
      prefillMs: this.prefill,
      firstTokenMs,
      decodeMs,
      steps: this.stepCount,
      tokensPerSecond: decodeMs > 0 ? (decodeTokens * 1000) / decodeMs : 0,
      runMs: this.run,
      overheadMsPerToken: rounds > 0 ? (this.last - this.run) / rounds : 0,
    };
  }

  /** Time since the start that was the generator's own. */
  private elapsed(): number {
    return this.now() - this.start - this.outside;
  }
}
