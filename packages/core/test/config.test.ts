import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { QwenVLError, parseGenerationConfig, parseModelConfig, parsePreprocessorConfig } from '../src/index.js';

const modelDir = new URL('../../../testdata/golden/tiny/model/', import.meta.url);
const readJson = (name: string): Record<string, unknown> => JSON.parse(readFileSync(new URL(name, modelDir), 'utf8'));

function expectConfigError(fn: () => unknown, fragment: string): void {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(QwenVLError);
    expect((error as QwenVLError).code).toBe('INVALID_CONFIG');
    expect((error as Error).message).toContain(fragment);
    return;
  }
  throw new Error('expected an INVALID_CONFIG error');
}

describe('parseModelConfig', () => {
  it('reads the golden tiny model (text fields at the top level)', () => {
    const config = parseModelConfig(readJson('config.json'));
    expect(config.text).toMatchObject({
      hiddenSize: 32,
      numHiddenLayers: 2,
      numAttentionHeads: 2,
      numKeyValueHeads: 1,
      headDim: 16,
      mropeSection: [2, 3, 3],
      vocabSize: 151936,
      tieWordEmbeddings: false,
      rmsNormEps: 1e-6,
      ropeTheta: 1e6,
    });
    expect(config.vision).toMatchObject({
      depth: 4,
      hiddenSize: 32,
      numHeads: 2,
      intermediateSize: 64,
      windowSize: 112,
      fullAttBlockIndexes: [1, 3],
      tokensPerSecond: 2,
      outHiddenSize: 32,
      patchSize: 14,
      spatialMergeSize: 2,
    });
    expect(config.imageTokenId).toBe(151655);
    expect(config.eosTokenId).toEqual([151645]);
  });

  it('reads text fields nested under text_config (newer transformers)', () => {
    const flat = readJson('config.json');
    const { hidden_size, num_hidden_layers, num_attention_heads, num_key_value_heads, rope_scaling, vocab_size, intermediate_size, ...rest } = flat;
    const nested = { ...rest, text_config: { hidden_size, num_hidden_layers, num_attention_heads, num_key_value_heads, rope_scaling, vocab_size, intermediate_size } };
    expect(parseModelConfig(nested).text).toEqual(parseModelConfig(flat).text);
  });

  it('names the file and field of a bad value', () => {
    expectConfigError(() => parseModelConfig({ ...readJson('config.json'), num_attention_heads: 'two' }, 'm/config.json'), 'm/config.json field "num_attention_heads"');
    expectConfigError(() => parseModelConfig({ ...readJson('config.json'), rope_scaling: { mrope_section: [2, 3, 4] } }), 'mrope_section');
    expectConfigError(() => parseModelConfig({ ...readJson('config.json'), num_key_value_heads: 3, num_attention_heads: 4 }), 'num_key_value_heads');
    expectConfigError(() => parseModelConfig([]), 'JSON object');
  });

  // Each of these used to load and run, printing noise or failing far from the cause.
  it('refuses values that would run but compute nonsense, naming the field', () => {
    const base = readJson('config.json');
    const vision = base.vision_config as Record<string, unknown>;
    for (const theta of [0, -10000]) expectConfigError(() => parseModelConfig({ ...base, rope_theta: theta }, 'c.json'), `c.json field "rope_theta": must be greater than 0, got ${theta}`);
    expectConfigError(() => parseModelConfig({ ...base, rms_norm_eps: -1e-6 }, 'c.json'), 'field "rms_norm_eps": must be greater than 0');
    expectConfigError(
      () => parseModelConfig({ ...base, rope_scaling: { mrope_section: [-2, 5, 5] } }, 'c.json'),
      'c.json field "rope_scaling.mrope_section": must be 3 non-negative integers, got [-2,5,5]',
    );
    expectConfigError(
      () => parseModelConfig({ ...base, vision_config: { ...vision, window_size: 15 } }, 'c.json'),
      'c.json field "vision_config.window_size": must be at least patch_size × spatial_merge_size = 28, got 15',
    );
    expectConfigError(
      () => parseModelConfig({ ...base, vision_config: { ...vision, fullatt_block_indexes: [1, 4] } }, 'c.json'),
      'c.json field "vision_config.fullatt_block_indexes": names block 4, but the vision tower has 4 blocks (depth)',
    );
    expectConfigError(() => parseModelConfig({ ...base, vision_config: { ...vision, tokens_per_second: 0 } }, 'c.json'), 'field "vision_config.tokens_per_second": must be greater than 0');
  });

  it("keeps Hugging Face's default full-attention blocks only where the tower has them", () => {
    const base = readJson('config.json');
    const vision: Record<string, unknown> = { ...(base.vision_config as Record<string, unknown>), depth: 16 };
    delete vision.fullatt_block_indexes;
    expect(parseModelConfig({ ...base, vision_config: vision }).vision.fullAttBlockIndexes).toEqual([7, 15]);
  });
});

describe('parsePreprocessorConfig', () => {
  it('uses the checkpoint pixel budget, not the class defaults', () => {
    const config = parsePreprocessorConfig(readJson('preprocessor_config.json'));
    expect(config.minPixels).toBe(3136);
    expect(config.maxPixels).toBe(12845056);
    expect(config.imageMean).toEqual([0.48145466, 0.4578275, 0.40821073]);
    expect(config.rescaleFactor).toBeCloseTo(1 / 255, 15);
  });

  it('accepts the size block of re-saved folders and rejects min > max', () => {
    expect(parsePreprocessorConfig({ size: { shortest_edge: 100, longest_edge: 1000 } })).toMatchObject({ minPixels: 100, maxPixels: 1000 });
    expectConfigError(() => parsePreprocessorConfig({ min_pixels: 10, max_pixels: 5 }), 'min_pixels 10 is larger than max_pixels 5');
    expectConfigError(() => parsePreprocessorConfig({ image_std: [1, 0, 1] }), 'image_std');
  });

  it('refuses a pixel budget no machine could allocate, naming the field', () => {
    expectConfigError(() => parsePreprocessorConfig({ max_pixels: 1e12 }, 'p.json'), 'p.json field "max_pixels": must be at most 67108864 pixels');
    expectConfigError(() => parsePreprocessorConfig({ min_pixels: 1e12, max_pixels: 2e12 }, 'p.json'), 'p.json field "min_pixels": must be at most 67108864 pixels');
    expectConfigError(() => parsePreprocessorConfig({ size: { shortest_edge: 100, longest_edge: 1e12 } }, 'p.json'), 'p.json field "size.longest_edge"');
  });
});

describe('parseGenerationConfig', () => {
  it('reads the golden defaults', () => {
    expect(parseGenerationConfig(readJson('generation_config.json'))).toMatchObject({
      doSample: true,
      temperature: 1e-6,
      repetitionPenalty: 1.05,
      eosTokenId: [151645, 151643],
      padTokenId: 151643,
      topK: 50,
      topP: 1,
    });
  });

  it('accepts a single eos id', () => {
    expect(parseGenerationConfig({ eos_token_id: 7 }).eosTokenId).toEqual([7]);
  });
});
