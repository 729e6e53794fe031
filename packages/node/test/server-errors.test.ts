import { copyFile, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import OpenAI from 'openai';
import sharp from 'sharp';
import { buildModelFolder } from '@qwen-vl/builder';
import { MODEL_DIR, goldenImage } from '@qwen-vl/test-support';
import { isQwenVLError } from '@qwen-vl/core';
import { createServer } from '../src/index.js';
import type { ServerLimits, ServerOptions } from '../src/index.js';
import { dataUrl, metric, postChat, startServer, until } from './helpers/server.js';
import type { TestServer } from './helpers/server.js';
import { useTempDir } from './helpers/temp-dir.js';

const IMAGE = goldenImage('gradient_300x200.png');
const TEXT = [{ role: 'user', content: 'Describe this image.' }];

const dir = useTempDir('qwen-vl-serve-errors-');
let model: string;
let served: TestServer;
let imageRoot: string;
beforeAll(async () => {
  model = (await buildModelFolder(MODEL_DIR, join(dir(), 'model'))).output;
  imageRoot = join(dir(), 'images');
  await mkdir(imageRoot);
  await copyFile(IMAGE, join(imageRoot, 'gradient.png'));
  await copyFile(IMAGE, join(dir(), 'outside.png'));
  // Small limits, so that each is easy to cross.
  served = await startServer({ model, imageRoot, limits: { bodyBytes: 256 * 1024, imageBytes: 64 * 1024, imagesPerRequest: 2, imagePixels: 300 * 200, imageTokensPerRequest: 100 } });
});
afterAll(async () => {
  await served?.server.close({ graceMs: 0 });
});

/** The status and OpenAI error object of a raw POST. */
async function refusal(body: unknown, headers: Record<string, string> = {}, url = served.url) {
  const response = await postChat(url, body, headers);
  const json = (await response.json()) as { error: { message: string; type: string; param: string | null; code: string | null } };
  return { status: response.status, error: json.error, retryAfter: response.headers.get('retry-after') };
}

function imageMessage(url: string) {
  return [
    {
      role: 'user',
      content: [
        { type: 'image_url', image_url: { url } },
        { type: 'text', text: 'What is this?' },
      ],
    },
  ];
}

describe('qwen-vl serve: errors in OpenAI shape', () => {
  it('400 for a malformed body, with the error object', async () => {
    const { status, error } = await refusal('{"model": "model", "messages": [');
    expect(status).toBe(400);
    expect(error).toMatchObject({ type: 'invalid_request_error', param: null, code: 'invalid_body' });
    expect(error.message).toMatch(/not valid JSON/);
    expect((await refusal('[1, 2]')).error.code).toBe('invalid_body');
  });

  it.each([
    ['messages', { model: 'model', messages: [] }],
    ['messages[0].role', { model: 'model', messages: [{ role: 'robot', content: 'x' }] }],
    ['messages[0].content[0].type', { model: 'model', messages: [{ role: 'user', content: [{ type: 'input_audio' }] }] }],
    ['temperature', { model: 'model', messages: TEXT, temperature: 'hot' }],
    ['temperature', { model: 'model', messages: TEXT, temperature: 3 }],
    ['top_p', { model: 'model', messages: TEXT, top_p: 5 }],
    ['max_tokens', { model: 'model', messages: TEXT, max_tokens: 0 }],
    ['max_tokens', { model: 'model', messages: TEXT, max_tokens: 200_000 }],
    ['n', { model: 'model', messages: TEXT, n: 2 }],
    ['stop', { model: 'model', messages: TEXT, stop: ['a', 'b', 'c', 'd', 'e'] }],
    ['seed', { model: 'model', messages: TEXT, seed: 1.5 }],
    ['top_logprobs', { model: 'model', messages: TEXT, top_logprobs: 2 }],
    ['stream_options', { model: 'model', messages: TEXT, stream_options: { include_usage: true } }],
    ['tools', { model: 'model', messages: TEXT, tools: [{ type: 'function', function: { name: 'f' } }] }],
    ['frobnicate', { model: 'model', messages: TEXT, frobnicate: true }],
    ['messages[0].content[0].image_url.url', { model: 'model', messages: imageMessage('ftp://example.com/a.png') }],
    ['messages[0].content[0].image_url.url', { model: 'model', messages: imageMessage('data:image/png;base64,@@@@') }],
    ['messages[0].content[0].image_url.url', { model: 'model', messages: imageMessage('data:image/png;base64,aGVsbG8gd29ybGQ=') }],
    ['messages[0].content[0].image_url.url', { model: 'model', messages: imageMessage('https://example.com/cat.png') }],
  ])('400 naming the field %s', async (param, body) => {
    const { status, error } = await refusal(body);
    expect(status).toBe(400);
    expect(error.type).toBe('invalid_request_error');
    expect(error.param).toBe(param);
    expect(error.message.startsWith(`${param}: `) || param === 'frobnicate').toBe(true);
  });

  it('says what it got: a missing field is missing, a number too large for a double is Infinity', async () => {
    expect((await refusal({ messages: TEXT })).error.message).toBe("model: must be the model's id (GET /v1/models lists it), got nothing (the field is missing)");
    const tooLarge = await refusal('{"model": "model", "messages": [{"role": "user", "content": "x"}], "max_tokens": 1e400}');
    expect(tooLarge.error).toMatchObject({ param: 'max_tokens', message: 'max_tokens: must be a number, got number Infinity' });
  });

  it('the openai client raises BadRequestError with the param', async () => {
    const error = await served.client.chat.completions.create({ model: 'model', messages: [{ role: 'user', content: 'x' }], n: 3 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect((error as InstanceType<typeof OpenAI.BadRequestError>).param).toBe('n');
  });

  it('404 for an unknown model (NotFoundError) and an unknown route', async () => {
    const error = await served.client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.NotFoundError);
    expect((error as InstanceType<typeof OpenAI.NotFoundError>).code).toBe('model_not_found');
    const route = await fetch(`${served.url}/v1/completions`, { method: 'POST' });
    expect(route.status).toBe(404);
    expect(((await route.json()) as { error: { code: string } }).error.code).toBe('not_found');
  });

  it('413 for a body over the limit, and for an image over the byte limit', async () => {
    const big = await refusal({ model: 'model', messages: [{ role: 'user', content: 'x'.repeat(300 * 1024) }] });
    expect(big.status).toBe(413);
    expect(big.error.code).toBe('request_too_large');
    const image = await sharp({ create: { width: 200, height: 150, channels: 3, background: '#000000', noise: { type: 'gaussian', mean: 128, sigma: 60 } } })
      .png()
      .toBuffer();
    expect(image.length).toBeGreaterThan(64 * 1024);
    const heavy = await refusal({ model: 'model', messages: imageMessage(`data:image/png;base64,${image.toString('base64')}`) });
    expect(heavy.status).toBe(413);
    expect(heavy.error).toMatchObject({ param: 'messages[0].content[0].image_url.url', code: 'image_too_large' });
  });

  it('400 for too many images, an image over the pixel limit, images over the token limit, a prompt beyond the context', async () => {
    const url = await dataUrl(IMAGE);
    const three = [{ role: 'user', content: [1, 2, 3].map(() => ({ type: 'image_url', image_url: { url } })) }];
    expect((await refusal({ model: 'model', messages: three })).error).toMatchObject({ param: 'messages', code: 'too_many_images' });
    const large = await sharp({ create: { width: 301, height: 200, channels: 3, background: '#808080' } })
      .png()
      .toBuffer();
    const pixels = await refusal({ model: 'model', messages: imageMessage(`data:image/png;base64,${large.toString('base64')}`) });
    expect(pixels.status).toBe(400);
    expect(pixels.error).toMatchObject({ param: 'messages[0].content[0].image_url.url', code: 'image_too_large' });
    // The 300×200 image becomes 77 tokens: two of them cross the limit of 100, at the second.
    const two = [{ role: 'user', content: [1, 2].map(() => ({ type: 'image_url', image_url: { url } })) }];
    expect(await refusal({ model: 'model', messages: two })).toMatchObject({ status: 400, error: { param: 'messages[0].content[1].image_url.url', code: 'images_too_large' } });
    const context = await refusal({ model: 'model', messages: TEXT, max_completion_tokens: 127_990 });
    expect(context.status).toBe(400);
    expect(context.error).toMatchObject({ param: 'max_completion_tokens', code: 'context_length_exceeded' });
  });

  it("400 for a request's images over the decoded-pixel total, and for prompt + max_tokens over requestTokens; without max_tokens the answer stops there", async () => {
    const limited = await startServer({ model, limits: { requestPixels: 100_000, requestTokens: 60 } });
    try {
      const url = await dataUrl(IMAGE);
      // Each 300×200 image is under the per-image limit; the second takes the request to 120 000 pixels.
      const two = [{ role: 'user', content: [1, 2].map(() => ({ type: 'image_url', image_url: { url } })) }];
      const pixels = await refusal({ model: 'model', messages: two }, {}, limited.url);
      expect(pixels).toMatchObject({ status: 400, error: { param: 'messages[0].content[1].image_url.url', code: 'images_too_large' } });
      expect(pixels.error.message).toContain('120000 pixels, more than the 100000 one request may have');
      const tokens = await refusal({ model: 'model', messages: TEXT, max_tokens: 59 }, {}, limited.url);
      expect(tokens).toMatchObject({ status: 400, error: { param: 'max_tokens', code: 'context_length_exceeded' } });
      // ignore_eos (an extension, as in vLLM): only the limit ends the answer.
      const open = await limited.client.chat.completions.create({ model: 'model', messages: [{ role: 'user', content: 'Describe this image.' }], temperature: 0, ignore_eos: true } as never);
      expect((open as OpenAI.ChatCompletion).choices[0].finish_reason).toBe('length');
      expect((open as OpenAI.ChatCompletion).usage?.total_tokens).toBe(60);
    } finally {
      await limited.server.close({ graceMs: 0 });
    }
  });

  it('400 naming the image for one whose header reads but whose pixels do not decode', async () => {
    const bytes = await readFile(IMAGE);
    const truncated = bytes.subarray(0, Math.floor(bytes.length * 0.6));
    const { status, error } = await refusal({ model: 'model', messages: imageMessage(`data:image/png;base64,${truncated.toString('base64')}`) });
    expect(status).toBe(400);
    expect(error).toMatchObject({ param: 'messages[0].content[0].image_url.url', code: 'invalid_image' });
    expect(error.message.startsWith('messages[0].content[0].image_url.url: ')).toBe(true);
  });

  it('reads file: URLs under --image-root only', async () => {
    const inside = await served.client.chat.completions.create({
      model: 'model',
      messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: pathToFileURL(join(imageRoot, 'gradient.png')).href } }] }],
      max_tokens: 1,
    });
    expect(inside.usage?.completion_tokens).toBe(1);
    for (const path of [join(dir(), 'outside.png'), join(imageRoot, '..', 'outside.png'), join(imageRoot, 'missing.png')]) {
      const { status, error } = await refusal({ model: 'model', messages: imageMessage(pathToFileURL(path).href) });
      expect(status).toBe(400);
      expect(error.param).toBe('messages[0].content[0].image_url.url');
    }
  });

  it('401 without the key when one is set; the key lets requests through', async () => {
    const keyed = await startServer({ model, apiKey: 'sesame' }, 'sesame');
    try {
      const attempts: Record<string, string>[] = [{}, { authorization: 'Bearer wrong' }, { authorization: 'sesame' }];
      for (const headers of attempts) {
        const { status, error } = await refusal({ model: 'model', messages: TEXT }, headers, keyed.url);
        expect(status).toBe(401);
        expect(error.code).toBe('invalid_api_key');
      }
      const wrongClient = new OpenAI({ baseURL: `${keyed.url}/v1`, apiKey: 'nope', maxRetries: 0 });
      expect(await wrongClient.models.list().catch((e: unknown) => e)).toBeInstanceOf(OpenAI.AuthenticationError);
      const answer = await keyed.client.chat.completions.create({ model: 'model', messages: [{ role: 'user', content: 'x' }], max_tokens: 1 });
      expect(answer.usage?.completion_tokens).toBe(1);
      // Health and metrics stay open, for load balancers and scrapers.
      expect((await fetch(`${keyed.url}/health`)).status).toBe(200);
    } finally {
      await keyed.server.close({ graceMs: 0 });
    }
  });
});

