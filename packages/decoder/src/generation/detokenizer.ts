/** The tokenizer's decode of a list of token ids (for Qwen, byte-level BPE decoded as UTF-8). */
export type DecodeTokens = (ids: readonly number[]) => string;

const REPLACEMENT_CHARACTER = '\uFFFD';

/**
 * Turns a stream of token ids into text pieces, one call per token. A byte-level token can
 * hold part of a UTF-8 character (an emoji is often four byte tokens), and decoding it alone
 * gives U+FFFD; the decoder also may treat the first token of a list specially (stripping a
 * leading space). So each step decodes a short window — the tokens already emitted since the
 * previous piece (the prefix) plus the new ones — and emits only the text beyond the prefix's
 * decode, and only once it no longer ends in U+FFFD, i.e. once the character is complete.
 * Cost per token is one decode of a few tokens, not of the whole output.
 */
export class IncrementalDetokenizer {
  /** Token ids from the start of the prefix; ids before `readOffset` have been emitted. */
  private window: number[] = [];
  private readOffset = 0;
  private prefixText = '';

  constructor(private readonly decode: DecodeTokens) {}

  /** Adds one token and returns the text it completes ('' while a character is still partial). */
  push(tokenId: number): string {
    this.window.push(tokenId);
    return this.emit(false);
  }

  /**
   * Returns whatever is still held at the end of the row. It ends in U+FFFD only when the
   * tokens really stop mid-character, which the full decode shows the same way.
   */
  flush(): string {
    return this.emit(true);
  }

  private emit(final: boolean): string {
    const text = this.decode(this.window);
    if (text.length <= this.prefixText.length || (!final && text.endsWith(REPLACEMENT_CHARACTER))) return '';
    const piece = text.slice(this.prefixText.length);
    this.window = this.window.slice(this.readOffset);
    this.readOffset = this.window.length;
    this.prefixText = this.decode(this.window);
    return piece;
  }
}
