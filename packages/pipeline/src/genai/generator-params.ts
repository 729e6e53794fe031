import { QwenVLError } from '@qwen-vl/core';
import { resolveSearchOptions } from '@qwen-vl/decoder';
import type { SearchOptions, SearchOptionsInput } from '@qwen-vl/decoder';
import type { Model } from './model.js';
import { modelParts } from './model-parts.js';

/**
 * The search options of `GeneratorParams.setSearchOptions`: genai's (`maxLength`,
 * `minLength`, `doSample`, `temperature`, `topK`, `topP`, `repetitionPenalty`, `randomSeed`,
 * `numBeams`, `numReturnSequences`, `batchSize`) in camelCase, plus qwen-vl's `maxNewTokens`,
 * `greedy`, `eosTokenIds` and `ignoreEos` (see `@qwen-vl/decoder`'s `SearchOptions`).
 * `maxLength` counts the prompt and the generated tokens, as genai's does.
 */
export interface GenaiSearchOptions extends Omit<SearchOptionsInput, 'stopStrings'> {
  /** Only 1: qwen-vl has no beam search. */
  numBeams?: number;
  /** Only 1. */
  numReturnSequences?: number;
  /** Rows of the batch; when set, the generator's inputs must have this many. */
  batchSize?: number;
}

const OPTION_NAMES: readonly string[] = [
  'maxLength',
  'minLength',
  'doSample',
  'temperature',
  'topK',
  'topP',
  'repetitionPenalty',
  'randomSeed',
  'numBeams',
  'numReturnSequences',
  'batchSize',
  'maxNewTokens',
  'greedy',
  'eosTokenIds',
  'ignoreEos',
] satisfies (keyof GenaiSearchOptions)[];

/**
 * onnxruntime-genai's `og.GeneratorParams`: the search options of the generators made from
 * it, over the defaults of the model folder's generation_config.json.
 */
export class GeneratorParams {
  private options: GenaiSearchOptions = {};
  private resolved: SearchOptions;

  constructor(readonly model: Model) {
    this.resolved = this.resolve({});
  }

  /**
   * Sets options (merged with those set before; `undefined` unsets one). Each is checked now:
   * a bad or unknown one is INVALID_ARGUMENT naming it (`search option "topP"`).
   */
  setSearchOptions(options: GenaiSearchOptions): void {
    if (typeof options !== 'object' || options === null) throw new QwenVLError('INVALID_ARGUMENT', 'must be an object of search options', { source: 'GeneratorParams.setSearchOptions options' });
    const merged: Record<string, unknown> = { ...this.options };
    for (const [key, value] of Object.entries(options)) {
      if (value === undefined) delete merged[key];
      else merged[key] = value;
    }
    this.resolved = this.resolve(merged);
    this.options = merged;
  }

  /** The options as set, not resolved. */
  get searchOptions(): Readonly<GenaiSearchOptions> {
    return { ...this.options };
  }

  /** Every option resolved (generation_config.json's value where none was set). */
  get resolvedSearchOptions(): SearchOptions {
    return { ...this.resolved, stopStrings: [], eosTokenIds: [...this.resolved.eosTokenIds] };
  }

  /** The rows the inputs must have; undefined when `batchSize` is not set. */
  get batchSize(): number | undefined {
    return this.options.batchSize;
  }

  private resolve(options: GenaiSearchOptions): SearchOptions {
    const { generationConfig, config } = modelParts(this.model, 'GeneratorParams model');
    const { numBeams, numReturnSequences, batchSize, ...search } = options;
    for (const [name, value] of [
      ['numBeams', numBeams],
      ['numReturnSequences', numReturnSequences],
    ] as const) {
      if (value !== undefined && value !== 1)
        throw new QwenVLError('INVALID_ARGUMENT', `must be 1 (qwen-vl has no beam search; it searches greedily or samples), got ${JSON.stringify(value)}`, { source: `search option "${name}"` });
    }
    if (batchSize !== undefined && !(Number.isSafeInteger(batchSize) && batchSize >= 1)) {
      throw new QwenVLError('INVALID_ARGUMENT', `must be an integer ≥ 1, got ${JSON.stringify(batchSize)}`, { source: 'search option "batchSize"' });
    }
    for (const name of Object.keys(search)) {
      if (name === 'stopStrings') {
        throw new QwenVLError('INVALID_ARGUMENT', "is not an option of the step-wise Generator (read the text from a TokenizerStream and stop yourself, or use QwenVL's chat)", {
          source: 'search option "stopStrings"',
        });
      }
      if (!OPTION_NAMES.includes(name)) throw new QwenVLError('INVALID_ARGUMENT', `is not a search option; known options are ${OPTION_NAMES.join(', ')}`, { source: `search option "${name}"` });
    }
    return resolveSearchOptions(search, generationConfig, config.text.maxPositionEmbeddings);
  }
}
