import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { QwenTokenizer } from '@qwen-vl/preprocess';
import { MODEL_DIR } from '@qwen-vl/test-support';
import { describe, expect, it } from 'vitest';
import { IncrementalDetokenizer } from '../src/index.js';
import type { DecodeTokens } from '../src/index.js';

/**
 * A byte-level tokenizer in miniature: each token id stands for a run of bytes, and decode
 * joins them and reads UTF-8 leniently (an incomplete character becomes U+FFFD), as the
 * ByteLevel decoder of Hugging Face tokenizers does.
 */
function byteTokenizer(tokens: number[][]): DecodeTokens {
  const utf8 = new TextDecoder('utf-8');
  return (ids) => utf8.decode(Uint8Array.from(ids.flatMap((id) => tokens[id])));
}

function stream(decode: DecodeTokens, ids: number[]): { pieces: string[]; tail: string } {
  const detokenizer = new IncrementalDetokenizer(decode);
  const pieces = ids.map((id) => detokenizer.push(id));
  return { pieces, tail: detokenizer.flush() };
}

describe('IncrementalDetokenizer', () => {
  // 😀 = F0 9F 98 80 as four byte tokens; 你 = E4 BD A0 as three; 好 = E5 A5 | BD;
  // é€ = C3 | A9 E2 | 82 AC, where the middle token ends one character and starts the next.
  const tokens = [
    [0x61], // 0 'a'
    [0xf0],
    [0x9f],
    [0x98],
    [0x80], // 1-4 😀
    [0x20], // 5 ' '
    [0xe4],
    [0xbd],
    [0xa0], // 6-8 你
    [0xe5, 0xa5],
    [0xbd], // 9-10 好
    [0xc3],
    [0xa9, 0xe2],
    [0x82, 0xac], // 11-13 é€
    [0x21], // 14 '!'
  ];
  const decode = byteTokenizer(tokens);

  it('emits each character only once its last byte arrives', () => {
    const { pieces, tail } = stream(decode, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14]);
    // A9 E2 completes é but starts €: the piece waits for a token that ends on a character boundary.
    expect(pieces).toEqual(['a', '', '', '', '😀', ' ', '', '', '你', '', '好', '', '', 'é€', '!']);
    expect(tail).toBe('');
  });

  it('never emits U+FFFD and concatenates to the full decode, in any token order', () => {
    const ids = [5, 11, 12, 13, 1, 2, 3, 4, 1, 2, 3, 4, 9, 10, 6, 7, 8, 0, 14, 9, 10];
    const { pieces, tail } = stream(decode, ids);
    expect(pieces.some((piece) => piece.includes('\uFFFD'))).toBe(false);
    expect(pieces.join('') + tail).toBe(decode(ids));
    expect(decode(ids)).toBe(' é€😀😀好你a!好');
  });

  it('flushes an unfinished character as U+FFFD, as the full decode shows it', () => {
    const { pieces, tail } = stream(decode, [0, 1, 2]);
    expect(pieces).toEqual(['a', '', '']);
    expect(tail).toBe('\uFFFD');
    expect(pieces.join('') + tail).toBe(decode([0, 1, 2]));
  });

  it('decodes new tokens after the previous ones, so a decoder that strips a leading space keeps inner spaces', () => {
    // Like a SentencePiece decoder: the first token of any decoded list loses its leading space.
    const words = ['Hello', ' world', ' again'];
    const stripLeading: DecodeTokens = (ids) =>
      ids
        .map((id) => words[id])
        .join('')
        .replace(/^ /, '');
    const { pieces } = stream(stripLeading, [0, 1, 2]);
    expect(pieces).toEqual(['Hello', ' world', ' again']);
  });

  // Loading the 6 MB tokenizer.json can take seconds on a busy machine: a generous ceiling, not a timing check.
  it('streams the real Qwen tokenizer: split characters are never emitted in part', () => {
    const readJson = (name: string) => JSON.parse(readFileSync(join(MODEL_DIR, name), 'utf8'));
    const tokenizer = QwenTokenizer.fromJson(readJson('tokenizer.json'), readJson('tokenizer_config.json'));
    const text = 'Hi 😀 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 🦜🧬 ꙮ 龘靐齉 naïve café 世界';
    const ids = [...tokenizer.encode(text)];
    const decode: DecodeTokens = (window) => tokenizer.decode(window);
    // The test only means something if some tokens hold partial characters.
    expect(ids.filter((id) => decode([id]).includes('\uFFFD')).length).toBeGreaterThan(10);

    const { pieces, tail } = stream(decode, ids);
    expect(pieces.some((piece) => piece.includes('\uFFFD'))).toBe(false);
    expect(tail).toBe('');
    expect(pieces.join('')).toBe(text);
  });
});
