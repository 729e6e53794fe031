import { beforeAll, describe, expect, it } from 'vitest';
import sharp from 'sharp';
import { isQwenVLError } from '@qwen-vl/core';
import type { QwenVLErrorCode } from '@qwen-vl/core';
import type { RawImage } from '../src/image.js';
import type { ChatMessage } from '../src/messages.js';
import { QwenVLProcessor } from '../src/processor.js';
import { GOLDEN_CASES, MODEL_DIR, goldenArray, goldenGrids, goldenImage, goldenJson, numbers } from '@qwen-vl/test-support';
import { fsModelFolder } from './helpers/fs-model-folder.js';

const IM_START = 151644;
const IM_END = 151645;
const NEWLINE = 198;
const VISION_START = 151652;
const VISION_END = 151653;
const IMAGE_PAD = 151655;
const VIDEO_PAD = 151656;
const PAD = 151643;
const SYSTEM_TURN = [IM_START, 8948, NEWLINE, 2610, 525, 264, 10950, 17847, 13, IM_END, NEWLINE];
const USER_OPEN = [IM_START, 872, NEWLINE];
const ASSISTANT_OPEN = [IM_START, 77091, NEWLINE];
const HELLO_WHO_ARE_YOU = [9707, 11, 879, 525, 498, 30];
const YOU_ARE_A_HELPFUL_ASSISTANT = [2610, 525, 264, 10950, 17847, 13];

async function loadImage(name: string): Promise<RawImage> {
  const { data, info } = await sharp(goldenImage(name)).raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, channels: info.channels, data: new Uint8Array(data.buffer, data.byteOffset, data.length) };
}

function solidImage(width: number, height: number): RawImage {
  return { width, height, channels: 3, data: new Uint8Array(width * height * 3).fill(128) };
}

function caught(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  return undefined;
}

function expectQwenError(error: unknown, code: QwenVLErrorCode, ...mentions: string[]): void {
  expect(isQwenVLError(error, code), `expected ${code}, got ${String(error)}`).toBe(true);
  for (const text of mentions) expect((error as Error).message).toContain(text);
}

/** A golden case's conversation: images first in the user turn, then the text (golden README). */
function caseMessages(name: string): ChatMessage[] {
  const { images, prompt } = GOLDEN_CASES.find((goldenCase) => goldenCase.name === name)!;
  return [{ role: 'user', content: [...images.map((image) => ({ type: 'image' as const, image })), { type: 'text', text: prompt }] }];
}

/** A golden case's input ids, image grids and patch count. */
function readGoldenCase(name: string) {
  return { inputIds: numbers(goldenArray(name, 'input_ids').data), gridThw: goldenGrids(name), patchCount: goldenJson(name).pixel_values_shape[0] };
}

describe('QwenVLProcessor on the golden cases', () => {
  let processor: QwenVLProcessor;
  const images = new Map<string, RawImage[]>();
  beforeAll(async () => {
    processor = await QwenVLProcessor.fromFolder(fsModelFolder(MODEL_DIR));
    for (const { name, images: files } of GOLDEN_CASES) images.set(name, await Promise.all(files.map(loadImage)));
  });

  it.each(GOLDEN_CASES.map((goldenCase) => goldenCase.name))('%s: input ids, grids and patch count equal the golden files', (name) => {
    const golden = readGoldenCase(name);
    const prepared = processor.prepare(caseMessages(name), { images: images.get(name) });
    expect(prepared.inputIds.dims).toEqual([1, golden.inputIds.length]);
    expect(Array.from(prepared.inputIds.data)).toEqual(golden.inputIds);
    expect(Array.from(prepared.attentionMask.data)).toEqual(golden.inputIds.map(() => 1));
    expect(prepared.attentionMask.dims).toEqual([1, golden.inputIds.length]);
    expect(prepared.imageGridThw).toEqual(golden.gridThw);
    expect(prepared.patchCount).toBe(golden.patchCount);
    expect(prepared.pixelValues.length).toBe(golden.patchCount * 1176);
    expect(prepared.rowSize).toBe(1176);
    expect(prepared.videoGridThw).toEqual([]);
    expect(prepared.pixelValuesVideos.length).toBe(0);
  });

  it('returns the unexpanded prompt in the algorithms.md §2.1 form', () => {
    const prepared = processor.prepare(caseMessages('one_image'), { images: images.get('one_image') });
    expect(prepared.prompts).toEqual([
      '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>Describe this image.<|im_end|>\n<|im_start|>assistant\n',
    ]);
  });

  it('prepares a left-padded batch of two conversations with their own images', () => {
    const twoImages = readGoldenCase('two_images').inputIds;
    const textOnly = readGoldenCase('text_only').inputIds;
    const oneImage = readGoldenCase('one_image');
    const batch = processor.prepareBatch(
      [caseMessages('two_images'), caseMessages('text_only'), caseMessages('one_image')],
      [{ images: images.get('two_images') }, {}, { images: images.get('one_image') }],
    );
    const length = Math.max(twoImages.length, textOnly.length, oneImage.inputIds.length);
    expect(batch.inputIds.dims).toEqual([3, length]);
    expect(batch.attentionMask.dims).toEqual([3, length]);
    const row = (b: number) => Array.from(batch.inputIds.data.subarray(b * length, (b + 1) * length));
    const maskRow = (b: number) => Array.from(batch.attentionMask.data.subarray(b * length, (b + 1) * length));
    for (const [b, ids] of [twoImages, textOnly, oneImage.inputIds].entries()) {
      const padding = length - ids.length;
      expect(row(b)).toEqual([...new Array<number>(padding).fill(PAD), ...ids]);
      expect(maskRow(b)).toEqual([...new Array<number>(padding).fill(0), ...new Array<number>(ids.length).fill(1)]);
    }
    expect(batch.imageGridThw).toEqual([...readGoldenCase('two_images').gridThw, ...oneImage.gridThw]);
    expect(batch.prompts[1]).toContain('Hello, who are you?');
  });
});

