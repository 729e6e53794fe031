import { QwenVLError } from '@qwen-vl/core';

/**
 * A generation seen two ways: iterate it for the pieces as they are made, and await
 * `result` for the summary once it ends. Awaiting `result` without iterating runs the
 * generation to its end (that is what `chat` does). It can be iterated once.
 */
export class ResultStream<Chunk, Result> implements AsyncIterable<Chunk> {
  readonly #source: AsyncIterator<Chunk, Result, undefined>;
  readonly #result: Promise<Result>;
  #settle!: { resolve(value: Result): void; reject(error: unknown): void };
  #started = false;

  constructor(source: AsyncIterator<Chunk, Result, undefined>) {
    this.#source = source;
    this.#result = new Promise<Result>((resolve, reject) => (this.#settle = { resolve, reject }));
    // Marked handled: a caller who only iterates sees the error from the loop instead.
    this.#result.catch(() => undefined);
  }

  /** The summary, once the generation has ended; rejects with the generation's error. */
  get result(): Promise<Result> {
    if (!this.#started) void this.#drain();
    return this.#result;
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Chunk, void, undefined> {
    if (this.#started) throw new QwenVLError('INVALID_ARGUMENT', 'can be iterated only once; await .result for the summary', { source: 'chat stream' });
    this.#started = true;
    let finished = false;
    try {
      for (;;) {
        const step = await this.#source.next();
        if (step.done === true) {
          finished = true;
          this.#settle.resolve(step.value);
          return;
        }
        yield step.value;
      }
    } catch (error) {
      finished = true;
      this.#settle.reject(error);
      throw error;
    } finally {
      if (!finished) {
        // The caller left the loop early: stop the generation and free the model.
        await this.#source.return?.();
        this.#settle.reject(new QwenVLError('ABORTED', 'the caller stopped reading before the generation ended', { source: 'chat stream' }));
      }
    }
  }

  async #drain(): Promise<void> {
    try {
      for await (const chunk of this) void chunk;
    } catch {
      // Reported through `result`.
    }
  }
}
