import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ModelConfig } from '@qwen-vl/core';
import { Generator, argmax, mergeVisionFeatures } from '@qwen-vl/decoder';
import type { DecoderSession, GenerationControl, GenerationResult, GenerationStreamEvent, PreparedPrompt, SearchOptions } from '@qwen-vl/decoder';
import { getRopeIndex } from '@qwen-vl/mrope';
import { QwenTokenizer, QwenVLProcessor } from '@qwen-vl/preprocess';
import type { MediaInputs, PreparedInputs } from '@qwen-vl/preprocess';
import { GOLDEN_CASES, LOGITS_TOLERANCE, MODEL_DIR, goldenArray, goldenGrids, goldenImage, goldenJson, goldenPrompt, goldenSteps, maxAbsDiff, numbers } from '@qwen-vl/test-support';
import { NodeModelFolder, decodeImage, requestMessages } from '../src/index.js';
import { PAD_TOKEN_ID, embedPrompts, openGoldenDecoder, goldenSearchOptions as searchOptions, stackFeatures } from './decoder-fixtures.js';
import { useTempDir } from './helpers/temp-dir.js';

/**
 * The Generator over the golden tiny model's exported text graphs on onnxruntime-node CPU.
 * The golden vision features stand in for the vision tower; the golden run is greedy on raw
 * logits, no repetition penalty, EOS ignored, 8 new tokens.
 */
const STEPS = 8;

const dir = useTempDir('qwen-vl-generate-');
let config: ModelConfig;
let session: DecoderSession;
let tokenizer: QwenTokenizer;
let generator: Generator;
const decode = (ids: readonly number[]) => tokenizer.decode(ids, { skipSpecialTokens: true });

beforeAll(async () => {
  ({ config, session } = await openGoldenDecoder(dir()));
  const readJson = (name: string) => JSON.parse(readFileSync(join(MODEL_DIR, name), 'utf8'));
  tokenizer = QwenTokenizer.fromJson(readJson('tokenizer.json'), readJson('tokenizer_config.json'));
  generator = new Generator(session, decode, { padTokenId: PAD_TOKEN_ID });
});
afterAll(async () => {
  await session?.dispose();
});

/** The golden cases' prompts, left-padded into one batch, embedded and merged with their vision features. */
function prepare(names: readonly string[]): Promise<PreparedPrompt> {
  return embedPrompts(session, names.map(goldenPrompt), config);
}

async function streamAll(prompt: PreparedPrompt, options: SearchOptions, control?: GenerationControl, onEvent?: (event: GenerationStreamEvent) => void) {
  const stream = generator.stream(prompt, options, control);
  const events: GenerationStreamEvent[] = [];
  for (;;) {
    const next = await stream.next();
    if (next.done === true) return { events, result: next.value };
    events.push(next.value);
    onEvent?.(next.value);
  }
}

function describeTimings({ timings }: GenerationResult): string {
  return `prefill ${timings.prefillMs.toFixed(1)} ms, ${timings.tokensPerSecond.toFixed(1)} tokens/s, run ${timings.runMs.toFixed(1)} ms, overhead ${timings.overheadMsPerToken.toFixed(3)} ms/token`;
}

