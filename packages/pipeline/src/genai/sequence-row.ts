import type { FinishReason, TokenHistory } from '@qwen-vl/decoder';

/**
 * One row of a Generator's sequence: its tokens (prompt without its left padding, then what
 * was generated and appended, in order), what the logits processors read of them, and
 * whether its current generation has ended.
 */
export class SequenceRow implements TokenHistory {
  private readonly ids: number[] = [];
  private seen = new Set<number>();
  /** Why the row's generation ended; undefined while it goes on. */
  finish: FinishReason | undefined;
  /** The row's length when its current generation started (its last input): the prompt length the length limits count from. */
  inputLength = 0;

  constructor(
    /** Columns of left padding before the row's first token. */
    readonly padding: number,
  ) {}

  get tokens(): readonly number[] {
    return this.ids;
  }

  get distinctIds(): ReadonlySet<number> {
    return this.seen;
  }

  get sequenceLength(): number {
    return this.ids.length;
  }

  /** Appends `ids` as input: the row's generation starts again after them. */
  appendInput(ids: readonly number[]): void {
    for (const id of ids) this.push(id);
    this.finish = undefined;
    this.inputLength = this.ids.length;
  }

  push(id: number): void {
    this.ids.push(id);
    this.seen.add(id);
  }

  /** Keeps the first `length` tokens; the generation goes on from there. */
  truncate(length: number): void {
    this.ids.length = length;
    this.seen = new Set(this.ids);
    this.finish = undefined;
    this.inputLength = Math.min(this.inputLength, length);
  }
}
