import { QwenVLError } from '@qwen-vl/core';
import type { GenerationConfig } from '@qwen-vl/core';

/**
 * How the next token is chosen and when a row stops, as one plain settings object: the
 * search options of onnxruntime-genai plus the knobs a chat API needs (new-token budget,
 * stop strings, EOS override). Every field is resolved; see `resolveSearchOptions`.
 */
export interface SearchOptions {
  /** Softmax sampling over the warped logits when true; greedy argmax when false. */
  doSample: boolean;
  /** Divides the logits before sampling (> 0). Unused by greedy search. */
  temperature: number;
  /** Sampling keeps only the k most likely tokens (ties with the k-th kept); 0 disables. */
  topK: number;
  /** Sampling keeps the smallest most-likely set holding this much probability; 1 disables. */
  topP: number;
  /** Hugging Face's penalty on every token id already in the sequence (prompt included); 1 disables. */
  repetitionPenalty: number;
  /** EOS is forbidden while prompt + generated tokens are fewer than this (HF and genai count the prompt). */
  minLength: number;
  /** Cap on prompt + generated tokens; undefined when nothing caps the total. */
  maxLength: number | undefined;
  /** Cap on generated tokens; undefined when only `maxLength` applies. */
  maxNewTokens: number | undefined;
  /** Seed of the sampler, so sampled runs can be repeated; undefined picks a random one. */
  randomSeed: number | undefined;
  /** Text that ends a row when it appears in the output; it is not emitted itself. */
  stopStrings: string[];
  /** Token ids that end a row. */
  eosTokenIds: number[];
  /** Keep generating through EOS until a length limit, for conformance runs against fixed token counts. */
  ignoreEos: boolean;
}

/**
 * What a caller passes: any subset of the options, plus `greedy` as a plain-language switch
 * (`greedy: true` is `doSample: false`) that overrides generation_config's `do_sample`.
 */
export type SearchOptionsInput = Partial<SearchOptions> & { greedy?: boolean };

const INPUT_KEYS: ReadonlySet<string> = new Set<keyof SearchOptionsInput>([
  'doSample',
  'greedy',
  'temperature',
  'topK',
  'topP',
  'repetitionPenalty',
  'minLength',
  'maxLength',
  'maxNewTokens',
  'randomSeed',
  'stopStrings',
  'eosTokenIds',
  'ignoreEos',
]);

/**
 * How a caller's interface spells the search options, so that an error speaks its language:
 * a command line names its flags (`--top-p`, "use --greedy"), not this API's fields.
 */
export interface SearchOptionNames {
  /** The `source` of an error about the caller's value of option `name`. */
  option(name: string): string;
  /** What the caller writes to ask for greedy decoding, suggested when sampling cannot run. */
  readonly greedy: string;
}

/** This API's own spelling: `search option "topP"`, `greedy: true`. */
const API_NAMES: SearchOptionNames = {
  option: (name) => `search option "${name}"`,
  greedy: 'greedy: true',
};

const GENERATION_CONFIG_FILE = 'generation_config.json';

function userError(names: SearchOptionNames, name: string, message: string): QwenVLError {
  return new QwenVLError('INVALID_ARGUMENT', message, { source: names.option(name) });
}

/**
 * A value chosen from the caller's options or from generation_config.json, remembering
 * which, so a bad value is reported against the place it came from.
 */
class Chosen<T> {
  private constructor(
    readonly value: T,
    /** How the caller spells the options; undefined when the value came from the config. */
    private readonly userNames: SearchOptionNames | undefined,
    private readonly name: string,
  ) {}

  static of<T>(names: SearchOptionNames, userValue: T | undefined, userName: string, configValue: T, configName: string): Chosen<T> {
    return userValue !== undefined ? new Chosen(userValue, names, userName) : new Chosen(configValue, undefined, configName);
  }

  fail(message: string): never {
    if (this.userNames !== undefined) throw userError(this.userNames, this.name, message);
    throw new QwenVLError('INVALID_CONFIG', message, { source: `${GENERATION_CONFIG_FILE} field "${this.name}"` });
  }

  check(isValid: (value: T) => boolean, requirement: string): this {
    if (!isValid(this.value)) this.fail(`must be ${requirement}, got ${JSON.stringify(this.value)}`);
    return this;
  }
}

function isNonNegativeInteger(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}

function isPositiveInteger(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 1;
}

function resolveDoSample(user: SearchOptionsInput, config: GenerationConfig, names: SearchOptionNames): boolean {
  if (user.greedy !== undefined && typeof user.greedy !== 'boolean') {
    throw userError(names, 'greedy', `must be true or false, got ${JSON.stringify(user.greedy)}`);
  }
  if (user.greedy !== undefined && user.doSample !== undefined && user.greedy === user.doSample) {
    throw userError(names, 'greedy', `greedy: ${user.greedy} contradicts doSample: ${user.doSample}; pass only one of them`);
  }
  const userChoice = user.greedy !== undefined ? !user.greedy : user.doSample;
  return Chosen.of(names, userChoice, 'doSample', config.doSample, 'do_sample').check((value) => typeof value === 'boolean', 'true or false').value;
}

/**
 * Length limits follow Hugging Face: a caller who sets either limit replaces both of
 * generation_config's, so a config `max_length` cannot silently cut a requested
 * `maxNewTokens` short. `contextLength` (the model's maximum positions) caps the total and
 * is the cap when nothing else sets one, as genai's max_length defaults to context_length.
 */