describe('qwen-vl serve: the queue', () => {
  it('429 with Retry-After when the queue is full; the queued request is answered after the running one', async () => {
    // One row: the second request waits in the queue, the third finds it full.
    const busy = await startServer({ model, maxBatch: 1, maxQueue: 1 });
    try {
      const long = await busy.client.chat.completions.create({ model: 'model', messages: [{ role: 'user', content: 'x' }], temperature: 0, max_tokens: 400, stream: true });
      const iterator = long[Symbol.asyncIterator]();
      await iterator.next(); // running now
      const queued = busy.client.chat.completions.create({ model: 'model', messages: [{ role: 'user', content: 'x' }], temperature: 0, max_tokens: 2 });
      await until(async () => ((await (await fetch(`${busy.url}/health`)).json()) as { queue: number }).queue === 1, 2_000);
      const full = await refusal({ model: 'model', messages: TEXT }, {}, busy.url);
      expect(full.status).toBe(429);
      expect(full.error).toMatchObject({ type: 'rate_limit_error', code: 'queue_full' });
      expect(Number(full.retryAfter)).toBeGreaterThanOrEqual(1);
      const error = await busy.client.chat.completions.create({ model: 'model', messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(OpenAI.RateLimitError);
      let rest = '';
      for (let next = await iterator.next(); next.done !== true; next = await iterator.next()) rest += next.value.choices[0]?.delta.content ?? '';
      expect(rest.length).toBeGreaterThan(0);
      expect((await queued).usage?.completion_tokens).toBe(2);
    } finally {
      await busy.server.close({ graceMs: 0 });
    }
  });

  it('drops a queued request whose client leaves, at once; the running one goes on', async () => {
    const busy = await startServer({ model, maxBatch: 1 });
    try {
      const long = await busy.client.chat.completions.create({ model: 'model', messages: [{ role: 'user', content: 'x' }], temperature: 0, max_tokens: 300, stream: true });
      const iterator = long[Symbol.asyncIterator]();
      await iterator.next();
      const leaving = new AbortController();
      const queued = fetch(`${busy.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'model', messages: TEXT }),
        signal: leaving.signal,
      });
      const health = async () => (await (await fetch(`${busy.url}/health`)).json()) as { queue: number; running: number };
      await until(async () => (await health()).queue === 1, 2_000);
      leaving.abort();
      await expect(queued).rejects.toThrow();
      await until(async () => (await health()).queue === 0, 1_000);
      expect((await health()).running).toBe(1);
      let last;
      for (let next = await iterator.next(); next.done !== true; next = await iterator.next()) last = next.value;
      expect(last?.choices[0].finish_reason).toBe('length');
      const metrics = await (await fetch(`${busy.url}/metrics`)).text();
      expect(metric(metrics, 'qwen_vl_requests_total', 'route="/v1/chat/completions",status="499"')).toBe(1);
      expect(metric(metrics, 'qwen_vl_requests_total', 'route="/v1/chat/completions",status="200"')).toBe(1);
    } finally {
      await busy.server.close({ graceMs: 0 });
    }
  });

  it('503 while shutting down; the running request finishes within the grace period', async () => {
    const closing = await startServer({ model });
    const stream = await closing.client.chat.completions.create({ model: 'model', messages: [{ role: 'user', content: 'x' }], temperature: 0, max_tokens: 300, stream: true });
    const iterator = stream[Symbol.asyncIterator]();
    await iterator.next();
    const closed = closing.server.close({ graceMs: 60_000 });
    const refused = await refusal({ model: 'model', messages: TEXT }, {}, closing.url);
    expect(refused.status).toBe(503);
    expect(refused.error.code).toBe('shutting_down');
    expect((await fetch(`${closing.url}/health`)).status).toBe(503);
    let last;
    for (let next = await iterator.next(); next.done !== true; next = await iterator.next()) last = next.value;
    expect(last?.choices[0].finish_reason).toBe('length');
    await closed;
    await expect(fetch(`${closing.url}/health`)).rejects.toThrow();
  });

  it('a host it cannot listen on, or a port in use, is INVALID_ARGUMENT naming both', async () => {
    const second = await createServer({ model });
    try {
      const port = new URL(served.url).port;
      await expect(second.listen({ port: Number(port) })).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
        message: `host 127.0.0.1, port ${port}: cannot listen there: the port is in use (another process listens there)`,
      });
      await expect(second.listen({ host: '999.1.1.1', port: 0 })).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
        message: expect.stringMatching(/^host 999\.1\.1\.1, port 0: cannot listen there: .*999\.1\.1\.1/),
      });
    } finally {
      await second.close({ graceMs: 0 });
    }
  });

  it('refuses a max batch or queue that is not a whole number, and limits that are not positive integers or not limits, naming the option', async () => {
    const refused = async (options: Partial<ServerOptions>) => {
      const error = await createServer({ model, ...options }).catch((e: unknown) => e);
      expect(isQwenVLError(error, 'INVALID_ARGUMENT')).toBe(true);
      return (error as Error).message;
    };
    expect(await refused({ maxBatch: 0 })).toMatch(/createServer options\.maxBatch: must be an integer ≥ 1, got 0/);
    expect(await refused({ maxBatch: 2.5 })).toMatch(/options\.maxBatch/);
    expect(await refused({ maxQueue: -1 })).toMatch(/createServer options\.maxQueue: must be an integer ≥ 0/);
    expect(await refused({ limits: { requestTokens: 0 } })).toMatch(/createServer options\.limits\.requestTokens: must be a positive integer, got 0/);
    expect(await refused({ limits: { imagePixels: 1.5 } })).toMatch(/options\.limits\.imagePixels/);
    expect(await refused({ limits: { pixels: 10 } as Partial<ServerLimits> })).toMatch(/options\.limits\.pixels: is not a server limit; the limits are bodyBytes, /);
  });
});
