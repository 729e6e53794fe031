import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import sharp from 'sharp';
import { AutoProcessor, Qwen2_5_VLForConditionalGeneration, RawImage, env } from '@huggingface/transformers';
import type { PreTrainedModel, Processor, Tensor } from '@huggingface/transformers';
import { buildModelFolder } from '@qwen-vl/builder';
import { MODEL_DIR, goldenImage } from '@qwen-vl/test-support';
import { QwenVL } from '../src/index.js';
import { useTempDir } from './helpers/temp-dir.js';

/**
 * The peer check of `qwen-vl build --layout transformers.js`: transformers.js itself
 * (@huggingface/transformers 4.3.2, the first major version with Qwen2.5-VL is 4.0) loads the
 * build of the golden tiny checkpoint from the local folder, offline, and its greedy tokens
 * are qwen-vl's on that same folder. The pictures' sides are multiples of 28 within the pixel
 * budget, so neither side resizes them and the preprocessing is exact on both; the prompts
 * have an image (transformers.js 4.3 shifts the decode positions of text-only prompts).
 */
const NEW_TOKENS = 8;
const FOLDER = 'tjs-golden';

const dir = useTempDir('qwen-vl-tjs-peer-');
let qwenVl: QwenVL;
let processor: Processor;
let peer: PreTrainedModel;
beforeAll(async () => {
  await buildModelFolder(MODEL_DIR, join(dir(), FOLDER), { layout: 'transformers.js' });
  env.allowRemoteModels = false;
  env.localModelPath = `${dir()}/`;
  processor = await AutoProcessor.from_pretrained(FOLDER);
  peer = await Qwen2_5_VLForConditionalGeneration.from_pretrained(FOLDER, { device: 'cpu' });
  qwenVl = await QwenVL.load(join(dir(), FOLDER));
}, 120_000);
afterAll(async () => {
  await Promise.all([qwenVl?.dispose(), peer?.dispose()]);
});

/** A lossless picture of `width × height` (multiples of 28) cut from a golden photo, so both runtimes decode the same pixels. */
async function picture(width: number, height: number): Promise<string> {
  const path = join(dir(), `picture-${width}x${height}.png`);
  await sharp(goldenImage('checker_640x480.jpg')).resize(width, height).png().toFile(path);
  return path;
}

async function transformersJsTokens(images: readonly string[], text: string): Promise<{ tokens: number[]; promptLength: number }> {
  const messages = [{ role: 'user', content: [...images.map(() => ({ type: 'image' })), { type: 'text', text }] }];
  const prompt = processor.apply_chat_template(messages, { add_generation_prompt: true });
  const inputs = await processor(prompt, await Promise.all(images.map((path) => RawImage.read(path))));
  const output = (await peer.generate({ ...inputs, max_new_tokens: NEW_TOKENS, do_sample: false, repetition_penalty: 1 })) as Tensor;
  const promptLength = (inputs.input_ids as Tensor).dims[1];
  return { tokens: (output.tolist() as bigint[][])[0].slice(promptLength).map(Number), promptLength };
}

describe('transformers.js on a --layout transformers.js build of the golden model', { timeout: 120_000 }, () => {
  it.each([
    [224, 168, 'What is in the picture?'],
    [56, 84, 'Describe this image.'],
  ])('a %i×%i picture: the same greedy tokens as qwen-vl on that folder', async (width, height, text) => {
    const image = await picture(width, height);
    const theirs = await transformersJsTokens([image], text);
    const ours = await qwenVl.chat(
      [
        {
          role: 'user',
          content: [
            { type: 'image', image },
            { type: 'text', text },
          ],
        },
      ],
      { greedy: true, repetitionPenalty: 1, maxNewTokens: NEW_TOKENS },
    );
    console.info(`${width}×${height}: transformers.js ${JSON.stringify(theirs.tokens)}, qwen-vl ${JSON.stringify(ours.tokens)}`);
    expect(theirs.promptLength).toBe(ours.promptTokenIds.length);
    expect(theirs.tokens).toEqual(ours.tokens);
    expect(ours.tokens.length).toBe(NEW_TOKENS);
  });
});
