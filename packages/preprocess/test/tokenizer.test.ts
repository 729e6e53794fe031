import { beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isQwenVLError } from '@qwen-vl/core';
import type { QwenVLErrorCode } from '@qwen-vl/core';
import { QwenTokenizer } from '../src/tokenizer.js';
import { MODEL_DIR, goldenArray, numbers } from '@qwen-vl/test-support';
import { fsModelFolder } from './helpers/fs-model-folder.js';

const goldenInputIds = (name: string) => numbers(goldenArray(name, 'input_ids').data);

const TEXT_ONLY_PROMPT = '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHello, who are you?<|im_end|>\n<|im_start|>assistant\n';

async function expectQwenError(promise: Promise<unknown>, code: QwenVLErrorCode, mentions: string): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isQwenVLError(error, code), `expected ${code}, got ${String(error)}`).toBe(true);
  expect((error as Error).message).toContain(mentions);
}

describe('QwenTokenizer', () => {
  let tokenizer: QwenTokenizer;
  beforeAll(async () => {
    tokenizer = await QwenTokenizer.fromFolder(fsModelFolder(MODEL_DIR));
  });

  it('encodes the reference pieces of algorithms.md §2.1', () => {
    expect(Array.from(tokenizer.encode('You are a helpful assistant.'))).toEqual([2610, 525, 264, 10950, 17847, 13]);
    expect(Array.from(tokenizer.encode('Hello, who are you?'))).toEqual([9707, 11, 879, 525, 498, 30]);
    expect(Array.from(tokenizer.encode('system\nuser\nassistant'))).toEqual([8948, 198, 872, 198, 77091]);
  });

  it('encodes the whole text_only golden prompt to its input_ids', () => {
    const ids = tokenizer.encode(TEXT_ONLY_PROMPT);
    expect(ids).toBeInstanceOf(Int32Array);
    expect(Array.from(ids)).toEqual(goldenInputIds('text_only'));
  });

  it.each([
    ['one_image', 'Describe this image.'],
    ['two_images', 'Compare the two images.'],
    ['jpeg_downscale', 'What is in the picture?'],
  ])('encodes the user text of %s to the golden ids between <|vision_end|> and <|im_end|>', (name, text) => {
    const golden = goldenInputIds(name);
    const start = golden.lastIndexOf(151653) + 1;
    const end = golden.indexOf(151645, start);
    expect(Array.from(tokenizer.encode(text))).toEqual(golden.slice(start, end));
  });

  it('keeps special tokens atomic and adds no BOS', () => {
    expect(Array.from(tokenizer.encode('<|im_start|>user\n<|vision_start|><|image_pad|><|image_pad|><|vision_end|>'))).toEqual([151644, 872, 198, 151652, 151655, 151655, 151653]);
    expect(tokenizer.encode('').length).toBe(0);
  });

  it('maps the special tokens of algorithms.md §2.3 both ways', () => {
    const table: Array<[string, number]> = [
      ['<|endoftext|>', 151643],
      ['<|im_start|>', 151644],
      ['<|im_end|>', 151645],
      ['<|vision_start|>', 151652],
      ['<|vision_end|>', 151653],
      ['<|vision_pad|>', 151654],
      ['<|image_pad|>', 151655],
      ['<|video_pad|>', 151656],
      ['<|file_sep|>', 151664],
    ];
    for (const [token, id] of table) {
      expect(tokenizer.tokenToId(token)).toBe(id);
      expect(tokenizer.idToToken(id)).toBe(token);
    }
    expect(tokenizer.tokenToId('<|no_such_token|>')).toBeUndefined();
    expect(tokenizer.idToToken(10_000_000)).toBeUndefined();
  });

  it('decodes with and without special tokens', () => {
    const ids = goldenInputIds('text_only');
    expect(tokenizer.decode(ids)).toBe(TEXT_ONLY_PROMPT);
    expect(tokenizer.decode(Int32Array.from(ids), { skipSpecialTokens: true })).toBe('system\nYou are a helpful assistant.\nuser\nHello, who are you?\nassistant\n');
  });

  it('round-trips non-ASCII text through byte-level BPE', () => {
    const text = 'Grüße, 世界! 🙂  tabs\tand\nnewlines';
    expect(tokenizer.decode(tokenizer.encode(text))).toBe(text);
  });

  it('exposes the tokenizer_config special tokens under the names chat templates use', () => {
    expect(tokenizer.specialTokens.eos_token).toBe('<|im_end|>');
    expect(tokenizer.specialTokens.pad_token).toBe('<|endoftext|>');
    expect('bos_token' in tokenizer.specialTokens).toBe(false);
    expect(tokenizer.specialTokens.additional_special_tokens).toContain('<|image_pad|>');
    expect(tokenizer.padTokenId).toBe(151643);
  });
});

describe('QwenTokenizer.fromFolder errors', () => {
  const tokenizerConfig = readFileSync(join(MODEL_DIR, 'tokenizer_config.json'), 'utf8');

  it('names a missing tokenizer.json', async () => {
    await expectQwenError(QwenTokenizer.fromFolder(fsModelFolder(MODEL_DIR, { 'tokenizer.json': null })), 'MISSING_FILE', 'tokenizer.json');
  });

  it('names a missing tokenizer_config.json', async () => {
    await expectQwenError(QwenTokenizer.fromFolder(fsModelFolder(MODEL_DIR, { 'tokenizer_config.json': null })), 'MISSING_FILE', 'tokenizer_config.json');
  });

  it('names a tokenizer.json that is not JSON', async () => {
    await expectQwenError(QwenTokenizer.fromFolder(fsModelFolder(MODEL_DIR, { 'tokenizer.json': '{"model": ' })), 'INVALID_CONFIG', 'tokenizer.json');
  });

  it('names a tokenizer.json without a model', async () => {
    const folder = fsModelFolder(MODEL_DIR, { 'tokenizer.json': '{"added_tokens": []}' });
    await expectQwenError(QwenTokenizer.fromFolder(folder), 'INVALID_CONFIG', 'tokenizer.json');
  });

  it('names a malformed special token field', async () => {
    const config = { ...(JSON.parse(tokenizerConfig) as object), eos_token: 7 };
    const folder = fsModelFolder(MODEL_DIR, { 'tokenizer_config.json': JSON.stringify(config) });
    await expectQwenError(QwenTokenizer.fromFolder(folder), 'INVALID_CONFIG', 'tokenizer_config.json field "eos_token"');
  });
});
