import { copyFile, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InferenceSession } from 'onnxruntime-node';
import { buildModelFolder } from '@qwen-vl/builder';
import type { BuiltModelFolder } from '@qwen-vl/builder';
import { TRANSFORMERS_JS_LAYOUT, detectFolderLayout } from '@qwen-vl/pipeline';
import type { BuiltModelHost } from '@qwen-vl/pipeline';
import { GOLDEN_CASES, GOLDEN_SEARCH, GOLDEN_STEPS, LOGITS_TOLERANCE, MODEL_DIR, goldenImage, goldenSteps, maxAbsDiff } from '@qwen-vl/test-support';
import { Config, Generator, GeneratorParams, Images, Model, NodeModelFolder, QwenVL, Tokenizer } from '../src/index.js';
import { onnxruntimeNodeBackend } from '../src/backend/ort-backend.js';
import { runCli } from './helpers/cli.js';
import { startServer } from './helpers/server.js';
import { newFolder, useTempDir } from './helpers/temp-dir.js';

/**
 * `qwen-vl build --layout transformers.js` of the golden tiny checkpoint, and qwen-vl opening
 * transformers.js folders: the files and configs written, the golden run through them, the
 * dtype choice, and what a folder that cannot run is told. (transformers.js itself loading
 * the folder: transformers-js-peer.test.ts.)
 */
const dir = useTempDir('qwen-vl-tjs-');
let fp32: string;
let int4: BuiltModelFolder;
beforeAll(async () => {
  fp32 = (await buildModelFolder(MODEL_DIR, join(dir(), 'fp32'), { layout: 'transformers.js' })).output;
  // Accuracy level 0 (float32 arithmetic on the dequantized weights): comparable to another build's logits.
  int4 = await buildModelFolder(MODEL_DIR, join(dir(), 'int4'), { layout: 'transformers.js', precision: 'int4', visionPrecision: 'int8', accuracyLevel: 0 });
});

const readJson = async (folder: string, name: string) => JSON.parse(await readFile(join(folder, name), 'utf8')) as Record<string, unknown>;

/** A copy of `folder` (its files and onnx/), to change without touching the others. */
async function copyFolder(folder: string, name: string): Promise<string> {
  const copy = await newFolder(dir(), name);
  await newFolder(copy, 'onnx');
  for (const sub of ['', 'onnx']) {
    for (const entry of await readdir(join(folder, sub), { withFileTypes: true })) {
      if (entry.isFile()) await copyFile(join(folder, sub, entry.name), join(copy, sub, entry.name));
    }
  }
  return copy;
}

