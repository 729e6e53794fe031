import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildModelFolder } from '@qwen-vl/builder';
import { hostTensor, toBigInt64 } from '@qwen-vl/core';
import type { QwenVLErrorCode } from '@qwen-vl/core';
import { GOLDEN_CASES, GOLDEN_STEPS, LOGITS_TOLERANCE, MODEL_DIR, goldenArray, goldenImage, goldenSteps, maxAbsDiff, numbers } from '@qwen-vl/test-support';
import type { GoldenCase } from '@qwen-vl/test-support';
import { Config, Generator, GeneratorParams, Images, Model, NamedTensors, Tokenizer } from '../src/index.js';
import type { GenaiSearchOptions, MultiModalProcessor } from '../src/index.js';
import { useTempDir } from './helpers/temp-dir.js';

/**
 * The onnxruntime-genai-style API (Config, Model, Tokenizer, MultiModalProcessor,
 * GeneratorParams, Generator) on the golden tiny model's build, on onnxruntime-node CPU,
 * against the golden run: greedy on raw logits, no repetition penalty, EOS ignored, 8 tokens.
 */
const IMAGE_PAD_ID = 151655;
/** What a second turn appends after an answer, as Qwen's chat template writes it. */
const SECOND_TURN = '<|im_end|>\n<|im_start|>user\nAnd what else?<|im_end|>\n<|im_start|>assistant\n';
/** Within this, appending a turn to the cache gives the logits of a prefill of the whole conversation. */
const APPEND_TOLERANCE = 2.5e-4;

const dir = useTempDir('qwen-vl-genai-');
let modelDir: string;
let model: Model;
let tokenizer: Tokenizer;
let processor: MultiModalProcessor;

beforeAll(async () => {
  modelDir = (await buildModelFolder(MODEL_DIR, join(dir(), 'model'))).output;
  model = await Model.create(new Config(modelDir));
  tokenizer = await Tokenizer.create(model);
  processor = model.createMultimodalProcessor();
});
afterAll(async () => {
  await model?.dispose();
});

/** A golden case as genai's examples write it: a JSON string of one user turn, images first, then the text. */
function messagesJson(goldenCase: GoldenCase): string {
  return JSON.stringify([{ role: 'user', content: [...goldenCase.images.map(() => ({ type: 'image' })), { type: 'text', text: goldenCase.prompt }] }]);
}

function goldenCase(name: string): GoldenCase {
  return GOLDEN_CASES.find((c) => c.name === name)!;
}

async function caseImages(goldenCase: GoldenCase): Promise<Images | undefined> {
  return goldenCase.images.length === 0 ? undefined : Images.open(...goldenCase.images.map(goldenImage));
}

/** The golden run's search: greedy on raw logits, through EOS, `steps` new tokens. */
function goldenParams(options: GenaiSearchOptions = {}): GeneratorParams {
  const params = new GeneratorParams(model);
  params.setSearchOptions({ doSample: false, repetitionPenalty: 1, ignoreEos: true, maxNewTokens: GOLDEN_STEPS, ...options });
  return params;
}

/** Runs `generator` until it is done (or `steps` tokens), returning the tokens of row 0 and each step's logits. */
async function generate(generator: Generator, steps = Infinity): Promise<{ tokens: number[]; logits: Float32Array[] }> {
  const tokens: number[] = [];
  const logits: Float32Array[] = [];
  while (!generator.isDone() && tokens.length < steps) {
    await generator.generateNextToken();
    tokens.push(generator.getNextTokens()[0]);
    logits.push(generator.getOutput('logits').data as Float32Array);
  }
  return { tokens, logits };
}

async function startCase(name: string, options?: GenaiSearchOptions): Promise<{ generator: Generator; promptLength: number }> {
  const c = goldenCase(name);
  const inputs = await processor.process(messagesJson(c), { images: await caseImages(c) });
  const generator = await Generator.create(model, goldenParams(options));
  generator.setInputs(inputs);
  return { generator, promptLength: inputs.get('input_ids').dims[1] };
}

