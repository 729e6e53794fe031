import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildModelFolder } from '@qwen-vl/builder';
import type { FolderLayoutName } from '@qwen-vl/pipeline';
import { QwenVL, decodeImage } from '@qwen-vl/node';
import { GOLDEN_CASES, GOLDEN_STEPS, LOGITS_TOLERANCE, MODEL_DIR, goldenImage, goldenSteps, maxAbsDiff, numbers, goldenArray } from '@qwen-vl/test-support';
import { Config, Generator, GeneratorParams, Images, Model, QwenVLWeb, Tokenizer } from '../src/index.js';
import { serveFolder } from './helpers/folder-server.js';
import type { FolderServer } from './helpers/folder-server.js';

/**
 * onnxruntime-genai's API (Config, Model, MultiModalProcessor, Generator) from @qwen-vl/web, on
 * onnxruntime-web WASM in Node, over HTTP: the golden tiny checkpoint built in each layout
 * qwen-vl writes, against the golden run (greedy on raw logits, EOS ignored, 8 tokens).
 */
const LAYOUTS: readonly FolderLayoutName[] = ['qwen-vl', 'genai', 'transformers.js'];

let dir: string;
const servers = new Map<FolderLayoutName, FolderServer>();
/** A transformers.js folder of q4 text models (int4) and an int8 vision encoder. */
let q4Folder: string;
let q4Server: FolderServer;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'qwen-vl-web-genai-'));
  for (const layout of LAYOUTS) {
    const output = (await buildModelFolder(MODEL_DIR, join(dir, layout), { layout })).output;
    servers.set(layout, await serveFolder(() => output));
  }
  q4Folder = (await buildModelFolder(MODEL_DIR, join(dir, 'tjs-q4'), { layout: 'transformers.js', precision: 'int4', visionPrecision: 'int8', accuracyLevel: 0 })).output;
  q4Server = await serveFolder(() => q4Folder);
}, 180_000);
afterAll(async () => {
  await Promise.all([...servers.values(), q4Server].map((server) => server?.close()));
  await rm(dir, { recursive: true, force: true });
});

describe('the genai API of @qwen-vl/web on onnxruntime-web wasm (in Node)', { timeout: 60_000 }, () => {
  it('runs on wasm when no provider is appended, and refuses cpu (onnxruntime-node) naming the package to use', async () => {
    const config = new Config(servers.get('qwen-vl')!.base, { cache: false });
    expect(config.provider).toBe('wasm');
    config.appendProvider('cpu');
    await expect(Model.create(config)).rejects.toMatchObject({ code: 'BACKEND_UNAVAILABLE', message: expect.stringContaining('@qwen-vl/node') });
  });

  it.each(LAYOUTS)('a %s folder: the golden one_image and text_only runs, step by step', async (layout) => {
    const model = await Model.create(new Config(servers.get(layout)!.base, { cache: false }));
    try {
      const processor = model.createMultimodalProcessor();
      const tokenizer = await Tokenizer.create(model);
      for (const name of ['one_image', 'text_only']) {
        const goldenCase = GOLDEN_CASES.find((c) => c.name === name)!;
        const messages = JSON.stringify([{ role: 'user', content: [...goldenCase.images.map(() => ({ type: 'image' })), { type: 'text', text: goldenCase.prompt }] }]);
        // Browser decoding cannot run in Node: sharp's pixels (Hugging Face's) go in as decoded images.
        const images = goldenCase.images.length === 0 ? undefined : new Images(await Promise.all(goldenCase.images.map((file) => decodeImage(goldenImage(file)))));
        const inputs = await processor.process(tokenizer.applyChatTemplate(messages, { addGenerationPrompt: true }), { images });
        expect(numbers(inputs.get('input_ids').data), name).toEqual(numbers(goldenArray(name, 'input_ids').data));

        const params = new GeneratorParams(model);
        params.setSearchOptions({ doSample: false, repetitionPenalty: 1, ignoreEos: true, maxNewTokens: GOLDEN_STEPS });
        const generator = await Generator.create(model, params);
        generator.setInputs(inputs);
        const golden = goldenSteps(name);
        const tokens: number[] = [];
        while (!generator.isDone()) {
          await generator.generateNextToken();
          tokens.push(generator.getNextTokens()[0]);
          const logits = generator.getOutput('logits').data as Float32Array;
          expect(maxAbsDiff(logits, golden.logits(tokens.length - 1)), `${name} step ${tokens.length - 1}`).toBeLessThanOrEqual(LOGITS_TOLERANCE);
        }
        expect(tokens, name).toEqual(golden.tokens);
      }
    } finally {
      await model.dispose();
    }
  });

  it("runs a transformers.js folder's q4 models (MatMulNBits, GatherBlockQuantized) on wasm with onnxruntime-node's logits, through QwenVLWeb and Config alike", async () => {
    const messages = [{ role: 'user' as const, content: 'Hello, who are you?' }];
    const search = { doSample: false, repetitionPenalty: 1, ignoreEos: true, maxNewTokens: 4 };
    const stepLogits = async (model: QwenVL | QwenVLWeb) => {
      const logits: Float32Array[] = [];
      const result = await model.chat(messages, { ...search, onStepLogits: (_, step) => logits.push(step) });
      return { tokens: result.tokens, logits };
    };
    const dtype = { embed_tokens: 'q4', decoder_model_merged: 'q4', vision_encoder: 'int8' } as const;
    const web = await QwenVLWeb.load(q4Server.base, { dtype, cache: false });
    const node = await QwenVL.load(q4Folder, { dtype });
    const genai = await Model.create(new Config(q4Server.base, { dtype, cache: false }));
    try {
      const [inBrowser, inNode] = [await stepLogits(web), await stepLogits(node)];
      expect(inBrowser.tokens).toEqual(inNode.tokens);
      inBrowser.logits.forEach((step, k) => expect(maxAbsDiff(step, inNode.logits[k]), `step ${k}`).toBeLessThanOrEqual(1e-4));
      expect(q4Server.requests).toContain('GET onnx/decoder_model_merged_q4.onnx');

      const processor = genai.createMultimodalProcessor();
      const params = new GeneratorParams(genai);
      params.setSearchOptions(search);
      const generator = await Generator.create(genai, params);
      generator.setInputs(await processor.process(JSON.stringify(messages)));
      for (let k = 0; !generator.isDone(); k++) {
        await generator.generateNextToken();
        expect(generator.getNextTokens()[0]).toBe(inNode.tokens[k]);
        expect(maxAbsDiff(generator.getOutput('logits').data as Float32Array, inNode.logits[k]), `genai step ${k}`).toBeLessThanOrEqual(1e-4);
      }
    } finally {
      await Promise.all([web.dispose(), node.dispose(), genai.dispose()]);
    }
  });

  it('Images.open names the argument it cannot decode here (no createImageBitmap in Node)', async () => {
    await expect(Images.open(new Blob([new Uint8Array([1, 2, 3])]))).rejects.toMatchObject({ code: 'INVALID_IMAGE', source: expect.stringContaining('Images.open argument 0') });
  });
});
