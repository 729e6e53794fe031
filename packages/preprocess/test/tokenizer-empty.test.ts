import { describe, expect, it } from 'vitest';
import { QwenTokenizer } from '../src/tokenizer.js';
import { MODEL_DIR } from '@qwen-vl/test-support';
import { fsModelFolder } from './helpers/fs-model-folder.js';

describe('QwenTokenizer.decode of no tokens', () => {
  it("is '' (a generation whose first token is end-of-turn), not an exception", async () => {
    const tokenizer = await QwenTokenizer.fromFolder(fsModelFolder(MODEL_DIR));
    expect(tokenizer.decode([])).toBe('');
    expect(tokenizer.decode(new Int32Array(0), { skipSpecialTokens: true })).toBe('');
  });
});