/** The error `fn` throws (or its promise rejects with). */
async function failure(fn: () => unknown): Promise<unknown> {
  try {
    await fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected an error, but nothing was thrown');
}

async function expectError(fn: () => unknown, code: QwenVLErrorCode, source: string | RegExp, message?: RegExp): Promise<void> {
  const error = (await failure(fn)) as { name?: string; code?: string; source?: string; message?: string };
  expect(error.name, String(error.message)).toBe('QwenVLError');
  expect(error.code, error.message).toBe(code);
  if (typeof source === 'string') expect(error.source).toBe(source);
  else expect(error.source).toMatch(source);
  if (message !== undefined) expect(error.message).toMatch(message);
}

describe('the step-wise Generator on the golden cases', () => {
  it.each(GOLDEN_CASES)('$name: the processor gives the golden ids; greedy tokens, logits and image features are the golden ones', async (c) => {
    const inputs = await processor.process(messagesJson(c), { images: await caseImages(c) });
    expect(numbers(inputs.get('input_ids').data)).toEqual(numbers(goldenArray(c.name, 'input_ids').data));
    if (c.images.length > 0) {
      expect(maxAbsDiff(inputs.get('pixel_values').data as Float32Array, goldenArray(c.name, 'pixel_values').data as Float32Array)).toBeLessThanOrEqual(1e-5);
      expect(numbers(inputs.get('image_grid_thw').data)).toEqual(numbers(goldenArray(c.name, 'grid_thw').data));
    } else {
      expect(inputs.has('pixel_values')).toBe(false);
    }

    const generator = await Generator.create(model, goldenParams());
    generator.setInputs(inputs);
    const stream = tokenizer.createStream();
    let text = '';
    const golden = goldenSteps(c.name);
    const { tokens, logits } = await generate(generator, Infinity);
    for (const token of tokens) text += stream.decode(token);

    expect(tokens).toEqual(golden.tokens);
    expect(logits).toHaveLength(GOLDEN_STEPS);
    logits.forEach((step, k) => expect(maxAbsDiff(step, golden.logits(k)), `step ${k}`).toBeLessThanOrEqual(LOGITS_TOLERANCE));
    expect(generator.getOutput('logits').dims).toEqual([1, 1, model.config.text.vocabSize]);
    expect(text).toBe(tokenizer.decode(golden.tokens));
    const prompt = numbers(goldenArray(c.name, 'input_ids').data);
    expect(numbers(generator.getSequence(0))).toEqual([...prompt, ...golden.tokens]);
    expect(generator.tokenCount()).toBe(prompt.length + GOLDEN_STEPS);

    const features = generator.getOutput('image_features');
    if (c.images.length > 0) expect(maxAbsDiff(features.data as Float32Array, goldenArray(c.name, 'vision_features').data as Float32Array)).toBeLessThanOrEqual(LOGITS_TOLERANCE);
    else expect(features.dims).toEqual([0, model.config.text.hiddenSize]);
  });

  it('takes a prompt already templated (the vision placeholders in the text) like the messages it came from', async () => {
    const c = goldenCase('two_images');
    const prompt = tokenizer.applyChatTemplate(messagesJson(c), { addGenerationPrompt: true });
    expect(prompt).toContain('<|vision_start|><|image_pad|><|vision_end|><|vision_start|><|image_pad|><|vision_end|>Compare the two images.');
    const images = await caseImages(c);
    const fromText = await processor.process(prompt, { images });
    const fromMessages = await processor.process(messagesJson(c), { images });
    expect(fromText.names()).toEqual(fromMessages.names());
    for (const name of fromText.names()) expect(fromText.get(name), name).toEqual(fromMessages.get(name));
  });

  it('gives each row of a batch (three prompts, left-padded) its golden tokens and logits', async () => {
    const cases = ['two_images', 'text_only', 'one_image'].map(goldenCase);
    const images = await Images.open(...cases.flatMap((c) => c.images.map(goldenImage)));
    const inputs = await processor.process(
      cases.map((c) => tokenizer.applyChatTemplate(messagesJson(c))),
      { images },
    );
    const [rows, length] = inputs.get('input_ids').dims;
    expect(rows).toBe(3);
    const generator = await Generator.create(model, goldenParams());
    generator.setInputs(inputs);
    const steps: { tokens: Int32Array; logits: Float32Array }[] = [];
    while (!generator.isDone()) {
      await generator.generateNextToken();
      steps.push({ tokens: generator.getNextTokens(), logits: generator.getOutput('logits').data as Float32Array });
    }
    const vocab = model.config.text.vocabSize;
    cases.forEach((c, b) => {
      const golden = goldenSteps(c.name);
      expect(
        steps.map((step) => step.tokens[b]),
        c.name,
      ).toEqual(golden.tokens);
      steps.forEach((step, k) => expect(maxAbsDiff(step.logits.subarray(b * vocab, (b + 1) * vocab), golden.logits(k)), `${c.name} step ${k}`).toBeLessThanOrEqual(LOGITS_TOLERANCE));
      expect(numbers(generator.getSequence(b))).toEqual([...numbers(goldenArray(c.name, 'input_ids').data), ...golden.tokens]);
    });
    expect(generator.tokenCount()).toBe(length + GOLDEN_STEPS);
  });

  it('takes a video given as its frames: two copies of the golden image give the golden tokens', async () => {
    const messages = JSON.stringify([{ role: 'user', content: [{ type: 'video' }, { type: 'text', text: goldenCase('one_image').prompt }] }]);
    const frame = goldenImage('gradient_300x200.png');
    const inputs = await processor.process(messages, { videos: [await Images.open(frame, frame)], fps: 2 });
    expect(numbers(inputs.get('video_grid_thw').data)).toEqual(numbers(goldenArray('one_image', 'grid_thw').data));
    const generator = await Generator.create(model, goldenParams());
    generator.setInputs(inputs);
    const { tokens, logits } = await generate(generator);
    expect(tokens).toEqual(goldenSteps('one_image').tokens);
    logits.forEach((step, k) => expect(maxAbsDiff(step, goldenSteps('one_image').logits(k)), `step ${k}`).toBeLessThanOrEqual(LOGITS_TOLERANCE));
    expect(generator.getOutput('video_features').dims).toEqual([77, model.config.text.hiddenSize]);
  });

  it('samples reproducibly: the same randomSeed gives the same tokens', async () => {
    const sample = async (randomSeed: number) => {
      const { generator } = await startCase('text_only', { doSample: true, temperature: 1.5, topK: 0, randomSeed });
      return (await generate(generator)).tokens;
    };
    const first = await sample(7);
    expect(await sample(7)).toEqual(first);
    const others = [await sample(8), await sample(9), await sample(10), await sample(11), await sample(12)];
    expect(others.some((tokens) => tokens.join() !== first.join())).toBe(true);
  });

  it('is done at EOS (or the length limit); generateNextToken after that fails, appendTokens starts it again', async () => {
    const golden = goldenSteps('text_only');
    const { generator } = await startCase('text_only', { eosTokenIds: [golden.tokens[2]], ignoreEos: false });
    expect((await generate(generator)).tokens).toEqual(golden.tokens.slice(0, 3));
    expect(generator.isDone()).toBe(true);
    await expectError(() => generator.generateNextToken(), 'INVALID_ARGUMENT', 'Generator.generateNextToken', /done/);
    generator.appendTokens(tokenizer.encode(SECOND_TURN));
    expect(generator.isDone()).toBe(false);
    await generator.generateNextToken();
    expect(generator.getNextTokens()).toHaveLength(1);
  });
});

describe('maxLength', () => {
  it('refuses a prompt or appended tokens that leave no room under maxLength, as genai does, instead of generating past it', async () => {
    const c = goldenCase('text_only');
    const inputs = await processor.process(messagesJson(c), { images: await caseImages(c) });
    const promptLength = inputs.get('input_ids').dims[1];
    const tight = await Generator.create(model, goldenParams({ maxLength: promptLength }));
    await expectError(() => tight.setInputs(inputs), 'INVALID_ARGUMENT', 'Generator.setInputs input_ids', new RegExp(`${promptLength} tokens long, and maxLength is ${promptLength}: no room`));
    const roomy = await Generator.create(model, goldenParams({ maxLength: promptLength + 2 }));
    roomy.setInputs(inputs);
    await expectError(() => roomy.appendTokens([100, 100]), 'INVALID_ARGUMENT', 'Generator.appendTokens tokens', /maxLength is/);
    roomy.appendTokens([100]);
    expect(numbers(roomy.getSequence(0))).toHaveLength(promptLength + 1);
    await roomy.generateNextToken();
    expect(numbers(roomy.getSequence(0))).toHaveLength(promptLength + 2);
    expect(roomy.isDone()).toBe(true);
  });
});

describe('rewindTo and appendTokens', () => {
  it('rewindTo(k) then generating again gives the tokens and logits of the full run', async () => {
    const { generator, promptLength } = await startCase('one_image');
    const full = await generate(generator);
    const golden = goldenSteps('one_image');
    expect(full.tokens).toEqual(golden.tokens);

    for (const kept of [5, 3, 1]) {
      generator.rewindTo(promptLength + kept);
      expect(generator.tokenCount()).toBe(promptLength + kept);
      expect(numbers(generator.getSequence(0)).slice(promptLength)).toEqual(golden.tokens.slice(0, kept));
      const again = await generate(generator);
      expect(again.tokens, `kept ${kept}`).toEqual(golden.tokens.slice(kept));
      again.logits.forEach((step, k) => expect(maxAbsDiff(step, full.logits[kept + k]), `kept ${kept}, step ${kept + k}`).toBeLessThanOrEqual(1e-5));
    }
  });

  it('rewinds into the prompt (past its image) and goes on from appended tokens as from the whole prompt', async () => {
    const prompt = numbers(goldenArray('one_image', 'input_ids').data);
    const golden = goldenSteps('one_image');
    const { generator } = await startCase('one_image');
    await generate(generator);
    // The last 5 prompt tokens are text after the image: "Describe this image.<|im_end|>\n<|im_start|>assistant\n" ends the prompt.
    const kept = prompt.length - 5;
    expect(prompt.slice(0, kept)).toContain(IMAGE_PAD_ID);
    generator.rewindTo(kept);
    generator.appendTokens(prompt.slice(kept));
    const again = await generate(generator);
    expect(again.tokens).toEqual(golden.tokens);
    again.logits.forEach((step, k) => expect(maxAbsDiff(step, golden.logits(k)), `step ${k}`).toBeLessThanOrEqual(LOGITS_TOLERANCE));
  });

  it('rewinds a text prompt to its first tokens and back to the golden run', async () => {
    const prompt = numbers(goldenArray('text_only', 'input_ids').data);
    const { generator } = await startCase('text_only');
    await generate(generator, 2);
    generator.rewindTo(1);
    generator.appendTokens(prompt.slice(1));
    expect((await generate(generator)).tokens).toEqual(goldenSteps('text_only').tokens);
  });

  it('starts from appendTokens alone (no setInputs), as genai text generation does', async () => {
    const prompt = numbers(goldenArray('text_only', 'input_ids').data);
    const generator = await Generator.create(model, goldenParams());
    generator.appendTokens(prompt.slice(0, 10));
    generator.appendTokens(prompt.slice(10));
    const { tokens, logits } = await generate(generator);
    expect(tokens).toEqual(goldenSteps('text_only').tokens);
    logits.forEach((step, k) => expect(maxAbsDiff(step, goldenSteps('text_only').logits(k)), `step ${k}`).toBeLessThanOrEqual(LOGITS_TOLERANCE));
  });

  it.each(['one_image', 'text_only'])('%s: appendTokens of a second turn gives the logits of a prefill of the whole conversation', async (name) => {
    const c = goldenCase(name);
    const firstTurn = await processor.process(messagesJson(c), { images: await caseImages(c) });
    const { generator } = await startCase(name);
    await generate(generator);
    generator.appendTokens(tokenizer.encode(SECOND_TURN));
    const conversation = generator.getSequence(0);
    const appended = await generate(generator, 4);

    // The whole conversation (prompt, answer, second turn) in one prefill, with the first turn's images.
    const whole = new NamedTensors({ input_ids: hostTensor('int64', toBigInt64(conversation), [1, conversation.length]) });
    for (const tensor of ['pixel_values', 'image_grid_thw']) if (firstTurn.has(tensor)) whole.set(tensor, firstTurn.get(tensor));
    const fresh = await Generator.create(model, goldenParams());
    fresh.setInputs(whole);
    const prefilled = await generate(fresh, 4);

    expect(appended.tokens).toEqual(prefilled.tokens);
    const diffs = appended.logits.map((step, k) => maxAbsDiff(step, prefilled.logits[k]));
    console.info(`${name}: appended turn vs whole prefill, max |logit diff| per step ${diffs.map((d) => d.toExponential(2)).join(', ')}`);
    diffs.forEach((diff, k) => expect(diff, `step ${k}`).toBeLessThanOrEqual(APPEND_TOLERANCE));
  });
});

describe('several generators on one model', () => {
  /** Each case run alone on a generator of its own, to the end: what the generators sharing the model must give. */
  const alone = new Map<string, { tokens: number[]; logits: Float32Array[] }>();
  const CASES = ['one_image', 'two_images', 'text_only'];

  beforeAll(async () => {
    for (const name of CASES) alone.set(name, await generate((await startCase(name)).generator));
  });

  function expectAlone(name: string, run: { tokens: number[]; logits: Float32Array[] }, from = 0): void {
    const reference = alone.get(name)!;
    expect(run.tokens, name).toEqual(reference.tokens.slice(from));
    expect(run.logits).toHaveLength(reference.logits.length - from);
    run.logits.forEach((step, k) => expect(maxAbsDiff(step, reference.logits[from + k]), `${name} step ${from + k}`).toBeLessThanOrEqual(1e-5));
  }

  /** One step of `generator`, recorded in `run`. */
  async function step(generator: Generator, run: { tokens: number[]; logits: Float32Array[] }): Promise<void> {
    await generator.generateNextToken();
    run.tokens.push(generator.getNextTokens()[0]);
    run.logits.push(generator.getOutput('logits').data as Float32Array);
  }

  it('the alone runs are the golden ones', () => {
    for (const name of CASES) expect(alone.get(name)!.tokens, name).toEqual(goldenSteps(name).tokens);
  });

  it('three generators stepping in turn (A, B, C, A, B, C, ...) on different prompts each give their tokens and logits alone', async () => {
    const generators = await Promise.all(CASES.map(async (name) => (await startCase(name)).generator));
    const runs = CASES.map(() => ({ tokens: [] as number[], logits: [] as Float32Array[] }));
    for (let k = 0; k < GOLDEN_STEPS; k++) for (const [i, generator] of generators.entries()) await step(generator, runs[i]);
    CASES.forEach((name, i) => expectAlone(name, runs[i]));
    expect(generators.every((generator) => generator.isDone())).toBe(true);
    CASES.forEach((name, i) => expect(numbers(generators[i].getSequence(0)), name).toEqual([...numbers(goldenArray(name, 'input_ids').data), ...goldenSteps(name).tokens]));
    // Each generator's image features are its own prompt's.
    expect(maxAbsDiff(generators[0].getOutput('image_features').data as Float32Array, goldenArray('one_image', 'vision_features').data as Float32Array)).toBeLessThanOrEqual(LOGITS_TOLERANCE);
    expect(maxAbsDiff(generators[1].getOutput('image_features').data as Float32Array, goldenArray('two_images', 'vision_features').data as Float32Array)).toBeLessThanOrEqual(LOGITS_TOLERANCE);
  });

  it('concurrent generateNextToken() of two generators (Promise.all) take turns and give their tokens and logits alone', async () => {
    const [a, b] = await Promise.all([startCase('one_image'), startCase('two_images')]);
    const [runA, runB] = [
      { tokens: [] as number[], logits: [] as Float32Array[] },
      { tokens: [] as number[], logits: [] as Float32Array[] },
    ];
    while (!a.generator.isDone() || !b.generator.isDone()) await Promise.all([step(a.generator, runA), step(b.generator, runB)]);
    expectAlone('one_image', runA);
    expectAlone('two_images', runB);
  });

  it("rewindTo on one generator leaves the other's sequence and cache as they were", async () => {
    const [a, b] = [await startCase('one_image'), await startCase('text_only')];
    const [runA, runB] = [
      { tokens: [] as number[], logits: [] as Float32Array[] },
      { tokens: [] as number[], logits: [] as Float32Array[] },
    ];
    for (let k = 0; k < 4; k++) await Promise.all([step(a.generator, runA), step(b.generator, runB)]);
    // A goes back to its first generated token and on, while B goes on from its fourth.
    a.generator.rewindTo(a.promptLength + 1);
    const againA = { tokens: [] as number[], logits: [] as Float32Array[] };
    while (!a.generator.isDone() || !b.generator.isDone()) {
      await Promise.all([a.generator.isDone() ? undefined : step(a.generator, againA), b.generator.isDone() ? undefined : step(b.generator, runB)]);
    }
    expectAlone('text_only', runB);
    expectAlone('one_image', againA, 1);
    expect(numbers(b.generator.getSequence(0))).toEqual([...numbers(goldenArray('text_only', 'input_ids').data), ...goldenSteps('text_only').tokens]);
  });

  it("disposing the model ends every generator's sequence: each call, a waiting generateNextToken included, fails naming the disposed model", async () => {
    const own = await Model.create(new Config(modelDir));
    const ownProcessor = own.createMultimodalProcessor();
    const start = async (name: string) => {
      const c = goldenCase(name);
      const params = new GeneratorParams(own);
      params.setSearchOptions({ doSample: false, repetitionPenalty: 1, ignoreEos: true, maxNewTokens: GOLDEN_STEPS });
      const generator = await Generator.create(own, params);
      generator.setInputs(await ownProcessor.process(messagesJson(c), { images: await caseImages(c) }));
      return generator;
    };
    const [a, b] = [await start('one_image'), await start('text_only')];
    await a.generateNextToken();
    const running = b.generateNextToken();
    const waiting = a.generateNextToken();
    const disposed = own.dispose();
    await running.catch(() => undefined);
    await expectError(() => waiting, 'INVALID_ARGUMENT', 'Generator.generateNextToken', /disposed/);
    await disposed;
    for (const generator of [a, b]) {
      await expectError(() => generator.generateNextToken(), 'INVALID_ARGUMENT', 'Generator.generateNextToken', /disposed/);
      await expectError(() => generator.appendTokens([1]), 'INVALID_ARGUMENT', 'Generator.appendTokens', /disposed/);
    }
    await expectError(() => Generator.create(own, new GeneratorParams(model)), 'INVALID_ARGUMENT', 'Generator.create model', /disposed/);
  });
});

describe('Tokenizer', () => {
  it('encodes and decodes; the stream gives the text each token completes', () => {
    const text = 'Hello, 世界! 🦜';
    const ids = tokenizer.encode(text);
    expect(tokenizer.decode(ids)).toBe(text);
    const stream = tokenizer.createStream();
    const pieces = Array.from(ids, (id) => stream.decode(id));
    expect(pieces.join('')).toBe(text);
    // The parrot is two byte tokens: the first gives '', the second the whole character.
    expect(pieces.slice(-2)).toEqual(['', ' 🦜']);
    const special = tokenizer.encode('<|im_end|>');
    expect(special).toHaveLength(1);
    expect(tokenizer.decode(special)).toBe('');
    expect(tokenizer.decode(special, { skipSpecialTokens: false })).toBe('<|im_end|>');
  });

  it('applies the chat template to a JSON string of messages, with or without the generation prompt', () => {
    const messages = JSON.stringify([{ role: 'user', content: 'Hi' }]);
    expect(tokenizer.applyChatTemplate(messages)).toMatch(/<\|im_start\|>user\nHi<\|im_end\|>\n<\|im_start\|>assistant\n$/);
    expect(tokenizer.applyChatTemplate(messages, { addGenerationPrompt: false })).toMatch(/Hi<\|im_end\|>\n$/);
    expect(tokenizer.applyChatTemplate(messages, { templateStr: '{{ messages[0].content }}!' })).toBe('Hi!');
  });
});

describe('typed errors naming the argument', () => {
  it('Config: an unknown provider, a second provider, an option the provider does not take', async () => {
    const config = new Config(modelDir);
    await expectError(() => config.appendProvider('tpu' as never), 'INVALID_ARGUMENT', 'Config.appendProvider provider', /cpu, cuda, dml, webgpu, wasm/);
    config.appendProvider('cuda', { device_id: '1' });
    expect(config.provider).toBe('cuda');
    expect(config.providerOptions()).toEqual({ device_id: '1' });
    await expectError(() => config.appendProvider('dml'), 'INVALID_ARGUMENT', 'Config.appendProvider provider "dml"', /clearProviders/);
    config.clearProviders();
    expect(config.provider).toBe('cpu');
    config.setProviderOption('cpu', 'enable_cuda_graph', '1');
    config.appendProvider('cpu');
    await expectError(() => Model.create(config), 'INVALID_ARGUMENT', 'provider option "enable_cuda_graph" of cpu');
    await expectError(() => Model.create(new Config(MODEL_DIR)), 'MISSING_FILE', /embed\.onnx$/, /qwen-vl build/);
  });

  it('GeneratorParams: beam search, a bad value, an unknown option', async () => {
    const params = new GeneratorParams(model);
    await expectError(() => params.setSearchOptions({ numBeams: 2 }), 'INVALID_ARGUMENT', 'search option "numBeams"');
    await expectError(() => params.setSearchOptions({ topP: 2 }), 'INVALID_ARGUMENT', 'search option "topP"');
    await expectError(() => params.setSearchOptions({ maxLenght: 10 } as never), 'INVALID_ARGUMENT', 'search option "maxLenght"');
    await expectError(() => params.setSearchOptions({ stopStrings: ['x'] } as never), 'INVALID_ARGUMENT', 'search option "stopStrings"');
    // A refused call leaves the options as they were.
    expect(params.searchOptions).toEqual({});
    params.setSearchOptions({ maxLength: 64, temperature: 0.5 });
    params.setSearchOptions({ temperature: undefined });
    expect(params.searchOptions).toEqual({ maxLength: 64 });
    // Options not set come from generation_config.json (the golden model's: sampling, repetition penalty 1.05).
    expect(params.resolvedSearchOptions).toMatchObject({ maxLength: 64, doSample: true, repetitionPenalty: 1.05 });
  });

  it('Generator: after done, rewindTo beyond the sequence or into an image, an unknown output, appended image pads', async () => {
    const { generator, promptLength } = await startCase('one_image', { maxNewTokens: 2 });
    await expectError(() => generator.getOutput('logits'), 'INVALID_ARGUMENT', 'Generator.getOutput name "logits"', /generateNextToken/);
    await expectError(() => generator.getNextTokens(), 'INVALID_ARGUMENT', 'Generator.getNextTokens');
    await generate(generator);
    expect(generator.isDone()).toBe(true);
    await expectError(() => generator.generateNextToken(), 'INVALID_ARGUMENT', 'Generator.generateNextToken');
    await expectError(() => generator.rewindTo(promptLength + 3), 'INVALID_ARGUMENT', 'Generator.rewindTo length', new RegExp(`from 0 to ${promptLength + 2}`));
    await expectError(() => generator.rewindTo(-1), 'INVALID_ARGUMENT', 'Generator.rewindTo length');
    const lastPad = numbers(generator.getSequence(0)).lastIndexOf(IMAGE_PAD_ID);
    await expectError(() => generator.rewindTo(lastPad + 1), 'INVALID_ARGUMENT', 'Generator.rewindTo length', /inside an image/);
    await expectError(() => generator.getOutput('hidden_states' as never), 'INVALID_ARGUMENT', 'Generator.getOutput name "hidden_states"', /logits, image_features, video_features/);
    await expectError(() => generator.appendTokens([IMAGE_PAD_ID]), 'INVALID_ARGUMENT', 'Generator.appendTokens tokens', /image or video pad/);
    await expectError(() => generator.appendTokens([model.config.text.vocabSize]), 'INVALID_ARGUMENT', 'Generator.appendTokens tokens');
    await expectError(() => generator.appendTokens([]), 'INVALID_ARGUMENT', 'Generator.appendTokens tokens');
    await expectError(() => generator.getSequence(1), 'INVALID_ARGUMENT', 'Generator.getSequence row');
    await expectError(() => generator.setInputs(new NamedTensors()), 'INVALID_ARGUMENT', 'Generator.setInputs', /rewindTo\(0\)/);
    generator.rewindTo(0);
    await expectError(() => generator.setInputs(new NamedTensors()), 'INVALID_ARGUMENT', 'Generator.setInputs inputs', /input_ids/);
    await expectError(
      () =>
        generator.setInputs(
          new NamedTensors({ input_ids: hostTensor('int64', BigInt64Array.of(1n, BigInt(IMAGE_PAD_ID)), [1, 2]), image_grid_thw: hostTensor('int64', BigInt64Array.of(1n, 2n, 2n), [1, 3]) }),
        ),
      'INVALID_ARGUMENT',
      'Generator.setInputs inputs "image_grid_thw"',
      /without "pixel_values"/,
    );
    // A disposed generator refuses every call; another one on the model goes on.
    generator.dispose();
    generator.dispose();
    await expectError(() => generator.appendTokens([1]), 'INVALID_ARGUMENT', 'Generator.appendTokens', /disposed/);
    await expectError(() => generator.generateNextToken(), 'INVALID_ARGUMENT', 'Generator.generateNextToken', /disposed/);
    const { generator: other } = await startCase('text_only');
    expect((await generate(other, 1)).tokens).toEqual(goldenSteps('text_only').tokens.slice(0, 1));
  });

  it('Generator: a second call of the same generator while its generateNextToken runs is refused; another generator meanwhile waits its turn', async () => {
    const { generator } = await startCase('text_only');
    const running = generator.generateNextToken();
    await expectError(() => generator.generateNextToken(), 'INVALID_ARGUMENT', 'Generator.generateNextToken', /still running/);
    await expectError(() => generator.rewindTo(0), 'INVALID_ARGUMENT', 'Generator.rewindTo', /still running/);
    await expectError(() => generator.dispose(), 'INVALID_ARGUMENT', 'Generator.dispose', /still running/);
    const { generator: other } = await startCase('one_image');
    const waiting = other.generateNextToken();
    await Promise.all([running, waiting]);
    expect(generator.getNextTokens()[0]).toBe(goldenSteps('text_only').tokens[0]);
    expect(other.getNextTokens()[0]).toBe(goldenSteps('one_image').tokens[0]);
  });

  it('MultiModalProcessor and Images: placeholders and images that do not match, a bad messages JSON, a missing file', async () => {
    const two = goldenCase('two_images');
    await expectError(
      () => processor.process(messagesJson(two), { images: undefined }),
      'PLACEHOLDER_MISMATCH',
      'MultiModalProcessor.process options.images',
      /0 images were given.*2 image placeholders/,
    );
    await expectError(() => processor.process('[{"role": "robot", "content": "hi"}]'), 'INVALID_ARGUMENT', 'MultiModalProcessor.process prompt[0].role');
    await expectError(() => tokenizer.applyChatTemplate('[{"role": "user"'), 'INVALID_ARGUMENT', 'Tokenizer.applyChatTemplate messages', /not valid JSON/);
    await expectError(() => Images.open(join(dir(), 'missing.png')), 'MISSING_FILE', /missing\.png$/);
    await expectError(() => Images.open(42 as never), 'INVALID_ARGUMENT', 'Images.open argument 0');
  });
});
