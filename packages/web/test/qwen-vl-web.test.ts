import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VisionLanguageModel } from '@qwen-vl/pipeline';
import type { ChatOptions } from '@qwen-vl/pipeline';
import { QwenVL, decodeImage } from '@qwen-vl/node';
import { buildModelFolder, writeTinyModelFolder } from '@qwen-vl/builder';
import { QwenVLWeb, UrlModelFolder, decodeBrowserImage, onnxruntimeWebBackend, openUrlModel } from '../src/index.js';
import type { LoadProgress } from '../src/index.js';
import { GOLDEN_SEARCH as GOLDEN_RUN, GOLDEN_STEPS, MODEL_DIR, goldenArray, goldenImage, maxAbsDiff, numbers } from '@qwen-vl/test-support';
import { serveFolder } from './helpers/folder-server.js';
import type { FolderServer } from './helpers/folder-server.js';

/** As in the golden cases: greedy on raw logits, 8 tokens through EOS. */
const GOLDEN_SEARCH: ChatOptions = { ...GOLDEN_RUN, maxNewTokens: GOLDEN_STEPS };

const goldenNumbers = (caseName: string, array: string): number[] => numbers(goldenArray(caseName, array).data);

let dir: string;
let modelDir: string;
let server: FolderServer;
let base: string;
let requests: string[];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'qwen-vl-web-'));
  modelDir = (await buildModelFolder(MODEL_DIR, join(dir, 'model'))).output;
  server = await serveFolder(() => modelDir);
  ({ base, requests } = server);
});
afterAll(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

describe('QwenVLWeb on onnxruntime-web wasm (in Node)', () => {
  it('answers the golden text_only prompt with the golden greedy tokens, reporting load progress up to the folder total, then session creation', async () => {
    const events: LoadProgress[] = [];
    const model = await QwenVLWeb.load(base, { device: 'wasm', onProgress: (progress) => events.push(progress) });
    try {
      const result = await model.chat([{ role: 'user', content: 'Hello, who are you?' }], { ...GOLDEN_SEARCH, logprobs: true });
      expect(result.tokens).toEqual(goldenNumbers('text_only', 'tokens'));
      expect(Array.from(result.promptTokenIds)).toEqual(goldenNumbers('text_only', 'input_ids'));
      expect(result.logprobs).toHaveLength(8);
      expect(result.finishReason).toBe('length');
    } finally {
      await model.dispose();
    }
    // Every file of the built folder is read, the build manifest (format check) included.
    const files = await readdir(modelDir);
    const folderBytes = (await Promise.all(files.map(async (file) => (await stat(join(modelDir, file))).size))).reduce((a, b) => a + b, 0);
    expect(new Set(events.map((e) => e.total))).toEqual(new Set([folderBytes]));
    expect(events.every((e, i) => i === 0 || e.loaded >= events[i - 1].loaded)).toBe(true);
    // Every byte arrives before the sessions are created, which is said once, last.
    const downloads = events.filter((e) => e.stage === 'downloading');
    expect(downloads).toEqual(events.slice(0, -1));
    expect(downloads.at(-1)?.loaded).toBe(folderBytes);
    expect(new Set(downloads.map((e) => e.file))).toEqual(new Set(files));
    expect(events.at(-1)).toEqual({ stage: 'creating-sessions', loaded: folderBytes, total: folderBytes });
  });

  it('runs the vision encoder too: the golden one_image tokens through the shared pipeline on the web backend', async () => {
    const folder = new UrlModelFolder(base);
    const model = await VisionLanguageModel.load<string>({
      folder,
      openModel: (file) => openUrlModel(folder, file),
      // Browser decoding cannot run in Node; sharp gives the pixels Hugging Face's PIL does.
      decodeImage: (image) => decodeImage(image),
      device: 'wasm',
      backend: onnxruntimeWebBackend,
    });
    try {
      const image = goldenImage('gradient_300x200.png');
      const result = await model.chat(
        [
          {
            role: 'user',
            content: [
              { type: 'image', image },
              { type: 'text', text: 'Describe this image.' },
            ],
          },
        ],
        GOLDEN_SEARCH,
      );
      expect(Array.from(result.promptTokenIds)).toEqual(goldenNumbers('one_image', 'input_ids'));
      expect(result.tokens).toEqual(goldenNumbers('one_image', 'tokens'));
    } finally {
      await model.dispose();
    }
  });

  it("loads a tied checkpoint's folder, whose decoder reads its lm_head from embed.onnx.data, with the logits of onnxruntime-node", async () => {
    const checkpoint = join(dir, 'tied-checkpoint');
    await writeTinyModelFolder(checkpoint, MODEL_DIR, { seed: 5, text: { tieWordEmbeddings: true } });
    const tied = (await buildModelFolder(checkpoint, join(dir, 'tied'))).output;
    const tiedServer = await serveFolder(() => tied);
    const textOnly = [{ role: 'user' as const, content: 'Hello, who are you?' }];
    const run = async (model: { chat: (messages: typeof textOnly, options: ChatOptions) => Promise<{ tokens: number[] }> }) => {
      const logits: Float32Array[] = [];
      const result = await model.chat(textOnly, { ...GOLDEN_SEARCH, maxNewTokens: 4, onStepLogits: (_, step) => logits.push(step) });
      return { tokens: result.tokens, logits };
    };
    const web = await QwenVLWeb.load(tiedServer.base, { cache: false });
    const node = await QwenVL.load(tied);
    try {
      const [inBrowser, inNode] = [await run(web), await run(node)];
      expect(inBrowser.tokens).toEqual(inNode.tokens);
      inBrowser.logits.forEach((step, k) => expect(maxAbsDiff(step, inNode.logits[k])).toBeLessThanOrEqual(1e-4));
      // Without the Cache API each session fetches its files: embed.onnx's table, and the decoder's lm_head from the same file.
      expect(tiedServer.requests.filter((request) => request === 'GET embed.onnx.data')).toHaveLength(2);
    } finally {
      await Promise.all([web.dispose(), node.dispose(), tiedServer.close()]);
    }
  });

  it('fails to load on webgpu in Node with BACKEND_UNAVAILABLE saying navigator.gpu is missing, before downloading', async () => {
    requests.length = 0;
    await expect(QwenVLWeb.load(base, { device: 'webgpu' })).rejects.toMatchObject({ code: 'BACKEND_UNAVAILABLE', message: expect.stringContaining('navigator.gpu is missing') });
    expect(requests).toEqual([]);
    await expect(onnxruntimeWebBackend.availability('cpu')).resolves.toMatchObject({ available: false, reason: expect.stringContaining('@qwen-vl/node') });
  });

  it('refuses a misspelt option or options that are not an object, naming them, before downloading', async () => {
    requests.length = 0;
    await expect(QwenVLWeb.load(base, { devise: 'wasm' } as never)).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: 'QwenVLWeb.load options.devise: is not an option here; the options are device, onProgress, cache, fetch, intraOpThreads, dtype',
    });
    await expect(QwenVLWeb.load(base, null as never)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: 'QwenVLWeb.load options: must be an object, got null' });
    expect(requests).toEqual([]);
  });

  it('names a folder that is not a built one', async () => {
    const url = `${base}/absent`;
    await expect(QwenVLWeb.load(url)).rejects.toMatchObject({ code: 'MISSING_FILE' });
  });

  it('refuses an image from its header when it declares more pixels than maxPixels (PNG, JPEG; a File, a Blob, a URL), before decoding', async () => {
    const png = new Uint8Array(await readFile(goldenImage('gradient_300x200.png')));
    // The same file with its IHDR saying 16000×16000: the pixel data is never looked at.
    const huge = png.slice();
    new DataView(huge.buffer).setUint32(16, 16000);
    new DataView(huge.buffer).setUint32(20, 16000);
    await expect(decodeBrowserImage(new File([huge], 'huge.png', { type: 'image/png' }))).rejects.toMatchObject({
      code: 'UNSUPPORTED_IMAGE',
      source: 'file "huge.png"',
      reason: 'declares 16000×16000 pixels, more than the 67108864 qwen-vl decodes (maxPixels)',
    });
    const jpeg = new Uint8Array(await sharp(png).jpeg().toBuffer());
    await expect(decodeBrowserImage(new Blob([jpeg], { type: 'image/jpeg' }), { maxPixels: 300 * 200 - 1 })).rejects.toMatchObject({
      code: 'UNSUPPORTED_IMAGE',
      reason: 'declares 300×200 pixels, more than the 59999 qwen-vl decodes (maxPixels)',
    });
    const imageServer = await serveFolder(() => dir);
    await writeFile(join(dir, 'huge.png'), huge);
    try {
      await expect(decodeBrowserImage(`${imageServer.base}/huge.png`)).rejects.toMatchObject({ code: 'UNSUPPORTED_IMAGE', source: `${imageServer.base}/huge.png` });
    } finally {
      await imageServer.close();
    }
    // Within the limit, the header passes and decoding is what cannot happen in Node.
    await expect(decodeBrowserImage(new Blob([png]), { maxPixels: 300 * 200 })).rejects.toMatchObject({ code: 'INVALID_IMAGE', message: expect.stringContaining('createImageBitmap') });
  });

  it('refuses to decode images outside a browser, saying what is missing', async () => {
    await expect(decodeBrowserImage(new Blob([new Uint8Array([1, 2, 3])]))).rejects.toMatchObject({ code: 'INVALID_IMAGE', message: expect.stringContaining('createImageBitmap') });
  });
});
