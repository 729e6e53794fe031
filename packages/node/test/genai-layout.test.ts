import { cp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import { buildModelFolder } from '@qwen-vl/builder';
import { hostTensor } from '@qwen-vl/core';
import type { QwenVLErrorCode } from '@qwen-vl/core';
import { mergeVisionFeatures } from '@qwen-vl/decoder';
import { GENAI_CONFIG_FILE, parseGenaiConfig } from '@qwen-vl/pipeline';
import { GOLDEN_CASES, GOLDEN_SEARCH, GOLDEN_STEPS, LOGITS_TOLERANCE, MODEL_DIR, goldenImage, goldenSteps, maxAbsDiff, schemaViolations } from '@qwen-vl/test-support';
import type { GoldenCase } from '@qwen-vl/test-support';
import { Config, Generator, GeneratorParams, Images, Model, QwenVL } from '../src/index.js';
import type { ChatOptions, QwenVLMessage } from '../src/index.js';
import { runCli } from './helpers/cli.js';
import { useTempDir } from './helpers/temp-dir.js';

/**
 * `qwen-vl build --layout genai` of the golden tiny checkpoint, opened by QwenVL.load,
 * Model.create and `qwen-vl run`, against a qwen-vl layout build of the same checkpoint and
 * the golden run (greedy on raw logits, through EOS, 8 tokens). The genai graphs compute in
 * the graph what qwen-vl's get from the host (rotary tables, vision attention masks) and sum
 * attention in another order, so their logits differ by float32 rounding only.
 */
const LAYOUT_TOLERANCE = 2e-4;
const SEARCH: ChatOptions = { ...GOLDEN_SEARCH, maxNewTokens: GOLDEN_STEPS };

const dir = useTempDir('qwen-vl-genai-layout-');
let qwenDir: string;
let genaiDir: string;
let qwen: QwenVL;
let genai: QwenVL;
beforeAll(async () => {
  qwenDir = (await buildModelFolder(MODEL_DIR, join(dir(), 'qwen-vl'))).output;
  genaiDir = (await buildModelFolder(MODEL_DIR, join(dir(), 'genai'), { layout: 'genai' })).output;
  [qwen, genai] = await Promise.all([QwenVL.load(qwenDir), QwenVL.load(genaiDir)]);
});
afterAll(async () => {
  await Promise.all([qwen?.dispose(), genai?.dispose()]);
});

function userTurn(c: GoldenCase): QwenVLMessage[] {
  return [{ role: 'user', content: [...c.images.map((image) => ({ type: 'image' as const, image: goldenImage(image) })), { type: 'text', text: c.prompt }] }];
}

async function answer(model: QwenVL, messages: QwenVLMessage[]): Promise<{ tokens: number[]; logits: Float32Array[] }> {
  const logits: Float32Array[] = [];
  const result = await model.chat(messages, { ...SEARCH, onStepLogits: (_step, step) => logits.push(step.slice()) });
  return { tokens: result.tokens, logits };
}

function largestDiff(a: readonly Float32Array[], b: readonly Float32Array[]): number {
  expect(a).toHaveLength(b.length);
  return Math.max(...a.map((step, k) => maxAbsDiff(step, b[k])));
}

/** The error `fn` rejects with, checked to be a QwenVLError of `code` whose message matches `message`. */
async function expectError(fn: () => Promise<unknown>, code: QwenVLErrorCode, message: RegExp): Promise<void> {
  const error = await fn().then(
    () => undefined,
    (failure: unknown) => failure as { name?: string; code?: string; message?: string },
  );
  expect(error?.name, 'an error').toBe('QwenVLError');
  expect(error?.code, error?.message).toBe(code);
  expect(error?.message).toMatch(message);
}

describe('a --layout genai build', () => {
  it("holds onnxruntime-genai's files, a genai_config.json its parser accepts, and a manifest saying so", async () => {
    expect((await readdir(genaiDir)).sort()).toEqual([
      'embedding.onnx',
      'embedding.onnx.data',
      'genai_config.json',
      'processor_config.json',
      'qwen-vl.json',
      'text.onnx',
      'text.onnx.data',
      'tokenizer.json',
      'tokenizer_config.json',
      'vision.onnx',
      'vision.onnx.data',
    ]);
    const config = JSON.parse(await readFile(join(genaiDir, GENAI_CONFIG_FILE), 'utf8')) as unknown;
    expect(schemaViolations(config)).toEqual([]);
    expect(parseGenaiConfig(config, GENAI_CONFIG_FILE).vision?.file).toBe('vision.onnx');
    const tokenizerConfig = JSON.parse(await readFile(join(genaiDir, 'tokenizer_config.json'), 'utf8')) as { chat_template?: string };
    expect(tokenizerConfig.chat_template).toContain('<|im_start|>');
    expect(JSON.parse(await readFile(join(genaiDir, 'qwen-vl.json'), 'utf8'))).toMatchObject({
      layout: 'genai',
      parts: [{ model: 'vision.onnx' }, { model: 'embedding.onnx' }, { model: 'text.onnx' }],
    });
  });

  // qwen-vl feeds it none and places them itself; onnxruntime-genai feeds the vision model's output.
  it('has an embedding model that places the image features it is given at the image pads, as mergeVisionFeatures does', async () => {
    const [embedding, embed] = await Promise.all([ort.InferenceSession.create(join(genaiDir, 'embedding.onnx')), ort.InferenceSession.create(join(qwenDir, 'embed.onnx'))]);
    try {
      const IMAGE_PAD = 151655;
      const ids = [5, IMAGE_PAD, 7, IMAGE_PAD, IMAGE_PAD, 9];
      const idTensor = new ort.Tensor('int64', BigInt64Array.from(ids, BigInt), [2, 3]);
      const features = Float32Array.from({ length: 3 * 32 }, (_, i) => Math.sin(i));
      const placed = await embedding.run({ input_ids: idTensor, image_features: new ort.Tensor('float32', features, [3, 32]) });
      const rows = (await embed.run({ input_ids: idTensor })).inputs_embeds.data as Float32Array;
      const expected = mergeVisionFeatures(
        hostTensor('float32', rows, [2, 3, 32]),
        hostTensor('int32', Int32Array.from(ids), [2, 3]),
        hostTensor('float32', features, [3, 32]),
        undefined,
        qwen.config,
      );
      expect(maxAbsDiff(placed.inputs_embeds.data as Float32Array, expected.data)).toBe(0);
      // Fewer feature rows than pads is onnxruntime's error, as genai would see it.
      await expect(embedding.run({ input_ids: idTensor, image_features: new ort.Tensor('float32', features.subarray(0, 64), [2, 32]) })).rejects.toThrow();
    } finally {
      await Promise.all([embedding.release(), embed.release()]);
    }
  });

  it.each(GOLDEN_CASES)('$name: QwenVL.load answers with the golden tokens, its logits those of the qwen-vl layout build', async (c) => {
    const [fromGenai, fromQwen] = [await answer(genai, userTurn(c)), await answer(qwen, userTurn(c))];
    const golden = goldenSteps(c.name);
    expect(fromGenai.tokens).toEqual(golden.tokens);
    expect(fromQwen.tokens).toEqual(golden.tokens);
    const layouts = largestDiff(fromGenai.logits, fromQwen.logits);
    const vsGolden = Math.max(...fromGenai.logits.map((step, k) => maxAbsDiff(step, golden.logits(k))));
    console.info(`${c.name}: max |logit diff| genai vs qwen-vl layout ${layouts.toExponential(2)}, vs golden ${vsGolden.toExponential(2)}`);
    expect(layouts).toBeLessThanOrEqual(LAYOUT_TOLERANCE);
    expect(vsGolden).toBeLessThanOrEqual(LOGITS_TOLERANCE);
  });

  it('runs a video (two temporal steps, frames of two pictures) as the qwen-vl layout does', async () => {
    const [gradient, noise] = [goldenImage('gradient_300x200.png'), goldenImage('noise_rgba_50x70.png')];
    const messages: QwenVLMessage[] = [
      {
        role: 'user',
        content: [
          { type: 'video', video: [gradient, gradient, noise, noise] },
          { type: 'text', text: 'What happens?' },
        ],
      },
    ];
    const [fromGenai, fromQwen] = [await answer(genai, messages), await answer(qwen, messages)];
    expect(fromGenai.tokens).toEqual(fromQwen.tokens);
    expect(largestDiff(fromGenai.logits, fromQwen.logits)).toBeLessThanOrEqual(LAYOUT_TOLERANCE);
  });

  it('keeps the quantized precisions: an int4 build (int8 vision) gives the tokens and logits of the qwen-vl layout int4 build', async () => {
    const options = { precision: 'int4', visionPrecision: 'int8', accuracyLevel: 0 } as const;
    const [qwenInt4, genaiInt4] = await Promise.all([
      buildModelFolder(MODEL_DIR, join(dir(), 'qwen-vl-int4'), options).then(({ output }) => QwenVL.load(output)),
      buildModelFolder(MODEL_DIR, join(dir(), 'genai-int4'), { ...options, layout: 'genai' }).then(({ output }) => QwenVL.load(output)),
    ]);
    try {
      const c = GOLDEN_CASES.find(({ name }) => name === 'one_image')!;
      const [fromGenai, fromQwen] = [await answer(genaiInt4, userTurn(c)), await answer(qwenInt4, userTurn(c))];
      expect(fromGenai.tokens).toEqual(fromQwen.tokens);
      expect(largestDiff(fromGenai.logits, fromQwen.logits)).toBeLessThanOrEqual(LAYOUT_TOLERANCE);
    } finally {
      await Promise.all([qwenInt4.dispose(), genaiInt4.dispose()]);
    }
  });

  it("opens with Model.create, step by step: the golden tokens and each step's logits", async () => {
    const model = await Model.create(new Config(genaiDir));
    try {
      expect(model.config.text.hiddenSize).toBe(32);
      const c = GOLDEN_CASES.find(({ name }) => name === 'two_images')!;
      const processor = model.createMultimodalProcessor();
      const messages = JSON.stringify([{ role: 'user', content: [...c.images.map(() => ({ type: 'image' })), { type: 'text', text: c.prompt }] }]);
      const inputs = await processor.process(messages, { images: await Images.open(...c.images.map(goldenImage)) });
      const params = new GeneratorParams(model);
      params.setSearchOptions({ doSample: false, repetitionPenalty: 1, ignoreEos: true, maxNewTokens: GOLDEN_STEPS });
      const generator = await Generator.create(model, params);
      generator.setInputs(inputs);
      const golden = goldenSteps(c.name);
      for (let k = 0; !generator.isDone(); k++) {
        await generator.generateNextToken();
        expect(generator.getNextTokens()[0]).toBe(golden.tokens[k]);
        expect(maxAbsDiff(generator.getOutput('logits').data as Float32Array, golden.logits(k))).toBeLessThanOrEqual(LOGITS_TOLERANCE);
      }
    } finally {
      await model.dispose();
    }
  });

  it('runs with qwen-vl run --model, search defaults from genai_config.json', async () => {
    const c = GOLDEN_CASES.find(({ name }) => name === 'one_image')!;
    const run = await runCli([
      'run',
      '--model',
      genaiDir,
      '--image',
      goldenImage(c.images[0]),
      '--prompt',
      c.prompt,
      '--greedy',
      '--ignore-eos',
      '--repetition-penalty',
      '1',
      '--max-new-tokens',
      '8',
      '--json',
    ]);
    expect(run.code, run.stderr).toBe(0);
    expect((JSON.parse(run.stdout) as { tokens: number[] }).tokens).toEqual(goldenSteps(c.name).tokens);
  });
});

describe('a genai folder qwen-vl cannot run', () => {
  /** A copy of the genai build with `change` made to it. */
  async function broken(name: string, change: (folder: string) => Promise<void>): Promise<string> {
    const folder = join(dir(), name);
    await cp(genaiDir, folder, { recursive: true });
    await change(folder);
    return folder;
  }
  async function editConfig(folder: string, edit: (config: { model: Record<string, Record<string, Record<string, unknown>>> }) => void): Promise<void> {
    const path = join(folder, GENAI_CONFIG_FILE);
    const config = JSON.parse(await readFile(path, 'utf8')) as { model: Record<string, Record<string, Record<string, unknown>>> };
    edit(config);
    await writeFile(path, JSON.stringify(config));
  }

  it('names a model file genai_config.json names that is missing', async () => {
    const folder = await broken('no-embedding', (f) => rm(join(f, 'embedding.onnx')));
    await expectError(() => QwenVL.load(folder), 'MISSING_FILE', /embedding\.onnx: not found; genai_config\.json field "model\.embedding\.filename" names it/);
    await expectError(() => Model.create(new Config(folder)), 'MISSING_FILE', /embedding\.onnx: not found/);
  });

  it('names the processor config a vision model needs when it is missing', async () => {
    const folder = await broken('no-processor', (f) => rm(join(f, 'processor_config.json')));
    await expectError(() => QwenVL.load(folder), 'MISSING_FILE', /processor_config\.json: not found; genai_config\.json field "model\.vision\.config_filename"/);
  });

  it('names an input the config gives that the graph lacks, and an input of the graph that nothing feeds', async () => {
    const renamed = await broken('renamed-input', (f) => editConfig(f, (config) => (config.model.decoder.inputs.position_ids = 'pos_ids')));
    await expectError(
      () => QwenVL.load(renamed),
      'INVALID_MODEL',
      /genai_config\.json field "model\.decoder\.inputs\.position_ids": names "pos_ids", which text\.onnx has no input of \(its inputs: inputs_embeds, attention_mask, position_ids/,
    );
    // The vision model's grid under genai's default name (image_sizes) when the config leaves it out.
    const unnamed = await broken('unnamed-input', (f) => editConfig(f, (config) => delete config.model.vision.inputs.image_grid_thw));
    await expectError(() => QwenVL.load(unnamed), 'INVALID_MODEL', /field "model\.vision\.inputs\.image_grid_thw": names "image_sizes", which vision\.onnx has no input of/);
    const unfed = await broken('unfed-input', (f) => editConfig(f, (config) => (config.model.vision.inputs.image_grid_thw = 'pixel_values')));
    await expectError(() => QwenVL.load(unfed), 'INVALID_MODEL', /vision\.onnx: has input "image_grid_thw", which genai_config\.json does not name and qwen-vl does not feed/);
  });

  it("takes the checkpoint's config.json beside genai_config.json once the two agree, and names the field where they do not", async () => {
    const withConfig = await broken('with-config', (f) => cp(join(MODEL_DIR, 'config.json'), join(f, 'config.json')));
    const model = await QwenVL.load(withConfig);
    try {
      // Exact where genai_config.json is silent: the golden checkpoint's MLP width, not the published 3B's.
      expect([model.config.text.intermediateSize, model.config.vision.depth]).toEqual([64, 4]);
    } finally {
      await model.dispose();
    }
    const disagreeing = await broken('disagreeing-config', async (f) => {
      await cp(join(MODEL_DIR, 'config.json'), join(f, 'config.json'));
      await editConfig(f, (config) => ((config.model.decoder as Record<string, unknown>).num_hidden_layers = 3));
    });
    await expectError(() => QwenVL.load(disagreeing), 'INVALID_CONFIG', /genai_config\.json field "model\.decoder\.num_hidden_layers": is 3, but the folder's config\.json says 2/);
  });

  it('refuses another model type, naming the field', async () => {
    const folder = await broken('phi3v', (f) => editConfig(f, (config) => ((config.model as Record<string, unknown>).type = 'phi3v')));
    await expectError(() => QwenVL.load(folder), 'INVALID_CONFIG', /genai_config\.json field "model\.type": is "phi3v"/);
    const run = await runCli(['run', '--model', folder, '--prompt', 'Hi']);
    expect(run.code).not.toBe(0);
    expect(run.stderr).toMatch(/model\.type/);
  });
});
