import { describe, expect, it } from 'vitest';
import { finishReason } from '../src/index.js';
import type { RowProgress, StoppingOptions } from '../src/index.js';

const options: StoppingOptions = { eosTokenIds: [151645, 151643], ignoreEos: false, maxNewTokens: 8, maxLength: 20 };
const progress = (overrides: Partial<RowProgress>): RowProgress => ({
  tokenId: 42,
  promptLength: 10,
  generatedLength: 3,
  stopStringMatched: false,
  ...overrides,
});

describe('finishReason', () => {
  it('keeps going when nothing stops the row', () => {
    expect(finishReason(options, progress({}), { aborted: false })).toBeUndefined();
  });

  it('stops on any EOS id unless ignoreEos', () => {
    expect(finishReason(options, progress({ tokenId: 151643 }))).toBe('eos');
    expect(finishReason(options, progress({ tokenId: 151645 }))).toBe('eos');
    expect(finishReason({ ...options, ignoreEos: true }, progress({ tokenId: 151645 }))).toBeUndefined();
  });

  it('stops at maxNewTokens generated tokens', () => {
    expect(finishReason(options, progress({ generatedLength: 7 }))).toBeUndefined();
    expect(finishReason(options, progress({ generatedLength: 8 }))).toBe('length');
  });

  it('stops when prompt + generated tokens reach maxLength', () => {
    const totalOnly = { ...options, maxNewTokens: undefined };
    expect(finishReason(totalOnly, progress({ promptLength: 12, generatedLength: 7 }))).toBeUndefined();
    expect(finishReason(totalOnly, progress({ promptLength: 12, generatedLength: 8 }))).toBe('length');
    expect(finishReason(options, progress({ promptLength: 15, generatedLength: 5 }))).toBe('length');
  });

  it('stops on a stop string and when aborted', () => {
    expect(finishReason(options, progress({ stopStringMatched: true }))).toBe('stop');
    expect(finishReason(options, progress({}), { aborted: true })).toBe('aborted');
  });

  it('prefers aborted, then eos, then stop over a length limit reached at the same step', () => {
    const last = { generatedLength: 8 };
    expect(finishReason(options, progress({ ...last, tokenId: 151645, stopStringMatched: true }), { aborted: true })).toBe('aborted');
    expect(finishReason(options, progress({ ...last, tokenId: 151645, stopStringMatched: true }))).toBe('eos');
    expect(finishReason(options, progress({ ...last, stopStringMatched: true }))).toBe('stop');
  });

  it('never stops on length when neither limit is set', () => {
    expect(finishReason({ ...options, maxNewTokens: undefined, maxLength: undefined }, progress({ generatedLength: 1e6 }))).toBeUndefined();
  });
});
