import { describe, expect, it } from 'vitest';
import { parseGenerationConfig, parseModelConfig, parsePreprocessorConfig } from '@qwen-vl/core';
import { GENAI_MODEL_FILES, genaiConfigJson, genaiPreprocessorConfig, genaiProcessorConfigJson, parseGenaiConfig } from '../src/index.js';
import { schemaViolations } from '@qwen-vl/test-support';

/** A small Qwen2.5-VL config.json (the golden tiny model's sizes) and generation_config.json. */
const model = parseModelConfig({
  hidden_size: 32,
  intermediate_size: 64,
  num_hidden_layers: 2,
  num_attention_heads: 2,
  num_key_value_heads: 1,
  vocab_size: 151936,
  max_position_embeddings: 4096,
  rope_scaling: { mrope_section: [2, 3, 3] },
  eos_token_id: 151645,
  vision_config: { depth: 4, hidden_size: 32, num_heads: 2, intermediate_size: 64, out_hidden_size: 32, fullatt_block_indexes: [1, 3] },
});
const generation = parseGenerationConfig({
  do_sample: true,
  temperature: 1e-6,
  repetition_penalty: 1.05,
  top_k: 1,
  top_p: 0.001,
  eos_token_id: [151645, 151643],
  bos_token_id: 151643,
  pad_token_id: 151643,
});
const FILE = '/m/genai_config.json';

function written(): Record<string, Record<string, unknown>> {
  return JSON.parse(JSON.stringify(genaiConfigJson(model, generation, 151643))) as Record<string, Record<string, unknown>>;
}

describe('genaiConfigJson', () => {
  it("uses only keys onnxruntime-genai's parser accepts, with the types it reads them as", () => {
    expect(schemaViolations(written())).toEqual([]);
    // The check itself: an unknown key or a fractional int is caught.
    const broken = written();
    broken.model.vision_end_token_id = 151653;
    broken.search.top_k = 1.5;
    expect(schemaViolations(broken)).toEqual(['model.vision_end_token_id: Model_Element has no such key', 'search.top_k: 1.5 is not int']);
  });

  it("names the build's files and graph names, and a cache that is not a shared buffer", () => {
    const json = written();
    const { decoder, embedding, vision } = json.model as Record<string, Record<string, unknown>>;
    expect([decoder.filename, embedding.filename, vision.filename]).toEqual([GENAI_MODEL_FILES.decoder, GENAI_MODEL_FILES.embedding, GENAI_MODEL_FILES.vision]);
    expect(decoder.inputs).toEqual({
      inputs_embeds: 'inputs_embeds',
      attention_mask: 'attention_mask',
      position_ids: 'position_ids',
      past_key_names: 'past_key_values.%d.key',
      past_value_names: 'past_key_values.%d.value',
    });
    expect(decoder.outputs).toEqual({ logits: 'logits', present_key_names: 'present.%d.key', present_value_names: 'present.%d.value' });
    expect(vision.inputs).toEqual({ pixel_values: 'pixel_values', image_grid_thw: 'image_grid_thw' });
    expect(json.search.past_present_share_buffer).toBe(false);
  });

  it('reads back as the model and generation defaults it was written from', () => {
    const read = parseGenaiConfig(written(), FILE);
    const { text } = read.model;
    expect([text.hiddenSize, text.numHiddenLayers, text.numAttentionHeads, text.numKeyValueHeads, text.headDim, text.vocabSize, text.maxPositionEmbeddings]).toEqual([32, 2, 2, 1, 16, 151936, 4096]);
    expect([read.model.imageTokenId, read.model.videoTokenId, read.model.visionStartTokenId, read.model.eosTokenId]).toEqual([151655, 151656, 151652, [151645, 151643]]);
    expect([read.model.vision.spatialMergeSize, read.model.vision.patchSize, read.model.vision.temporalPatchSize, read.model.vision.tokensPerSecond]).toEqual([2, 14, 2, 2]);
    expect(read.generation).toEqual({ ...generation, maxLength: 4096 });
    expect(read.padTokenId).toBe(151643);
    expect(read.decoder.inputs['past_key_values.1.value']).toEqual({ graph: 'past_key_values.1.value', field: 'model.decoder.inputs.past_value_names' });
    expect(read.decoder.outputs['present.0.key'].graph).toBe('present.0.key');
    // What genai_config.json does not state: the published proportions of mrope_section, for head_size 16.
    expect(text.mropeSection).toEqual([2, 3, 3]);
  });
});