describe('QwenVLProcessor.preparePrompts (prompts already rendered)', () => {
  let processor: QwenVLProcessor;
  beforeAll(async () => {
    processor = await QwenVLProcessor.fromFolder(fsModelFolder(MODEL_DIR));
  });

  it('gives a rendered prompt the inputs of the messages it came from; several are left-padded like prepareBatch', async () => {
    const two = await Promise.all(['gradient_300x200.png', 'noise_rgba_50x70.png'].map(loadImage));
    const fromMessages = processor.prepare(caseMessages('two_images'), { images: two });
    expect(processor.preparePrompts(fromMessages.prompts, [{ images: two }])).toEqual(fromMessages);
    const batch = processor.prepareBatch([caseMessages('two_images'), caseMessages('text_only')], [{ images: two }, {}]);
    expect(processor.preparePrompts(batch.prompts, [{ images: two }, {}])).toEqual(batch);
  });

  it('rejects a prompt whose placeholders do not match its media, naming it', () => {
    expectQwenError(
      caught(() => processor.preparePrompts(['<|vision_start|><|image_pad|><|vision_end|>Hi'], [])),
      'PLACEHOLDER_MISMATCH',
      'prompts[0]: the prompt has 1 image placeholder but 0 images were given',
    );
    expectQwenError(
      caught(() => processor.preparePrompts([])),
      'INVALID_ARGUMENT',
      'prompts: needs at least one prompt',
    );
    expectQwenError(
      caught(() => processor.preparePrompts(['a', 'b'], [{}])),
      'INVALID_ARGUMENT',
      'media: has 1 entries for 2 conversations',
    );
  });
});

