/** The settings and logits the scripted-session tests of the generation loops share. */
import type { SearchOptions } from '../src/index.js';

export const VOCAB = 8;
export const EOS = 7;

export function searchOptions(overrides: Partial<SearchOptions> = {}): SearchOptions {
  return {
    doSample: false,
    temperature: 1,
    topK: 0,
    topP: 1,
    repetitionPenalty: 1,
    minLength: 0,
    maxLength: undefined,
    maxNewTokens: 4,
    randomSeed: undefined,
    stopStrings: [],
    eosTokenIds: [EOS],
    ignoreEos: false,
    ...overrides,
  };
}

/** Logits of one row: 0 everywhere but `peak`, which gets 5. */
export function peaked(peak: number): number[] {
  return Array.from({ length: VOCAB }, (_, i) => (i === peak ? 5 : 0));
}