describe('qwen-vl build --layout transformers.js', { timeout: 60_000 }, () => {
  it("writes onnx/ models with transformers.js's names, each with its own _data, and no qwen-vl.json", async () => {
    expect((await readdir(fp32)).sort()).toEqual(['chat_template.json', 'config.json', 'generation_config.json', 'onnx', 'preprocessor_config.json', 'tokenizer.json', 'tokenizer_config.json']);
    expect((await readdir(join(fp32, 'onnx'))).sort()).toEqual([
      'decoder_model_merged.onnx',
      'decoder_model_merged.onnx_data',
      'embed_tokens.onnx',
      'embed_tokens.onnx_data',
      'vision_encoder.onnx',
      'vision_encoder.onnx_data',
    ]);
  });

  it('gives the graphs the inputs and outputs transformers.js feeds and reads, the cache shaped by its symbols', async () => {
    const open = (name: string) => InferenceSession.create(join(fp32, 'onnx', name));
    const [vision, embed, decoder] = await Promise.all([open('vision_encoder.onnx'), open('embed_tokens.onnx'), open('decoder_model_merged.onnx')]);
    try {
      expect([vision.inputNames, vision.outputNames]).toEqual([['pixel_values', 'image_grid_thw'], ['image_features']]);
      expect([embed.inputNames, embed.outputNames]).toEqual([['input_ids'], ['inputs_embeds']]);
      expect(decoder.inputNames).toEqual([
        'inputs_embeds',
        'attention_mask',
        'position_ids',
        'past_key_values.0.key',
        'past_key_values.0.value',
        'past_key_values.1.key',
        'past_key_values.1.value',
        'num_logits_to_keep',
      ]);
      expect(decoder.outputNames).toEqual(['logits', 'present.0.key', 'present.0.value', 'present.1.key', 'present.1.value']);
      // transformers.js makes the empty first cache from this shape: "batch_size" is the batch, other names 0.
      const past = decoder.inputMetadata.find((meta) => meta.name === 'past_key_values.0.key');
      expect(past?.isTensor === true && past.shape).toEqual(['batch_size', 1, 'past_sequence_length', 16]);
      const positions = decoder.inputMetadata.find((meta) => meta.name === 'position_ids');
      expect(positions?.isTensor === true && [positions.type, positions.shape]).toEqual(['int64', [3, 'batch_size', 'sequence_length']]);
    } finally {
      await Promise.all([vision.release(), embed.release(), decoder.release()]);
    }
  });

  it('writes the configs in the form transformers.js reads them', async () => {
    const config = await readJson(fp32, 'config.json');
    const original = await readJson(MODEL_DIR, 'config.json');
    expect(config['transformers.js_config']).toEqual({
      dtype: { vision_encoder: 'fp32', embed_tokens: 'fp32', decoder_model_merged: 'fp32' },
      use_external_data_format: { 'vision_encoder.onnx': 1, 'embed_tokens.onnx': 1, 'decoder_model_merged.onnx': 1 },
    });
    // transformers.js reads Qwen2.5-VL's text sizes (the cache's heads and layers) under text_config.
    expect(config.text_config).toMatchObject({ model_type: 'qwen2_5_vl_text', num_hidden_layers: 2, num_key_value_heads: 1, hidden_size: 32, rope_scaling: original.rope_scaling });
    expect(config).toMatchObject({ model_type: 'qwen2_5_vl', vision_config: original.vision_config, image_token_id: 151655 });

    // Without do_resize and do_normalize transformers.js would neither resize nor normalize.
    expect(await readJson(fp32, 'preprocessor_config.json')).toEqual({
      ...(await readJson(MODEL_DIR, 'preprocessor_config.json')),
      do_convert_rgb: true,
      do_resize: true,
      size: { shortest_edge: 3136, longest_edge: 12845056 },
      resample: 3,
      do_rescale: true,
      rescale_factor: 1 / 255,
      do_normalize: true,
    });
    // Its tokenizer reads the chat template from tokenizer_config.json.
    const template = (await readJson(MODEL_DIR, 'chat_template.json')).chat_template;
    expect(await readJson(fp32, 'tokenizer_config.json')).toEqual({ ...(await readJson(MODEL_DIR, 'tokenizer_config.json')), chat_template: template });
  });

  it('names the files after the dtype of each precision: int4 text is q4, int8 vision int8', async () => {
    expect(int4.manifest.layout).toBe('transformers.js');
    expect(int4.manifest.parts.map((part) => part.model)).toEqual(['onnx/vision_encoder_int8.onnx', 'onnx/embed_tokens_q4.onnx', 'onnx/decoder_model_merged_q4.onnx']);
    expect((await readJson(int4.output, 'config.json'))['transformers.js_config']).toMatchObject({ dtype: { vision_encoder: 'int8', embed_tokens: 'q4', decoder_model_merged: 'q4' } });
  });

  it('refuses a layout it does not know, naming the option', async () => {
    await expect(buildModelFolder(MODEL_DIR, join(dir(), 'nope'), { layout: 'onnx-community' as never })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', source: 'layout' });
  });
});

describe('a transformers.js folder opened by qwen-vl', { timeout: 60_000 }, () => {
  let model: QwenVL;
  beforeAll(async () => {
    model = await QwenVL.load(fp32);
  });
  afterAll(() => model?.dispose());

  it('is detected as the transformers.js layout from its onnx/ files', async () => {
    expect((await detectFolderLayout(new NodeModelFolder(fp32))).name).toBe('transformers.js');
    expect((await detectFolderLayout(new NodeModelFolder(MODEL_DIR))).name).toBe('qwen-vl');
  });

  it.each(GOLDEN_CASES)('$name: the golden tokens, and logits within 1e-3 at every step (grid vision graph, position_ids decoder)', async ({ name, images, prompt }) => {
    const steps: Float32Array[] = [];
    const result = await model.chat([{ role: 'user', content: [...images.map((image) => ({ type: 'image' as const, image: goldenImage(image) })), { type: 'text' as const, text: prompt }] }], {
      ...GOLDEN_SEARCH,
      maxNewTokens: GOLDEN_STEPS,
      onStepLogits: (_step, logits) => steps.push(logits),
    });
    const golden = goldenSteps(name);
    expect(result.tokens).toEqual(golden.tokens);
    steps.forEach((logits, step) => expect(maxAbsDiff(logits, golden.logits(step)), `step ${step}`).toBeLessThanOrEqual(LOGITS_TOLERANCE));
  });

  it("runs under onnxruntime-genai's API too (Config with a dtype, Model.create, Generator), to the golden tokens", async () => {
    const genai = await Model.create(new Config(fp32, { dtype: 'fp32' }));
    try {
      const tokenizer = await Tokenizer.create(genai);
      const prompt = tokenizer.applyChatTemplate(JSON.stringify([{ role: 'user', content: [{ type: 'image' }, { type: 'text', text: 'Describe this image.' }] }]), { addGenerationPrompt: true });
      const inputs = await genai.createMultimodalProcessor().process(prompt, { images: await Images.open(goldenImage('gradient_300x200.png')) });
      const params = new GeneratorParams(genai);
      params.setSearchOptions({ doSample: false, repetitionPenalty: 1, ignoreEos: true, maxNewTokens: GOLDEN_STEPS });
      const generator = await Generator.create(genai, params);
      generator.setInputs(inputs);
      const tokens: number[] = [];
      while (!generator.isDone()) {
        await generator.generateNextToken();
        tokens.push(generator.getNextTokens()[0]);
      }
      expect(tokens).toEqual(goldenSteps('one_image').tokens);
    } finally {
      await genai.dispose();
    }
  });
});

/** The files the transformers.js layout opens for `dtype`, in the order it opens them (embed, decoder, vision), without making sessions. */
async function filesOpened(folder: string, dtype?: BuiltModelHost['dtype']): Promise<string[]> {
  const opened: string[] = [];
  const stop = new Error('stop before the sessions');
  const host: BuiltModelHost = {
    folder: new NodeModelFolder(folder),
    device: 'cpu',
    backend: onnxruntimeNodeBackend,
    dtype,
    openModel: async (file) => {
      opened.push(file);
      if (opened.length === 3) throw stop;
      return { model: join(folder, file) };
    },
  };
  await expect(TRANSFORMERS_JS_LAYOUT.open(host)).rejects.toBe(stop);
  return opened;
}

describe('the dtype of the models to open', { timeout: 60_000 }, () => {
  let mixed: string;
  beforeAll(async () => {
    // fp32 and q4 (int8 vision) files side by side, config.json naming fp32 (the fp32 build's).
    mixed = await copyFolder(fp32, 'mixed');
    for (const name of await readdir(join(int4.output, 'onnx'))) await copyFile(join(int4.output, 'onnx', name), join(mixed, 'onnx', name));
  });

  const fp32Files = ['onnx/embed_tokens.onnx', 'onnx/decoder_model_merged.onnx', 'onnx/vision_encoder.onnx'];

  it("takes the one asked for, for every model or per model name, else config.json's", async () => {
    expect(await filesOpened(mixed)).toEqual(fp32Files);
    expect(await filesOpened(mixed, { embed_tokens: 'q4', decoder_model_merged: 'q4', vision_encoder: 'int8' })).toEqual([
      'onnx/embed_tokens_q4.onnx',
      'onnx/decoder_model_merged_q4.onnx',
      'onnx/vision_encoder_int8.onnx',
    ]);
    expect(await filesOpened(mixed, { decoder_model_merged: 'q4' })).toEqual(['onnx/embed_tokens.onnx', 'onnx/decoder_model_merged_q4.onnx', 'onnx/vision_encoder.onnx']);
  });

  it('without a dtype in config.json: fp32 when there, else the only one there; several others are a choice to make', async () => {
    const unnamed = await copyFolder(int4.output, 'unnamed');
    const config = await readJson(unnamed, 'config.json');
    delete config['transformers.js_config'];
    await writeFile(join(unnamed, 'config.json'), JSON.stringify(config));
    expect(await filesOpened(unnamed)).toEqual(['onnx/embed_tokens_q4.onnx', 'onnx/decoder_model_merged_q4.onnx', 'onnx/vision_encoder_int8.onnx']);
    await copyFile(join(unnamed, 'onnx', 'embed_tokens_q4.onnx'), join(unnamed, 'onnx', 'embed_tokens_q4f16.onnx'));
    await expect(TRANSFORMERS_JS_LAYOUT.open({ folder: new NodeModelFolder(unnamed), device: 'cpu', openModel: () => Promise.reject(new Error('not reached')) })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      source: unnamed,
      message: expect.stringContaining('holds embed_tokens models of several dtypes (q4, q4f16) and nothing picks one; choose it with the dtype option (--dtype)'),
    });
  });

  it('names the file that is not there and the dtypes that are; refuses a dtype that is none', async () => {
    const open = (dtype: BuiltModelHost['dtype']) => QwenVL.load(mixed, { dtype });
    await expect(open('q4')).rejects.toMatchObject({
      code: 'MISSING_FILE',
      source: join(mixed, 'onnx/vision_encoder_q4.onnx'),
      message: expect.stringContaining('the q4 vision_encoder model is not in the folder (its vision_encoder dtypes: fp32, int8)'),
    });
    await expect(open('bf16' as never)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', source: 'dtype', message: expect.stringContaining('is "bf16"; a dtype is one of fp32, fp16, int8') });
    await expect(open({ decoder_model_merged: 'q3' } as never)).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      source: 'dtype',
      message: expect.stringContaining('names "q3" for decoder_model_merged'),
    });

    const badConfig = await copyFolder(fp32, 'bad-config');
    const config = await readJson(badConfig, 'config.json');
    await writeFile(join(badConfig, 'config.json'), JSON.stringify({ ...config, 'transformers.js_config': { dtype: 'float32' } }));
    await expect(QwenVL.load(badConfig)).rejects.toMatchObject({ code: 'INVALID_CONFIG', source: `${badConfig}/config.json field "transformers.js_config.dtype"` });

    const noEmbed = await copyFolder(fp32, 'no-embed');
    await rm(join(noEmbed, 'onnx', 'embed_tokens.onnx'));
    await expect(QwenVL.load(noEmbed)).rejects.toMatchObject({
      code: 'MISSING_FILE',
      source: join(noEmbed, 'onnx/embed_tokens.onnx'),
      message: expect.stringContaining('(its embed_tokens dtypes: none)'),
    });
  });

  it("runs the q4 models it is asked for: the logits of qwen-vl's own int4 build of the same weights, not the fp32 ones", async () => {
    const prefill = async (folder: string, dtype?: BuiltModelHost['dtype']) => {
      const model = await QwenVL.load(folder, { dtype });
      try {
        let first: Float32Array | undefined;
        await model.chat(
          [
            {
              role: 'user',
              content: [
                { type: 'image', image: goldenImage('gradient_300x200.png') },
                { type: 'text', text: 'Describe this image.' },
              ],
            },
          ],
          {
            ...GOLDEN_SEARCH,
            maxNewTokens: 1,
            onStepLogits: (_step, logits) => (first = logits),
          },
        );
        return first!;
      } finally {
        await model.dispose();
      }
    };
    const own = await buildModelFolder(MODEL_DIR, join(dir(), 'qwen-vl-int4'), { precision: 'int4', visionPrecision: 'int8', accuracyLevel: 0 });
    const quantized = await prefill(mixed, { embed_tokens: 'q4', decoder_model_merged: 'q4', vision_encoder: 'int8' });
    const diff = maxAbsDiff(quantized, await prefill(own.output));
    console.info(`q4 text, int8 vision (transformers.js layout) vs qwen-vl's int4 build: prefill max |Δlogit| ${diff.toExponential(2)}`);
    expect(diff).toBeLessThanOrEqual(LOGITS_TOLERANCE);
    expect(maxAbsDiff(quantized, await prefill(mixed))).toBeGreaterThan(0.1);
  });

  it('serve --dtype serves the models it names: greedy answers with the logprobs of QwenVL.load at that dtype', async () => {
    const dtype = { embed_tokens: 'q4', decoder_model_merged: 'q4', vision_encoder: 'int8' } as const;
    const messages = [{ role: 'user' as const, content: 'Hello, who are you?' }];
    const model = await QwenVL.load(mixed, { dtype });
    const served = await startServer({ model: mixed, dtype });
    try {
      const alone = await model.chat(messages, { doSample: false, maxNewTokens: 4, logprobs: true });
      const response = await served.client.chat.completions.create({ model: 'mixed', messages, temperature: 0, max_tokens: 4, logprobs: true });
      const served4 = response.choices[0].logprobs!.content!.map((entry) => entry.logprob);
      expect(response.choices[0].message.content).toBe(alone.text);
      served4.forEach((logprob, k) => expect(Math.abs(logprob - alone.logprobs[k])).toBeLessThanOrEqual(1e-4));
    } finally {
      await Promise.all([served.server.close({ graceMs: 0 }), model.dispose()]);
    }
    const usage = await runCli(['serve', '--model', mixed, '--dtype', 'q3']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/--dtype must be one of/);
  });
});