describe('parseGenaiConfig', () => {
  /** The written config with `edit` applied to its parsed JSON. */
  function edited(edit: (json: Record<string, Record<string, Record<string, unknown>>>) => void): unknown {
    const json = written() as Record<string, Record<string, Record<string, unknown>>>;
    edit(json);
    return json;
  }

  it("takes genai's defaults for what a folder leaves out", () => {
    const read = parseGenaiConfig(
      edited((json) => {
        delete json.model.vision.inputs;
        delete json.model.decoder.inputs;
        json.search = { max_length: 0, top_p: 0 } as never;
      }),
      FILE,
    );
    // genai's default name for the vision model's grid input is image_sizes.
    expect(read.vision?.inputs.image_grid_thw.graph).toBe('image_sizes');
    expect(read.decoder.inputs['past_key_values.0.key'].graph).toBe('past_key_values.0.key');
    expect([read.generation.maxLength, read.generation.topP, read.generation.doSample]).toEqual([4096, 1, false]);
  });

  it('reads a folder without a vision section as text only', () => {
    expect(
      parseGenaiConfig(
        edited((json) => delete json.model.vision),
        FILE,
      ).vision,
    ).toBeUndefined();
  });

  it('refuses, naming the field, another model type, a missing file name and what qwen-vl does not run', () => {
    const cases: Array<[(json: Record<string, Record<string, Record<string, unknown>>>) => void, RegExp]> = [
      [(json) => (json.model.type = 'phi3v' as never), /genai_config\.json field "model\.type": is "phi3v"; qwen-vl runs Qwen2\.5-VL folders/],
      [(json) => delete json.model.embedding.filename, /field "model\.embedding\.filename": is missing/],
      [(json) => ((json.model.decoder.inputs as Record<string, unknown>).past_key_names = 'past.key'), /field "model\.decoder\.inputs\.past_key_names": must hold %d/],
      [(json) => ((json.model.decoder.inputs as Record<string, unknown>).past_names = 'past_%d'), /field "model\.decoder\.inputs\.past_names": is set, but qwen-vl keeps keys and values in separate/],
      [(json) => (json.model.decoder.pipeline = [] as never), /field "model\.decoder\.pipeline": is set, but qwen-vl runs one decoder model/],
      [(json) => (json.search.num_beams = 4 as never), /field "search\.num_beams": asks for beam search/],
      [(json) => (json.model.decoder.head_size = 0 as never), /field "model\.decoder\.head_size": must be a positive integer/],
    ];
    for (const [edit, message] of cases) {
      expect(() => parseGenaiConfig(edited(edit), FILE)).toThrow(expect.objectContaining({ code: 'INVALID_CONFIG', message: expect.stringMatching(message) }));
    }
  });
});

describe('processor_config.json', () => {
  const preprocessor = parsePreprocessorConfig({ min_pixels: 3136, max_pixels: 1003520, image_mean: [0.5, 0.4, 0.3], image_std: [0.2, 0.25, 0.3] });

  it("is written as onnxruntime-extensions' Qwen2.5-VL pipeline and reads back as the same settings", () => {
    const json = genaiProcessorConfigJson(preprocessor) as { processor: { name: string; transforms: Array<{ operation: { type: string; attrs?: Record<string, unknown> } }> } };
    expect(json.processor.name).toBe('qwen2_5_image_processor');
    expect(json.processor.transforms.map((t) => t.operation.type)).toEqual(['DecodeImage', 'ConvertRGB', 'Resize', 'Rescale', 'Normalize', 'PatchImage']);
    expect(json.processor.transforms[2].operation.attrs).toMatchObject({ smart_resize: 1, min_pixels: 3136, max_pixels: 1003520, patch_size: 14, merge_size: 2 });
    expect(genaiPreprocessorConfig(json, 'p.json')).toEqual(preprocessor);
  });

  it('refuses a transform qwen-vl does not run, a fixed-size resize and a missing step, naming the field', () => {
    const json = () => JSON.parse(JSON.stringify(genaiProcessorConfigJson(preprocessor))) as { processor: { transforms: Array<{ operation: { type: string; attrs?: Record<string, unknown> } }> } };
    const centerCrop = json();
    centerCrop.processor.transforms[1].operation.type = 'CenterCrop';
    expect(() => genaiPreprocessorConfig(centerCrop, 'p.json')).toThrow(/p\.json field "processor\.transforms\[1\]\.operation\.type": is "CenterCrop"/);
    const fixed = json();
    fixed.processor.transforms[2].operation.attrs!.smart_resize = 0;
    expect(() => genaiPreprocessorConfig(fixed, 'p.json')).toThrow(/field "processor\.transforms\[2\]\.operation\.attrs\.smart_resize": must be 1/);
    const noNormalize = json();
    noNormalize.processor.transforms.splice(4, 1);
    expect(() => genaiPreprocessorConfig(noNormalize, 'p.json')).toThrow(/has no Normalize transform/);
  });
});