function resolveLengths(user: SearchOptionsInput, config: GenerationConfig, contextLength: number | undefined, names: SearchOptionNames) {
  if (contextLength !== undefined && !isPositiveInteger(contextLength)) {
    throw new QwenVLError('INVALID_ARGUMENT', `must be a positive integer, got ${String(contextLength)}`, { source: 'resolveSearchOptions contextLength' });
  }
  const userSetsLength = user.maxLength !== undefined || user.maxNewTokens !== undefined;
  const unsetOrPositive = (value: number | undefined) => value === undefined || isPositiveInteger(value);
  const maxNewTokens = Chosen.of(names, user.maxNewTokens, 'maxNewTokens', userSetsLength ? undefined : config.maxNewTokens, 'max_new_tokens').check(unsetOrPositive, 'an integer ≥ 1');
  const maxLength = Chosen.of(names, user.maxLength, 'maxLength', userSetsLength ? undefined : config.maxLength, 'max_length').check(unsetOrPositive, 'an integer ≥ 1');
  if (contextLength !== undefined && maxLength.value !== undefined && maxLength.value > contextLength) {
    maxLength.fail(`${maxLength.value} exceeds the model's context length ${contextLength}`);
  }
  const minLength = Chosen.of(names, user.minLength, 'minLength', config.minLength, 'min_length').check(isNonNegativeInteger, 'a non-negative integer');
  return {
    maxNewTokens: maxNewTokens.value,
    maxLength: maxLength.value ?? contextLength,
    minLength: minLength.value,
  };
}

function resolveStopStrings(value: unknown, names: SearchOptionNames): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || !value.every((s) => typeof s === 'string' && s.length > 0)) {
    throw userError(names, 'stopStrings', `must be a list of non-empty strings, got ${JSON.stringify(value)}`);
  }
  return [...value];
}

function resolveEosTokenIds(user: SearchOptionsInput, config: GenerationConfig, names: SearchOptionNames): number[] {
  const ids = Chosen.of(names, user.eosTokenIds, 'eosTokenIds', config.eosTokenId, 'eos_token_id');
  ids.check((value) => Array.isArray(value) && value.every(isNonNegativeInteger), 'a list of non-negative integer token ids');
  return [...ids.value];
}

/**
 * Fills every option from the caller's choice, else generation_config.json's value (parsed
 * by `parseGenerationConfig`, which supplies Hugging Face's defaults for absent fields), and
 * validates the result. A bad caller value throws INVALID_ARGUMENT naming the option as
 * `names` spells it (by default this API's field names); a bad config value throws
 * INVALID_CONFIG naming the config field.
 *
 * Sampling stays on whenever the config asks for it, even at Qwen's `temperature: 1e-6`:
 * that is greedy in effect but still a sampling run in Hugging Face, and overriding it is
 * the caller's decision (`greedy: true`).
 */
export function resolveSearchOptions(user: SearchOptionsInput, defaults: GenerationConfig, contextLength?: number, names: SearchOptionNames = API_NAMES): SearchOptions {
  for (const key of Object.keys(user)) {
    if (!INPUT_KEYS.has(key)) {
      throw userError(names, key, `is not a search option; known options are ${[...INPUT_KEYS].join(', ')}`);
    }
  }
  const doSample = resolveDoSample(user, defaults, names);

  const temperature = Chosen.of(names, user.temperature, 'temperature', defaults.temperature, 'temperature').check(Number.isFinite, 'a finite number');
  if (doSample && temperature.value <= 0) {
    temperature.fail(`must be > 0 when sampling, got ${temperature.value}; use ${names.greedy} for deterministic decoding`);
  }
  // Greedy decoding ignores the temperature, but a negative one means nothing in either mode.
  if (temperature.value < 0) temperature.fail(`must be ≥ 0, got ${temperature.value}`);
  const topK = Chosen.of(names, user.topK, 'topK', defaults.topK, 'top_k').check(isNonNegativeInteger, 'a non-negative integer (0 disables top-k)');
  const topP = Chosen.of(names, user.topP, 'topP', defaults.topP, 'top_p').check((value) => Number.isFinite(value) && value > 0 && value <= 1, 'in (0, 1] (1 disables top-p)');
  const repetitionPenalty = Chosen.of(names, user.repetitionPenalty, 'repetitionPenalty', defaults.repetitionPenalty, 'repetition_penalty').check(
    (value) => Number.isFinite(value) && value > 0,
    'a number > 0 (1 disables the penalty)',
  );

  if (user.randomSeed !== undefined && !isNonNegativeInteger(user.randomSeed)) {
    throw userError(names, 'randomSeed', `must be a non-negative integer (omit it for a random seed), got ${JSON.stringify(user.randomSeed)}`);
  }
  if (user.ignoreEos !== undefined && typeof user.ignoreEos !== 'boolean') {
    throw userError(names, 'ignoreEos', `must be true or false, got ${JSON.stringify(user.ignoreEos)}`);
  }

  return {
    doSample,
    temperature: temperature.value,
    topK: topK.value,
    topP: topP.value,
    repetitionPenalty: repetitionPenalty.value,
    ...resolveLengths(user, defaults, contextLength, names),
    randomSeed: user.randomSeed,
    stopStrings: resolveStopStrings(user.stopStrings, names),
    eosTokenIds: resolveEosTokenIds(user, defaults, names),
    ignoreEos: user.ignoreEos ?? false,
  };
}
