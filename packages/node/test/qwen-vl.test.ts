import { cp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildModelFolder } from '@qwen-vl/builder';
import { QwenVLError } from '@qwen-vl/core';
import { FORMAT_VERSION } from '@qwen-vl/pipeline';
import { GOLDEN_SEARCH as GOLDEN_RUN, GOLDEN_STEPS, LOGITS_TOLERANCE, MODEL_DIR, goldenArray, goldenImage, goldenJson, goldenSteps, maxAbsDiff, numbers } from '@qwen-vl/test-support';
import { InputPreparer, QwenVL, decodeImage } from '../src/index.js';
import type { ChatOptions, ImageInput, QwenVLLoadOptions, QwenVLMessage } from '../src/index.js';
import { useTempDir } from './helpers/temp-dir.js';

const IMAGE_PAD_ID = 151655;
const VIDEO_PAD_ID = 151656;
/** As in the golden cases: greedy on raw logits, 8 tokens through EOS. */
const GOLDEN_SEARCH: ChatOptions = { ...GOLDEN_RUN, maxNewTokens: GOLDEN_STEPS };

const GRADIENT = goldenImage('gradient_300x200.png');
const NOISE = goldenImage('noise_rgba_50x70.png');

const dir = useTempDir('qwen-vl-api-');
let model: QwenVL;
beforeAll(async () => {
  const built = await buildModelFolder(MODEL_DIR, join(dir(), 'model'));
  model = await QwenVL.load(built.output);
});
afterAll(async () => {
  await model?.dispose();
});

function describeImage(image: ImageInput): QwenVLMessage[] {
  return [
    {
      role: 'user',
      content: [
        { type: 'image', image },
        { type: 'text', text: 'Describe this image.' },
      ],
    },
  ];
}

/** Image pads per golden image: one per merged 2×2 patch of its grid. */
function imageTokens(caseName: string, index: number): number {
  const [t, h, w] = numbers(goldenArray(caseName, 'grid_thw').data).slice(3 * index, 3 * index + 3);
  return (t * h * w) / 4;
}

function count(ids: ArrayLike<number>, id: number): number {
  return Array.from(ids).filter((x) => x === id).length;
}

