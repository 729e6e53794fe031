import type { QwenTokenizer } from '@qwen-vl/preprocess';

/** One token's entry in OpenAI's `logprobs.content`. */
export interface TokenLogprob {
  token: string;
  logprob: number;
  /** The token's UTF-8 bytes: a token can hold part of a character, which `token` shows as U+FFFD. */
  bytes: number[];
  top_logprobs: { token: string; logprob: number; bytes: number[] }[];
}

/** GPT-2's byte-level alphabet, reversed: the character a vocabulary entry uses → the byte it stands for. */
function byteDecoder(): Map<string, number> {
  const printable = (b: number) => (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
  const decoder = new Map<string, number>();
  let next = 256;
  for (let b = 0; b < 256; b++) decoder.set(String.fromCodePoint(printable(b) ? b : next++), b);
  return decoder;
}

/** The `top` largest entries of `logits` (index and value), largest first. */
function topEntries(logits: Float32Array, top: number): { id: number; value: number }[] {
  const best: { id: number; value: number }[] = [];
  for (let id = 0; id < logits.length; id++) {
    const value = logits[id];
    if (best.length === top && value <= best[top - 1].value) continue;
    let at = best.length === top ? top - 1 : best.length;
    while (at > 0 && best[at - 1].value < value) at--;
    best.splice(at, 0, { id, value });
    if (best.length > top) best.pop();
  }
  return best;
}

function logSumExp(logits: Float32Array): number {
  let max = -Infinity;
  for (const value of logits) if (value > max) max = value;
  let sum = 0;
  for (const value of logits) sum += Math.exp(value - max);
  return max + Math.log(sum);
}

/**
 * Builds the `logprobs.content` of one generation: the chosen token's logprob comes with
 * each chunk (log-softmax of the raw logits); the `top` alternatives are read from the raw
 * logits of the step (`onStepLogits`), under the same log-softmax.
 */
export class LogprobRecorder {
  private static decoder: Map<string, number> | undefined;
  private readonly tops = new Map<number, { id: number; logprob: number }[]>();

  constructor(
    private readonly tokenizer: QwenTokenizer,
    private readonly top: number,
  ) {}

  /** Pass as `ChatOptions.onStepLogits` when `top` > 0. */
  readonly onStepLogits = (step: number, logits: Float32Array): void => {
    const norm = logSumExp(logits);
    this.tops.set(
      step,
      topEntries(logits, this.top).map(({ id, value }) => ({ id, logprob: value - norm })),
    );
  };

  /** The entry of the token chosen at `step`. */
  entry(step: number, tokenId: number, logprob: number): TokenLogprob {
    const alternatives = this.tops.get(step) ?? [];
    this.tops.delete(step);
    return { ...this.describe(tokenId), logprob, top_logprobs: alternatives.map(({ id, logprob }) => ({ ...this.describe(id), logprob })) };
  }

  private describe(id: number): { token: string; bytes: number[] } {
    const piece = this.tokenizer.idToToken(id) ?? '';
    const decoder = (LogprobRecorder.decoder ??= byteDecoder());
    const chars = [...piece];
    // Byte-level pieces map back to their bytes; special tokens (<|im_end|>) are plain text.
    const bytes = chars.every((ch) => decoder.has(ch)) ? chars.map((ch) => decoder.get(ch)!) : [...Buffer.from(piece, 'utf8')];
    return { token: Buffer.from(bytes).toString('utf8'), bytes };
  }
}