describe('QwenVLProcessor prompts, media and errors', () => {
  let processor: QwenVLProcessor;
  beforeAll(async () => {
    processor = await QwenVLProcessor.fromFolder(fsModelFolder(MODEL_DIR));
  });

  it('uses an explicit system message', () => {
    const messages: ChatMessage[] = [
      { role: 'system', content: 'Hello, who are you?' },
      { role: 'user', content: 'You are a helpful assistant.' },
    ];
    expect(Array.from(processor.prepare(messages).inputIds.data)).toEqual([
      IM_START,
      8948,
      NEWLINE,
      ...HELLO_WHO_ARE_YOU,
      IM_END,
      NEWLINE,
      ...USER_OPEN,
      ...YOU_ARE_A_HELPFUL_ASSISTANT,
      IM_END,
      NEWLINE,
      ...ASSISTANT_OPEN,
    ]);
  });

  it('expands the image of a later turn in a multi-turn conversation', () => {
    // 56×56 → grid [1, 4, 4] → 1·4·4 / 2² = 4 image tokens.
    const messages: ChatMessage[] = [
      { role: 'user', content: 'Hello, who are you?' },
      { role: 'assistant', content: 'You are a helpful assistant.' },
      { role: 'user', content: [{ type: 'image' }] },
    ];
    const prepared = processor.prepare(messages, { images: [solidImage(56, 56)] }, { addGenerationPrompt: false });
    expect(prepared.imageGridThw).toEqual([[1, 4, 4]]);
    expect(Array.from(prepared.inputIds.data)).toEqual([
      ...SYSTEM_TURN,
      ...USER_OPEN,
      ...HELLO_WHO_ARE_YOU,
      IM_END,
      NEWLINE,
      ...ASSISTANT_OPEN,
      ...YOU_ARE_A_HELPFUL_ASSISTANT,
      IM_END,
      NEWLINE,
      ...USER_OPEN,
      VISION_START,
      IMAGE_PAD,
      IMAGE_PAD,
      IMAGE_PAD,
      IMAGE_PAD,
      VISION_END,
      IM_END,
      NEWLINE,
    ]);
  });

  it('expands a video pad to t·h·w/4 tokens and reports seconds per grid step', () => {
    // 4 frames of 56×84 → grid [4/2, 4, 6] → 2·4·6 / 4 = 12 video tokens; 2 frames per step at 4 fps = 0.5 s.
    const frames = Array.from({ length: 4 }, () => solidImage(84, 56));
    const messages: ChatMessage[] = [{ role: 'user', content: [{ type: 'video' }, { type: 'text', text: 'Hello, who are you?' }] }];
    const prepared = processor.prepare(messages, { videos: [frames] }, { fps: 4 });
    expect(prepared.videoGridThw).toEqual([[2, 4, 6]]);
    expect(prepared.secondPerGridT).toEqual([0.5]);
    expect(prepared.videoPatchCount).toBe(48);
    expect(prepared.pixelValuesVideos.length).toBe(48 * 1176);
    expect(prepared.imageGridThw).toEqual([]);
    expect(Array.from(prepared.inputIds.data)).toEqual([
      ...SYSTEM_TURN,
      ...USER_OPEN,
      VISION_START,
      ...new Array<number>(12).fill(VIDEO_PAD),
      VISION_END,
      ...HELLO_WHO_ARE_YOU,
      IM_END,
      NEWLINE,
      ...ASSISTANT_OPEN,
    ]);
  });

  it('rejects fewer images than image placeholders', () => {
    const messages: ChatMessage[] = [{ role: 'user', content: [{ type: 'image' }, { type: 'image' }, { type: 'text', text: 'x' }] }];
    const error = caught(() => processor.prepare(messages, { images: [solidImage(56, 56)] }));
    expectQwenError(error, 'PLACEHOLDER_MISMATCH', 'the prompt has 2 image placeholders but 1 image was given');
  });

  it('rejects more images than image placeholders', () => {
    const messages: ChatMessage[] = [{ role: 'user', content: [{ type: 'image' }, { type: 'text', text: 'x' }] }];
    const error = caught(() => processor.prepare(messages, { images: [solidImage(56, 56), solidImage(56, 56)] }));
    expectQwenError(error, 'PLACEHOLDER_MISMATCH', 'the prompt has 1 image placeholder but 2 images were given');
  });

  it('rejects a video placeholder without a video', () => {
    const messages: ChatMessage[] = [{ role: 'user', content: [{ type: 'video' }] }];
    expectQwenError(
      caught(() => processor.prepare(messages)),
      'PLACEHOLDER_MISMATCH',
      '1 video placeholder but 0 videos were given',
    );
  });

  it('names the conversation whose media do not match in a batch', () => {
    const error = caught(() => processor.prepareBatch([caseMessages('text_only'), caseMessages('one_image')], [{}, {}]));
    expectQwenError(error, 'PLACEHOLDER_MISMATCH', 'conversations[1]', '1 image placeholder but 0 images');
  });

  it('rejects a media list whose length differs from the conversations', () => {
    const error = caught(() => processor.prepareBatch([caseMessages('text_only')], [{}, {}]));
    expectQwenError(error, 'INVALID_ARGUMENT', 'media');
  });

  it('rejects a malformed message, naming it', () => {
    const messages = [{ role: 'robot', content: 'hi' }] as unknown as ChatMessage[];
    expectQwenError(
      caught(() => processor.prepare(messages)),
      'INVALID_ARGUMENT',
      'messages[0].role',
    );
  });

  it('reports a missing tokenizer.json by name', async () => {
    const error = await QwenVLProcessor.fromFolder(fsModelFolder(MODEL_DIR, { 'tokenizer.json': null })).then(
      () => undefined,
      (e: unknown) => e,
    );
    expectQwenError(error, 'MISSING_FILE', 'tokenizer.json');
  });
});