describe('QwenVL', () => {
  it('chat answers the golden one_image prompt with the golden tokens', async () => {
    const result = await model.chat(describeImage(GRADIENT), { ...GOLDEN_SEARCH, logprobs: true });
    expect(result.tokens).toEqual(numbers(goldenArray('one_image', 'tokens').data));
    expect(numbers(result.promptTokenIds)).toEqual(numbers(goldenArray('one_image', 'input_ids').data));
    expect(result.finishReason).toBe('length');
    expect(result.logprobs).toHaveLength(8);
    expect(Math.max(...result.logprobs.map((p, i) => Math.abs(p - goldenJson('one_image').logprobs[i])))).toBeLessThan(1e-3);
  });

  it('chatStream yields the same tokens and text as chat, piece by piece', async () => {
    const whole = await model.chat(describeImage(GRADIENT), GOLDEN_SEARCH);
    const stream = model.chatStream(describeImage(GRADIENT), GOLDEN_SEARCH);
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    const result = await stream.result;
    expect(chunks.map((c) => c.tokenId)).toEqual(whole.tokens);
    expect(chunks.map((c) => c.text).join('')).toBe(whole.text);
    expect(result.text).toBe(whole.text);
    expect(result.tokens).toEqual(whole.tokens);
    expect(whole.text.length).toBeGreaterThan(0);
  });

  it('stops the generation when the reader leaves the loop (result rejects with ABORTED), and frees the model for the next call', async () => {
    const steps: number[] = [];
    const stream = model.chatStream(describeImage(GRADIENT), { ...GOLDEN_SEARCH, onStepLogits: (step) => steps.push(step) });
    for await (const chunk of stream) {
      expect(chunk.tokenId).toBe(numbers(goldenArray('one_image', 'tokens').data)[0]);
      break;
    }
    await expect(stream.result).rejects.toMatchObject({ name: 'QwenVLError', code: 'ABORTED', source: 'chat stream' });
    // Only the prefill ran: no step after the reader left.
    expect(steps).toEqual([0]);
    const next = await model.chat(describeImage(GRADIENT), GOLDEN_SEARCH);
    expect(next.tokens).toEqual(numbers(goldenArray('one_image', 'tokens').data));
  });

  it('takes an image as a path, a Buffer or a file: URL alike', async () => {
    const bytes = await readFile(GRADIENT);
    const [fromPath, fromBuffer, fromUrl, fromUrlString] = await Promise.all(
      [GRADIENT, bytes, pathToFileURL(GRADIENT), pathToFileURL(GRADIENT).href].map((image) => model.chat(describeImage(image), GOLDEN_SEARCH)),
    );
    expect(fromBuffer.tokens).toEqual(fromPath.tokens);
    expect(fromUrl.tokens).toEqual(fromPath.tokens);
    expect(fromUrlString.tokens).toEqual(fromPath.tokens);
  });

  it("keeps the first turn's image in the context of the second turn", async () => {
    const first: QwenVLMessage[] = [
      {
        role: 'user',
        content: [
          { type: 'image', image: GRADIENT },
          { type: 'text', text: 'Describe this image.' },
        ],
      },
    ];
    const answer = await model.chat(first, { maxNewTokens: 4 });
    expect(count(answer.promptTokenIds, IMAGE_PAD_ID)).toBe(imageTokens('two_images', 0));
    const second: QwenVLMessage[] = [
      ...first,
      { role: 'assistant', content: answer.text },
      {
        role: 'user',
        content: [
          { type: 'image', image: NOISE },
          { type: 'text', text: 'And this one?' },
        ],
      },
    ];
    const followUp = await model.chat(second, { maxNewTokens: 4 });
    expect(count(followUp.promptTokenIds, IMAGE_PAD_ID)).toBe(imageTokens('two_images', 0) + imageTokens('two_images', 1));
    // The first turn, images and all, is the start of the second turn's prompt.
    const firstTurnEnd = numbers(answer.promptTokenIds).lastIndexOf(IMAGE_PAD_ID);
    expect(numbers(followUp.promptTokenIds).slice(0, firstTurnEnd + 1)).toEqual(numbers(answer.promptTokenIds).slice(0, firstTurnEnd + 1));
  });

  it("continues a conversation from the previous call's cache: the same logits as a fresh model, its image not encoded again", async () => {
    const firstTurn = describeImage(GRADIENT);
    // One new token: the cache then holds exactly the first prompt, which the second one begins with.
    const first = await model.chat(firstTurn, { ...GOLDEN_SEARCH, maxNewTokens: 1 });
    const secondTurn = (image: ImageInput): QwenVLMessage[] => [
      {
        role: 'user',
        content: [
          { type: 'image', image },
          { type: 'text', text: 'Describe this image.' },
        ],
      },
      { role: 'assistant', content: 'A smooth gradient.' },
      { role: 'user', content: 'Which colours does it have?' },
    ];
    const run = async (on: QwenVL, messages: QwenVLMessage[]) => {
      const logits: Float32Array[] = [];
      const result = await on.chat(messages, { ...GOLDEN_SEARCH, onStepLogits: (_, step) => logits.push(step) });
      return { result, logits };
    };
    const continued = await run(model, secondTurn(GRADIENT));
    const fresh = await QwenVL.load(join(dir(), 'model'));
    try {
      const reference = await run(fresh, secondTurn(GRADIENT));
      expect(reference.result.cachedPromptTokens).toBe(0);
      expect(continued.result.cachedPromptTokens).toBe(first.promptTokenIds.length);
      expect(numbers(continued.result.promptTokenIds)).toEqual(numbers(reference.result.promptTokenIds));
      expect(continued.result.tokens).toEqual(reference.result.tokens);
      const diff = Math.max(...continued.logits.map((step, i) => maxAbsDiff(step, reference.logits[i])));
      console.info(
        `second turn over the cached first (${first.promptTokenIds.length} of ${continued.result.promptTokenIds.length} tokens cached): max |logit diff| vs a fresh model ${diff.toExponential(2)}; vision ${continued.result.timings.visionMs.toFixed(1)} ms vs ${reference.result.timings.visionMs.toFixed(1)} ms`,
      );
      expect(diff).toBeLessThanOrEqual(1e-5);

      // The same words about another image: nothing reused, and still the fresh model's answer.
      const otherImage = await run(model, secondTurn(NOISE));
      const otherReference = await run(fresh, secondTurn(NOISE));
      expect(otherImage.result.cachedPromptTokens).toBe(0);
      expect(otherImage.result.tokens).toEqual(otherReference.result.tokens);
    } finally {
      await fresh.dispose();
    }
  });

  it('takes a video of two identical frames as the image itself: the golden one_image tokens and logits', async () => {
    // Hugging Face repeats an image to the 2-frame temporal patch, so both give the same patches, grid and positions.
    const steps: Float32Array[] = [];
    const messages: QwenVLMessage[] = [
      {
        role: 'user',
        content: [
          { type: 'video', video: [GRADIENT, GRADIENT] },
          { type: 'text', text: 'Describe this image.' },
        ],
      },
    ];
    const result = await model.chat(messages, { ...GOLDEN_SEARCH, onStepLogits: (_step, logits) => steps.push(logits) });
    const goldenIds = numbers(goldenArray('one_image', 'input_ids').data);
    expect(numbers(result.promptTokenIds)).toEqual(goldenIds.map((id) => (id === IMAGE_PAD_ID ? VIDEO_PAD_ID : id)));
    expect(result.tokens).toEqual(numbers(goldenArray('one_image', 'tokens').data));
    const golden = goldenArray('one_image', 'logits');
    const vocab = golden.dims[1];
    const diff = Math.max(...steps.map((row, k) => maxAbsDiff(row, (golden.data as Float32Array).subarray(k * vocab, (k + 1) * vocab))));
    console.info(`2-frame video of the one_image picture: max |logit diff| vs golden ${diff.toExponential(2)}`);
    expect(diff).toBeLessThanOrEqual(1e-3);
  });

  it("spaces a video's temporal steps by second_per_grid_t · tokens_per_second in the t positions (fps 2: 2, fps 1: 4)", async () => {
    const preparer = await InputPreparer.load(join(dir(), 'model'));
    const frame = await decodeImage(GRADIENT);
    const messages = [{ role: 'user' as const, content: [{ type: 'video' as const }, { type: 'text' as const, text: 'What happens?' }] }];
    for (const [fps, step] of [
      [2, 2],
      [1, 4],
    ]) {
      const prepared = preparer.prepareMessages(messages, { videos: [[frame, frame, frame, frame]] }, { fps });
      expect(prepared.videoGridThw).toEqual([[2, 14, 22]]);
      const first = Array.from(prepared.inputIds.data).indexOf(VIDEO_PAD_ID);
      const perStep = (14 * 22) / 4;
      expect(count(prepared.inputIds.data, VIDEO_PAD_ID)).toBe(2 * perStep);
      const position = (axis: number, token: number) => prepared.positions.positionIds[axis * prepared.positions.length + token];
      expect(position(0, first + perStep) - position(0, first)).toBe(step);
      // h and w start over at each temporal step.
      expect([position(1, first + perStep), position(2, first + perStep)]).toEqual([position(1, first), position(2, first)]);
    }
    const result = await model.chat(
      [
        {
          role: 'user',
          content: [
            { type: 'video', video: [GRADIENT, GRADIENT, NOISE, NOISE], fps: 1 },
            { type: 'text', text: 'What happens?' },
          ],
        },
      ],
      { ...GOLDEN_SEARCH, maxNewTokens: 2 },
    );
    expect(count(result.promptTokenIds, VIDEO_PAD_ID)).toBe((2 * (14 * 22)) / 4);
    expect(result.tokens).toHaveLength(2);
  });

  it('rejects a video that is not a list of frames, a bad fps and a corrupt frame, naming the item', async () => {
    const video = (part: object): QwenVLMessage[] => [{ role: 'user', content: [{ type: 'video', ...part } as never, { type: 'text', text: 'x' }] }];
    await expect(model.chat(video({ video: GRADIENT }))).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', source: 'messages[0].content[0].video' });
    await expect(model.chat(video({ video: [] }))).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', source: 'messages[0].content[0].video' });
    await expect(model.chat(video({ video: [GRADIENT, GRADIENT], fps: 0 }))).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', source: 'messages[0].content[0].fps' });
    await expect(model.chat(video({ video: [GRADIENT, new Uint8Array([1, 2, 3])] }))).rejects.toMatchObject({ code: 'INVALID_IMAGE', source: 'messages[0].content[0].video[1] (bytes)' });
  });

  it('puts the system option in front as the system message', async () => {
    const withDefault = await model.chat([{ role: 'user', content: 'Hi' }], { maxNewTokens: 1 });
    const withSystem = await model.chat([{ role: 'user', content: 'Hi' }], { maxNewTokens: 1, system: 'Be brief.' });
    const withMessage = await model.chat(
      [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Hi' },
      ],
      { maxNewTokens: 1 },
    );
    expect(numbers(withSystem.promptTokenIds)).toEqual(numbers(withMessage.promptTokenIds));
    expect(numbers(withSystem.promptTokenIds)).not.toEqual(numbers(withDefault.promptTokenIds));
    await expect(
      model.chat(
        [
          { role: 'system', content: 'A' },
          { role: 'user', content: 'Hi' },
        ],
        { system: 'B' },
      ),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('reports the raw logits of every step to onStepLogits', async () => {
    const steps: Float32Array[] = [];
    await model.chat(describeImage(GRADIENT), { ...GOLDEN_SEARCH, onStepLogits: (_step, logits) => steps.push(logits.slice()) });
    const golden = goldenSteps('one_image');
    expect(steps).toHaveLength(GOLDEN_STEPS);
    steps.forEach((row, k) => expect(maxAbsDiff(row, golden.logits(k)), `step ${k}`).toBeLessThanOrEqual(LOGITS_TOLERANCE));
  });

  it('rejects bad input naming the message item or option', async () => {
    await expect(model.chat(describeImage('https://example.com/cat.jpg'))).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', source: 'messages[0].content[0].image' });
    // decodeImage can only call bytes "image bytes": the chat names the message item instead, the reason and the decoder's error kept.
    const bytesError = await model.chat(describeImage(new Uint8Array([1, 2, 3]))).catch((error: unknown) => error);
    expect(bytesError).toBeInstanceOf(QwenVLError);
    expect(bytesError).toMatchObject({ code: 'INVALID_IMAGE', source: 'messages[0].content[0].image (bytes)', reason: expect.stringMatching(/^cannot decode image \(.+\)$/) });
    const { source, reason, cause } = bytesError as QwenVLError;
    expect((bytesError as QwenVLError).message).toBe(`${source}: ${reason}`);
    expect(cause).toBeInstanceOf(Error);
    expect(cause).not.toBeInstanceOf(QwenVLError);
    await expect(model.chat(describeImage(join(dir(), 'absent.png')))).rejects.toMatchObject({ code: 'MISSING_FILE', source: join(dir(), 'absent.png') });
    await expect(model.chat(describeImage(GRADIENT), { topP: 2 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', source: 'search option "topP"' });
  });

  it('refuses a folder built for another format version, saying to build it again', async () => {
    const old = join(dir(), 'old-format');
    await cp(join(dir(), 'model'), old, { recursive: true });
    const manifest = JSON.parse(await readFile(join(old, 'qwen-vl.json'), 'utf8'));
    await writeFile(join(old, 'qwen-vl.json'), JSON.stringify({ ...manifest, formatVersion: 1 }));
    await expect(QwenVL.load(old)).rejects.toMatchObject({
      code: 'INVALID_MODEL',
      source: join(old, 'qwen-vl.json'),
      message: expect.stringContaining(`was written for format version 1; this version of qwen-vl reads format ${FORMAT_VERSION}: run "qwen-vl build"`),
    });
    // The right version with a part whose weight files are not a list of names.
    const parts = manifest.parts.map((part: object, i: number) => (i === 2 ? { ...part, externalData: 'decoder.onnx.data' } : part));
    await writeFile(join(old, 'qwen-vl.json'), JSON.stringify({ ...manifest, parts }));
    await expect(QwenVL.load(old)).rejects.toMatchObject({ code: 'INVALID_MODEL', source: join(old, 'qwen-vl.json'), message: expect.stringContaining('field "parts[2]" must be a part with') });
  });

  it('fails to load on a device onnxruntime-node cannot use here, saying what is missing', async () => {
    const device = process.platform === 'win32' ? 'webgpu' : 'dml';
    // A folder built for the device, so that what fails is the device.
    const built = await buildModelFolder(MODEL_DIR, join(dir(), `model-${device}`), { executionProvider: device });
    await expect(QwenVL.load(built.output, { device })).rejects.toMatchObject({ code: 'BACKEND_UNAVAILABLE', message: expect.stringMatching(/execution provider/) });
  });

  it('refuses a folder built for cpu on a device that does not run its GroupQueryAttention decoder, naming the build to make', async () => {
    const folder = join(dir(), 'model');
    expect(JSON.parse(await readFile(join(folder, 'qwen-vl.json'), 'utf8')).executionProvider).toBe('cpu');
    for (const device of ['webgpu', 'dml', 'cuda'] as const) {
      await expect(QwenVL.load(folder, { device })).rejects.toMatchObject({
        code: 'INVALID_MODEL',
        source: `${join(folder, 'qwen-vl.json')} field "executionProvider"`,
        message: expect.stringContaining(`rebuild the folder with "qwen-vl build --execution-provider ${device}"`),
      });
    }
  });

  it('refuses options it would ignore or misread, before reading the folder: a misspelt one, an unknown device, not an object', async () => {
    const folder = join(dir(), 'model');
    const load = (options: unknown) => QwenVL.load(folder, options as QwenVLLoadOptions);
    await expect(load({ devise: 'cpu' })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: 'QwenVL.load options.devise: is not an option here; the options are device, intraOpThreads, dtype, maxBatch, prepareThreads',
    });
    await expect(load({ device: 'tpu' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: 'QwenVL.load options.device: must be one of cpu, cuda, dml, webgpu, got "tpu"' });
    await expect(load(null)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: 'QwenVL.load options: must be an object, got null' });
  });

  it('refuses a Hugging Face folder, pointing at qwen-vl build', async () => {
    await expect(QwenVL.load(MODEL_DIR)).rejects.toMatchObject({ code: 'MISSING_FILE', source: join(MODEL_DIR, 'embed.onnx'), message: expect.stringContaining('qwen-vl build') });
  });
});

/**
 * `ChatOptions.signal`, as the READMEs promise it (node: "the answer ends with finishReason
 * 'aborted'"; decoder: the signal is checked before every model run, a run in flight completes
 * and its tokens are still emitted, the text already streamed is kept, the session stays
 * usable; node, multi-turn: the KV cache holds the prompt and the answer tokens fed back).
 */
describe('QwenVL chat with an abort signal', () => {
  const goldenTokens = () => numbers(goldenArray('one_image', 'tokens').data);
  const textTurn = (text: string): QwenVLMessage[] => [{ role: 'user', content: text }];

  it('already aborted: resolves with finishReason aborted, no token, no text and no decoder run', async () => {
    const steps: number[] = [];
    const result = await model.chat(describeImage(GRADIENT), { ...GOLDEN_SEARCH, logprobs: true, signal: AbortSignal.abort(), onStepLogits: (step) => steps.push(step) });
    expect(result).toMatchObject({ finishReason: 'aborted', tokens: [], logprobs: [], text: '', cachedPromptTokens: 0 });
    expect(result.timings.steps).toBe(0);
    expect(steps).toEqual([]);
    // The prompt was still prepared: the result shows what the model would have seen.
    expect(numbers(result.promptTokenIds)).toEqual(numbers(goldenArray('one_image', 'input_ids').data));
  });

  it("aborted while a step runs: that step's token is still emitted, nothing runs after it, the streamed tokens and text are the answer", async () => {
    const controller = new AbortController();
    const steps: number[] = [];
    const stream = model.chatStream(describeImage(GRADIENT), {
      ...GOLDEN_SEARCH,
      logprobs: true,
      signal: controller.signal,
      onStepLogits: (step) => {
        steps.push(step);
        // onStepLogits runs between the decoder run and the token choice: the run of step 2 is done, its token not yet chosen.
        if (step === 2) controller.abort();
      },
    });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    const result = await stream.result;
    expect(steps).toEqual([0, 1, 2]);
    expect(chunks.map((chunk) => chunk.tokenId)).toEqual(goldenTokens().slice(0, 3));
    expect(result).toMatchObject({ finishReason: 'aborted', tokens: goldenTokens().slice(0, 3) });
    expect(result.logprobs).toHaveLength(3);
    expect(result.text).toBe(chunks.map((chunk) => chunk.text).join(''));
    // The model is free and unchanged for the next call.
    expect((await model.chat(describeImage(GRADIENT), GOLDEN_SEARCH)).tokens).toEqual(goldenTokens());
  });

  it('the KV cache keeps what ran: after an abort at the first token a continuation reuses the prompt; after an abort before the prefill, nothing', async () => {
    const fresh = await QwenVL.load(join(dir(), 'model'));
    const continuation = (first: QwenVLMessage[]): QwenVLMessage[] => [...first, { role: 'assistant', content: 'A smooth gradient.' }, { role: 'user', content: 'Which colours does it have?' }];
    const run = async (on: QwenVL, messages: QwenVLMessage[]) => {
      const logits: Float32Array[] = [];
      const result = await on.chat(messages, { ...GOLDEN_SEARCH, onStepLogits: (_, step) => logits.push(step.slice()) });
      return { result, logits };
    };
    const expectFreshAnswer = async (continued: Awaited<ReturnType<typeof run>>, messages: QwenVLMessage[]) => {
      const reference = await run(fresh, messages);
      expect(reference.result.cachedPromptTokens).toBe(0);
      expect(continued.result.tokens).toEqual(reference.result.tokens);
      expect(Math.max(...continued.logits.map((step, i) => maxAbsDiff(step, reference.logits[i])))).toBeLessThanOrEqual(1e-5);
    };
    try {
      // Aborted at the first token: the prefill ran, so the cache holds the prompt (the token was never fed back).
      const controller = new AbortController();
      const first = await model.chat(describeImage(GRADIENT), { ...GOLDEN_SEARCH, signal: controller.signal, onStepLogits: () => controller.abort() });
      expect(first).toMatchObject({ finishReason: 'aborted', tokens: goldenTokens().slice(0, 1) });
      const afterPrefill = await run(model, continuation(describeImage(GRADIENT)));
      expect(afterPrefill.result.cachedPromptTokens).toBe(first.promptTokenIds.length);
      await expectFreshAnswer(afterPrefill, continuation(describeImage(GRADIENT)));

      // Aborted before the prefill: the decoder still holds the previous conversation, which must not be taken for this one,
      // even when it is exactly as long as this prompt.
      const previous = await model.chat(textTurn('Hello, who are you?'), { ...GOLDEN_SEARCH, maxNewTokens: 1 });
      const aborted = await model.chat(textTurn('Hello, who are we?'), { ...GOLDEN_SEARCH, signal: AbortSignal.abort() });
      expect(aborted.promptTokenIds.length).toBe(previous.promptTokenIds.length);
      expect(numbers(aborted.promptTokenIds)).not.toEqual(numbers(previous.promptTokenIds));
      const afterAbort = await run(model, continuation(textTurn('Hello, who are we?')));
      expect(afterAbort.result.cachedPromptTokens).toBe(0);
      await expectFreshAnswer(afterAbort, continuation(textTurn('Hello, who are we?')));
    } finally {
      await fresh.dispose();
    }
  });
});