describe('Generator on the golden tiny model', () => {
  it.each(GOLDEN_CASES)('$name: greedy tokens, logprobs and step logits match the golden run; the stream concatenates to the text', async ({ name }) => {
    const golden = goldenSteps(name);
    const stepLogits: Float32Array[] = [];
    const { events, result } = await streamAll(await prepare([name]), searchOptions(), { logprobs: true, onStepLogits: (_, logits) => stepLogits.push(logits.data) });
    const [row] = result.rows;
    console.info(`${name}: ${describeTimings(result)}`);

    expect(row.tokens).toEqual(golden.tokens);
    expect(row).toMatchObject({ finishReason: 'length', generatedTokens: STEPS, promptTokens: goldenPrompt(name).ids.length });
    goldenJson(name).logprobs.forEach((expected, step) => expect(Math.abs(row.logprobs[step] - expected), `logprob ${step}`).toBeLessThanOrEqual(LOGITS_TOLERANCE));
    expect(stepLogits).toHaveLength(STEPS);
    stepLogits.forEach((logits, step) => expect(maxAbsDiff(logits, golden.logits(step)), `step ${step}`).toBeLessThanOrEqual(LOGITS_TOLERANCE));

    expect(events.map((e) => e.tokenId)).toEqual(golden.tokens);
    expect(events.map((e) => e.text).join('')).toBe(row.text);
    expect(row.text).toBe(decode(golden.tokens));
    expect(result.timings.steps).toBe(STEPS - 1);
  });

  it("applies Hugging Face's repetition penalty over the prompt and the generated ids at every step", async () => {
    const penalty = 1.3;
    const prompt = await prepare(['one_image']);
    const promptIds = goldenPrompt('one_image').ids;
    const stepLogits: Float32Array[] = [];
    const result = await generator.generate(prompt, searchOptions({ repetitionPenalty: penalty, maxNewTokens: 16 }), { onStepLogits: (_, logits) => stepLogits.push(logits.data) });
    const { tokens } = result.rows[0];
    let changed = 0;
    stepLogits.forEach((raw, step) => {
      // HF's RepetitionPenaltyLogitsProcessor: each distinct id so far, score > 0 ? score / p : score * p.
      const penalised = raw.slice();
      for (const id of new Set([...promptIds, ...tokens.slice(0, step)])) penalised[id] = raw[id] > 0 ? raw[id] / penalty : raw[id] * penalty;
      expect(tokens[step], `step ${step}`).toBe(argmax(penalised));
      if (argmax(raw) !== tokens[step]) changed++;
    });
    // Greedy decoding of this prompt repeats a token at step 5; the penalty must have changed that choice, or this test would not tell.
    expect(changed).toBeGreaterThan(0);
  });

  it('samples reproducibly: the same seed gives the same tokens, other seeds other tokens', async () => {
    const prompt = await prepare(['text_only']);
    const sample = async (randomSeed: number) => (await generator.generate(prompt, searchOptions({ doSample: true, temperature: 1.5, randomSeed }))).rows[0].tokens;
    const first = await sample(7);
    expect(await sample(7)).toEqual(first);
    const others = [await sample(8), await sample(9), await sample(10), await sample(11), await sample(12)];
    expect(others.some((tokens) => tokens.join() !== first.join())).toBe(true);
  });

  it('stops at EOS: the EOS token ends the tokens (as in Hugging Face) and is not in the text', async () => {
    const golden = goldenSteps('text_only');
    const { events, result } = await streamAll(await prepare(['text_only']), searchOptions({ eosTokenIds: [golden.tokens[2]], ignoreEos: false }));
    expect(result.rows[0]).toMatchObject({ tokens: golden.tokens.slice(0, 3), finishReason: 'eos', generatedTokens: 3, text: decode(golden.tokens.slice(0, 2)) });
    expect(events.map((e) => e.text)).toEqual([decode(golden.tokens.slice(0, 1)), decode(golden.tokens.slice(0, 2)).slice(decode(golden.tokens.slice(0, 1)).length), '']);
    expect(result.timings.steps).toBe(2);
  });

  it('stops at a stop string that spans two tokens, leaving it and what follows out of the text', async () => {
    const golden = goldenSteps('one_image');
    const upTo = (n: number) => decode(golden.tokens.slice(0, n));
    // The last character of token 3's text and the first of token 4's.
    const boundary = upTo(4).length;
    const stop = upTo(5).slice(boundary - 1, boundary + 1);
    expect(stop).toHaveLength(2);
    const { events, result } = await streamAll(await prepare(['one_image']), searchOptions({ stopStrings: [stop] }));
    const expectedText = upTo(5).slice(0, upTo(5).indexOf(stop));
    expect(result.rows[0]).toMatchObject({ tokens: golden.tokens.slice(0, 5), finishReason: 'stop', text: expectedText });
    expect(events.map((e) => e.text).join('')).toBe(expectedText);
  });

  it('ends as aborted when the signal fires after the first token, and the session stays usable', async () => {
    const golden = goldenSteps('text_only');
    const prompt = await prepare(['text_only']);
    const controller = new AbortController();
    const { result } = await streamAll(prompt, searchOptions(), { signal: controller.signal }, () => controller.abort());
    // The signal is seen before the next run: no second token.
    expect(result.rows[0]).toMatchObject({ tokens: golden.tokens.slice(0, 1), finishReason: 'aborted', text: decode(golden.tokens.slice(0, 1)) });
    expect(result.timings.steps).toBe(0);
    expect((await generator.generate(prompt, searchOptions())).rows[0].tokens).toEqual(golden.tokens);
  });

  it('gives each prompt of a left-padded batch its tokens as when run alone', async () => {
    const names = ['text_only', 'one_image'];
    const result = await generator.generate(await prepare(names), searchOptions());
    console.info(`batch of 2: ${describeTimings(result)}`);
    names.forEach((name, b) => {
      expect(result.rows[b].tokens, name).toEqual(goldenSteps(name).tokens);
      expect(result.rows[b].promptTokens).toBe(goldenPrompt(name).ids.length);
    });
  });

  it('honours maxNewTokens', async () => {
    const result = await generator.generate(await prepare(['two_images']), searchOptions({ maxNewTokens: 3 }));
    expect(result.rows[0]).toMatchObject({ tokens: goldenSteps('two_images').tokens.slice(0, 3), finishReason: 'length', generatedTokens: 3 });
    expect(result.timings.steps).toBe(2);
  });
});

