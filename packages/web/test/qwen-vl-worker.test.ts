import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QwenVLError, decodeNpy } from '@qwen-vl/core';
import type { ChatChunk, ChatOptions } from '@qwen-vl/pipeline';
import { buildModelFolder } from '@qwen-vl/builder';
import { QwenVLWorker, serveQwenVLWorker } from '../src/index.js';
import type { LoadProgress, WebChatMessage } from '../src/index.js';
import { LOGITS_TOLERANCE, maxAbsDiff } from '@qwen-vl/test-support';
import { serveFolder } from './helpers/folder-server.js';
import type { FolderServer } from './helpers/folder-server.js';

/**
 * QwenVLWorker and serveQwenVLWorker over a MessageChannel, which is what a Worker is to them:
 * the page's end and the worker's. Browser-only parts (a real Worker, elements, relative URLs)
 * are in the demo's end-to-end test.
 */

const golden = new URL('../../../testdata/golden/', import.meta.url);
const GOLDEN_SEARCH: ChatOptions = { greedy: true, repetitionPenalty: 1, maxNewTokens: 8, ignoreEos: true };
const TEXT_ONLY: WebChatMessage[] = [{ role: 'user', content: 'Hello, who are you?' }];

function goldenArray(array: string): { data: number[]; dims: readonly number[] } {
  const path = new URL(`cases/text_only/${array}.npy`, golden);
  const tensor = decodeNpy(readFileSync(path), fileURLToPath(path));
  return { data: Array.from(tensor.data as ArrayLike<number | bigint>, Number), dims: tensor.dims };
}

let dir: string;
let server: FolderServer;
let channel: MessageChannel;
let model: QwenVLWorker;
const loadEvents: LoadProgress[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'qwen-vl-worker-'));
  const modelDir = (await buildModelFolder(fileURLToPath(new URL('tiny/model', golden)), join(dir, 'model'))).output;
  server = await serveFolder(() => modelDir);
  channel = new MessageChannel();
  serveQwenVLWorker(channel.port1);
  model = await QwenVLWorker.load(channel.port2, server.base, { device: 'wasm', onProgress: (progress) => loadEvents.push(progress) });
});
afterAll(async () => {
  await model?.dispose();
  channel?.port1.close();
  channel?.port2.close();
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('QwenVLWorker', () => {
  it("loads in the worker with the progress of QwenVLWeb.load, and has the model's configs", () => {
    expect(model.device).toBe('wasm');
    expect(model.baseUrl).toBe(server.base);
    expect(model.config.vision.fullAttBlockIndexes).toEqual([1, 3]);
    expect(model.generationConfig.eosTokenId).toEqual([151645, 151643]);
    expect(model.searchOptions({ maxNewTokens: 3 }).maxNewTokens).toBe(3);
    const total = loadEvents[0].total;
    expect(loadEvents.slice(0, -1).every((event) => event.stage === 'downloading')).toBe(true);
    expect(loadEvents.at(-1)).toEqual({ stage: 'creating-sessions', loaded: total, total });
  });

  it("streams the golden text_only answer token by token, with each step's logits", async () => {
    const chunks: ChatChunk[] = [];
    const logits: Float32Array[] = [];
    const stream = model.chatStream(TEXT_ONLY, { ...GOLDEN_SEARCH, logprobs: true, onStepLogits: (step, values) => (logits[step] = values) });
    for await (const chunk of stream) chunks.push(chunk);
    const result = await stream.result;

    expect(result.tokens).toEqual(goldenArray('tokens').data);
    expect(Array.from(result.promptTokenIds)).toEqual(goldenArray('input_ids').data);
    expect(chunks.map((chunk) => chunk.tokenId)).toEqual(result.tokens);
    expect(chunks.map((chunk) => chunk.text).join('')).toBe(result.text);
    expect(chunks.every((chunk) => Number.isFinite(chunk.logprob))).toBe(true);
    const { data, dims } = goldenArray('logits');
    const vocab = dims.at(-1)!;
    expect(logits).toHaveLength(GOLDEN_SEARCH.maxNewTokens!);
    logits.forEach((step, k) => expect(maxAbsDiff(step, data.slice(k * vocab, (k + 1) * vocab))).toBeLessThanOrEqual(LOGITS_TOLERANCE));
  });

  it('stops the generation in the worker on the signal, or when the caller leaves the loop, and answers the next call whole', async () => {
    const controller = new AbortController();
    const aborted = model.chatStream(TEXT_ONLY, { ...GOLDEN_SEARCH, maxNewTokens: 200, signal: controller.signal });
    for await (const chunk of aborted) {
      void chunk;
      controller.abort();
    }
    const result = await aborted.result;
    expect(result.finishReason).toBe('aborted');
    expect(result.tokens.length).toBeLessThan(10);

    // Tokens the worker posts, whoever reads them: the stream left early must stop making them.
    let postedTokens = 0;
    const countTokens = (event: MessageEvent) => void (event.data.type === 'chunk' && postedTokens++);
    channel.port2.addEventListener('message', countTokens);
    const left = model.chatStream(TEXT_ONLY, { ...GOLDEN_SEARCH, maxNewTokens: 200 });
    for await (const chunk of left) {
      void chunk;
      break;
    }
    await expect(left.result).rejects.toMatchObject({ code: 'ABORTED' });
    expect((await model.chat(TEXT_ONLY, GOLDEN_SEARCH)).tokens).toEqual(goldenArray('tokens').data);
    channel.port2.removeEventListener('message', countTokens);
    expect(postedTokens).toBeLessThan(10 + GOLDEN_SEARCH.maxNewTokens!);
  });

  it("gives the worker's errors as QwenVLErrors with their code, source and message", async () => {
    const missing = await QwenVLWorker.load(channel.port2, `${server.base}/absent`).catch((error: unknown) => error);
    expect(missing).toBeInstanceOf(QwenVLError);
    expect(missing).toMatchObject({
      code: 'MISSING_FILE',
      source: `${server.base}/absent/config.json`,
      message: `${server.base}/absent/config.json: could not be fetched (HTTP 404 Not Found)`,
    });
    await expect(model.chat(TEXT_ONLY, { temperature: -1 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('temperature') });
  });

  it('fails with BACKEND_UNAVAILABLE when the worker itself fails, instead of waiting forever', async () => {
    const worker = Object.assign(new EventTarget(), { postMessage: () => undefined });
    const loading = QwenVLWorker.load(worker, server.base);
    worker.dispatchEvent(Object.assign(new Event('error'), { message: 'Uncaught SyntaxError: Unexpected token' }));
    await expect(loading).rejects.toMatchObject({ code: 'BACKEND_UNAVAILABLE', source: 'QwenVLWorker', message: expect.stringContaining('Unexpected token') });
  });

  it('frees the model in the worker on dispose', async () => {
    const second = await QwenVLWorker.load(channel.port2, server.base);
    await second.dispose();
    await expect(second.chat(TEXT_ONLY)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', source: 'QwenVLWorker', message: expect.stringContaining('was disposed') });
  });
});