describe('the CLI on transformers.js folders', { timeout: 120_000 }, () => {
  it('build --layout transformers.js writes one; run --dtype runs it to the golden tokens; a bad --layout or --dtype is a usage error', async () => {
    const out = join(dir(), 'cli');
    const built = await runCli(['build', '--input', MODEL_DIR, '--output', out, '--layout', 'transformers.js']);
    expect(built.code).toBe(0);
    expect(JSON.parse(built.stdout)).toMatchObject({ output: out, layout: 'transformers.js', parts: ['vision', 'embed', 'decoder'] });
    const { name, images, prompt } = GOLDEN_CASES[0];
    const flags = ['--greedy', '--ignore-eos', '--repetition-penalty', '1', '--max-new-tokens', String(GOLDEN_STEPS), '--json'];
    const run = await runCli(['run', '--model', out, '--dtype', 'fp32', ...images.flatMap((image) => ['--image', goldenImage(image)]), '--prompt', prompt, ...flags]);
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout).tokens).toEqual(goldenSteps(name).tokens);

    const badLayout = await runCli(['build', '--input', MODEL_DIR, '--output', join(dir(), 'x'), '--layout', 'onnx']);
    expect([badLayout.code, badLayout.stderr]).toEqual([2, expect.stringContaining('--layout must be one of qwen-vl, genai, transformers.js, got "onnx"')]);
    const badDtype = await runCli(['run', '--model', out, '--dtype', 'decoder=q4', '--prompt', 'x']);
    expect([badDtype.code, badDtype.stderr]).toEqual([
      2,
      expect.stringContaining('--dtype must be a dtype or MODEL=DTYPE pairs with MODEL one of vision_encoder, embed_tokens, decoder_model_merged, got "decoder=q4"'),
    ]);
  });
});