describe('processor → getRopeIndex → Generator, with no conversion', () => {
  const NAMES = ['two_images', 'text_only', 'one_image'];
  const cases = NAMES.map((name) => GOLDEN_CASES.find((c) => c.name === name)!);
  let processor: QwenVLProcessor;
  let media: MediaInputs[];
  beforeAll(async () => {
    processor = await QwenVLProcessor.fromFolder(await NodeModelFolder.open(MODEL_DIR));
    media = await Promise.all(cases.map(async (c) => ({ images: await Promise.all(c.images.map((file) => decodeImage(goldenImage(file)))) })));
  });

  /** The prepared inputs as they are, their positions and their embeddings (the golden vision features of `names` standing in for the vision tower). */
  async function generateFrom(inputs: PreparedInputs, names: readonly string[]) {
    const positions = getRopeIndex(inputs, config);
    const features = stackFeatures(names.map((name) => goldenPrompt(name).imageFeatures));
    const inputsEmbeds = mergeVisionFeatures(await session.embed(inputs.inputIds), inputs.inputIds, features, undefined, config);
    const logits: Float32Array[] = [];
    const result = await generator.generate({ ...inputs, positions, inputsEmbeds }, searchOptions(), { onStepLogits: (_, step) => logits.push(step.data) });
    return { positions, result, logits };
  }

  it('gives each of a batch of 3 conversations (two images, text, one image; left-padded) the golden ids, positions and tokens it has alone', async () => {
    const inputs = processor.prepareBatch(
      cases.map((c) => requestMessages({ prompt: c.prompt, images: c.images })),
      media,
    );
    const batch = await generateFrom(inputs, NAMES);
    const [rows, length] = inputs.inputIds.dims;
    expect(rows).toBe(3);
    expect(batch.positions).toMatchObject({ batch: 3, length });
    const vocab = batch.logits[0].length / rows;
    const column = (data: ArrayLike<number>, b: number, from: number) => numbers(Array.from(data).slice(b * length + from, (b + 1) * length));

    for (const [b, name] of NAMES.entries()) {
      const alone = processor.prepare(requestMessages({ prompt: cases[b].prompt, images: cases[b].images }), media[b]);
      const single = await generateFrom(alone, [name]);
      const goldenIds = numbers(goldenArray(name, 'input_ids').data);
      const padding = length - goldenIds.length;
      expect(padding, name).toBeGreaterThanOrEqual(0);

      // Ids and positions: the golden ones, alone and in the row past its left padding.
      expect(numbers(alone.inputIds.data), name).toEqual(goldenIds);
      expect(column(inputs.inputIds.data, b, padding), name).toEqual(goldenIds);
      expect(column(inputs.attentionMask.data, b, 0), name).toEqual([...Array<number>(padding).fill(0), ...goldenIds.map(() => 1)]);
      const goldenPositions = numbers(goldenArray(name, 'position_ids').data);
      expect(numbers(single.positions.positionIds), name).toEqual(goldenPositions);
      for (let axis = 0; axis < 3; axis++) {
        const row = numbers(batch.positions.positionIds.subarray((axis * rows + b) * length, (axis * rows + b + 1) * length));
        expect(row.slice(padding), `${name} axis ${axis}`).toEqual(goldenPositions.slice(axis * goldenIds.length, (axis + 1) * goldenIds.length));
      }
      expect(single.positions.ropeDeltas[0], name).toBe(goldenJson(name).rope_delta);
      // The delta counts the padded length: max + 1 − L.
      expect(batch.positions.ropeDeltas[b], name).toBe(goldenJson(name).rope_delta - padding);

      // Generation: the same tokens as alone and as the golden run; logits within the golden tolerance.
      const golden = goldenSteps(name);
      expect(batch.result.rows[b].tokens, name).toEqual(single.result.rows[0].tokens);
      expect(batch.result.rows[b].tokens, name).toEqual(golden.tokens);
      expect(batch.result.rows[b].promptTokens, name).toBe(goldenIds.length);
      batch.logits.forEach((step, k) => {
        const row = step.subarray(b * vocab, (b + 1) * vocab);
        expect(maxAbsDiff(row, single.logits[k]), `${name} step ${k} vs alone`).toBeLessThanOrEqual(LOGITS_TOLERANCE);
        expect(maxAbsDiff(row, golden.logits(k)), `${name} step ${k} vs golden`).toBeLessThanOrEqual(LOGITS_TOLERANCE);
      });
    }
    expect(inputs.imageGridThw).toEqual(NAMES.flatMap(goldenGrids));
  });
});
