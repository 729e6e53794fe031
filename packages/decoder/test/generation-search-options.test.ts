import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { QwenVLError, parseGenerationConfig } from '@qwen-vl/core';
import { MODEL_DIR } from '@qwen-vl/test-support';
import { describe, expect, it } from 'vitest';
import { resolveSearchOptions } from '../src/index.js';
import type { SearchOptionNames, SearchOptionsInput } from '../src/index.js';

/** Qwen2.5-VL's own generation_config.json: do_sample true, temperature 1e-6, repetition_penalty 1.05. */
const qwenConfig = parseGenerationConfig(JSON.parse(readFileSync(join(MODEL_DIR, 'generation_config.json'), 'utf8')));
const hfDefaults = parseGenerationConfig({});

function expectError(fn: () => unknown, code: string, source: string): void {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(QwenVLError);
    expect((error as QwenVLError).code).toBe(code);
    expect((error as QwenVLError).source).toBe(source);
    return;
  }
  throw new Error(`expected a ${code} error about ${source}`);
}

describe('resolveSearchOptions', () => {
  it('takes every default from Qwen2.5-VL generation_config.json, keeping its near-zero-temperature sampling', () => {
    expect(resolveSearchOptions({}, qwenConfig)).toEqual({
      doSample: true,
      temperature: 1e-6,
      topK: 50,
      topP: 1,
      repetitionPenalty: 1.05,
      minLength: 0,
      maxLength: undefined,
      maxNewTokens: undefined,
      randomSeed: undefined,
      stopStrings: [],
      eosTokenIds: [151645, 151643],
      ignoreEos: false,
    });
  });

  it('lets greedy: true override the config do_sample, and greedy: false / doSample: true turn sampling on', () => {
    expect(resolveSearchOptions({ greedy: true }, qwenConfig).doSample).toBe(false);
    expect(resolveSearchOptions({ doSample: false }, qwenConfig).doSample).toBe(false);
    expect(resolveSearchOptions({}, hfDefaults).doSample).toBe(false);
    expect(resolveSearchOptions({ greedy: false }, hfDefaults).doSample).toBe(true);
    expect(resolveSearchOptions({ doSample: true, temperature: 0.7 }, hfDefaults)).toMatchObject({ doSample: true, temperature: 0.7 });
  });

  it('allows temperature 0 for greedy search but not for sampling', () => {
    expect(resolveSearchOptions({ greedy: true, temperature: 0 }, qwenConfig).doSample).toBe(false);
    expectError(() => resolveSearchOptions({ temperature: 0 }, qwenConfig), 'INVALID_ARGUMENT', 'search option "temperature"');
    expectError(() => resolveSearchOptions({ temperature: -1, doSample: true }, hfDefaults), 'INVALID_ARGUMENT', 'search option "temperature"');
  });

  it('refuses a negative temperature in greedy search too, where any other is ignored', () => {
    expect(resolveSearchOptions({ greedy: true, temperature: 5 }, qwenConfig).temperature).toBe(5);
    expect(() => resolveSearchOptions({ greedy: true, temperature: -1 }, qwenConfig)).toThrow('search option "temperature": must be ≥ 0, got -1');
    expectError(() => resolveSearchOptions({}, parseGenerationConfig({ do_sample: false, temperature: -0.5 })), 'INVALID_CONFIG', 'generation_config.json field "temperature"');
  });

  it("words its errors in the caller's names when given them, hint included; config errors still name the config field", () => {
    const flags: SearchOptionNames = { option: (name) => `--${name}`, greedy: '--greedy' };
    expectError(() => resolveSearchOptions({ temperature: 0 }, qwenConfig, undefined, flags), 'INVALID_ARGUMENT', '--temperature');
    expect(() => resolveSearchOptions({ temperature: 0 }, qwenConfig, undefined, flags)).toThrow('--temperature: must be > 0 when sampling, got 0; use --greedy for deterministic decoding');
    expectError(() => resolveSearchOptions({ topP: 2 }, qwenConfig, undefined, flags), 'INVALID_ARGUMENT', '--topP');
    expectError(() => resolveSearchOptions({}, parseGenerationConfig({ do_sample: true, temperature: 0 }), undefined, flags), 'INVALID_CONFIG', 'generation_config.json field "temperature"');
    // Without names, the API's own: the field and `greedy: true`.
    expect(() => resolveSearchOptions({ temperature: 0 }, qwenConfig)).toThrow('search option "temperature": must be > 0 when sampling, got 0; use greedy: true for deterministic decoding');
  });

  it.each<[SearchOptionsInput, string]>([
    [{ topP: 0 }, 'topP'],
    [{ topP: 1.01 }, 'topP'],
    [{ topK: -1 }, 'topK'],
    [{ topK: 2.5 }, 'topK'],
    [{ repetitionPenalty: 0 }, 'repetitionPenalty'],
    [{ repetitionPenalty: -1.05 }, 'repetitionPenalty'],
    [{ maxNewTokens: 0 }, 'maxNewTokens'],
    [{ maxNewTokens: 1.5 }, 'maxNewTokens'],
    [{ maxLength: 0 }, 'maxLength'],
    [{ minLength: -1 }, 'minLength'],
    [{ randomSeed: -1 }, 'randomSeed'],
    [{ randomSeed: 0.5 }, 'randomSeed'],
    [{ stopStrings: [''] }, 'stopStrings'],
    [{ eosTokenIds: [-3] }, 'eosTokenIds'],
    [{ greedy: true, doSample: true }, 'greedy'],
  ])('rejects %j naming the option', (input, name) => {
    expectError(() => resolveSearchOptions(input, qwenConfig), 'INVALID_ARGUMENT', `search option "${name}"`);
  });

  it('rejects an unknown option such as the snake_case top_p', () => {
    expectError(() => resolveSearchOptions({ top_p: 0.5 } as SearchOptionsInput, qwenConfig), 'INVALID_ARGUMENT', 'search option "top_p"');
  });

  it('reports a bad config value against generation_config.json, unless the caller overrides it', () => {
    const badTopP = parseGenerationConfig({ top_p: 0, do_sample: true });
    expectError(() => resolveSearchOptions({}, badTopP), 'INVALID_CONFIG', 'generation_config.json field "top_p"');
    expect(resolveSearchOptions({ topP: 0.9 }, badTopP).topP).toBe(0.9);
    const zeroTemperature = parseGenerationConfig({ temperature: 0, do_sample: true });
    expectError(() => resolveSearchOptions({}, zeroTemperature), 'INVALID_CONFIG', 'generation_config.json field "temperature"');
    expect(resolveSearchOptions({ greedy: true }, zeroTemperature).doSample).toBe(false);
  });

  it('replaces both config length limits when the caller sets one, as Hugging Face does', () => {
    const config = parseGenerationConfig({ max_length: 100, max_new_tokens: 40, min_length: 3 });
    expect(resolveSearchOptions({}, config)).toMatchObject({ maxLength: 100, maxNewTokens: 40, minLength: 3 });
    expect(resolveSearchOptions({ maxNewTokens: 10 }, config)).toMatchObject({ maxLength: undefined, maxNewTokens: 10 });
    expect(resolveSearchOptions({ maxLength: 64 }, config)).toMatchObject({ maxLength: 64, maxNewTokens: undefined });
  });

  it('caps the total at the context length and uses it when nothing else caps it', () => {
    expect(resolveSearchOptions({}, qwenConfig, 128000).maxLength).toBe(128000);
    expect(resolveSearchOptions({ maxNewTokens: 16 }, qwenConfig, 128000)).toMatchObject({ maxNewTokens: 16, maxLength: 128000 });
    expect(resolveSearchOptions({ maxLength: 4096 }, qwenConfig, 128000).maxLength).toBe(4096);
    expectError(() => resolveSearchOptions({ maxLength: 200000 }, qwenConfig, 128000), 'INVALID_ARGUMENT', 'search option "maxLength"');
    expectError(() => resolveSearchOptions({}, parseGenerationConfig({ max_length: 200000 }), 128000), 'INVALID_CONFIG', 'generation_config.json field "max_length"');
  });

  it('takes caller EOS ids, stop strings, seed and ignoreEos as given', () => {
    const options = resolveSearchOptions({ eosTokenIds: [7], stopStrings: ['\n\n'], randomSeed: 123, ignoreEos: true }, qwenConfig);
    expect(options).toMatchObject({ eosTokenIds: [7], stopStrings: ['\n\n'], randomSeed: 123, ignoreEos: true });
  });
});
