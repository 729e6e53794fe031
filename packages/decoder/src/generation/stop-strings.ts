/**
 * Finds stop strings in streamed text whose pieces can split a stop string anywhere. Text that
 * could be the start of a stop string is held back until the next piece settles it, so the
 * caller never emits any part of a stop string; text after the first stop string is dropped.
 */
export class StopStringMatcher {
  private held = '';
  private matched = false;
  private readonly longest: number;

  /** `stopStrings` must be non-empty strings, as `resolveSearchOptions` guarantees. */
  constructor(private readonly stopStrings: readonly string[]) {
    this.longest = Math.max(0, ...stopStrings.map((s) => s.length));
  }

  /** True once a stop string has appeared; the row should finish with reason 'stop'. */
  get stopped(): boolean {
    return this.matched;
  }

  /** Adds a piece of output and returns the text that is now safe to emit. */
  push(piece: string): string {
    if (this.matched) return '';
    const text = this.held + piece;
    const stopAt = this.firstStopIndex(text);
    if (stopAt !== -1) {
      this.matched = true;
      this.held = '';
      return text.slice(0, stopAt);
    }
    const keep = this.possibleStopStart(text);
    this.held = text.slice(text.length - keep);
    return text.slice(0, text.length - keep);
  }

  /** Releases the held-back text when the row ends for another reason: it was no stop string. */
  flush(): string {
    const text = this.held;
    this.held = '';
    return text;
  }

  private firstStopIndex(text: string): number {
    let first = -1;
    for (const stop of this.stopStrings) {
      const at = text.indexOf(stop);
      if (at !== -1 && (first === -1 || at < first)) first = at;
    }
    return first;
  }

  /**
   * Length of the longest suffix of `text` that begins some stop string. Anything before it
   * cannot be part of a future match, since a match that started there would already have
   * made that longer suffix a stop-string prefix.
   */
  private possibleStopStart(text: string): number {
    for (let length = Math.min(text.length, this.longest - 1); length > 0; length--) {
      const suffix = text.slice(text.length - length);
      if (this.stopStrings.some((stop) => stop.startsWith(suffix))) return length;
    }
    return 0;
  }
}
