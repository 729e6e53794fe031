import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildModelFolder } from '@qwen-vl/builder';
import { MODEL_DIR, goldenImage } from '@qwen-vl/test-support';
import type { ChatCompletionChunk, ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import { runCli } from './helpers/cli.js';
import { dataUrl, metric, startServer, until } from './helpers/server.js';
import type { TestServer } from './helpers/server.js';
import { useTempDir } from './helpers/temp-dir.js';

/** The golden tiny model has random weights: its answers are noise, but deterministic under greedy decoding. */
const PROMPT = 'Describe this image.';
const IMAGE = goldenImage('gradient_300x200.png');

const dir = useTempDir('qwen-vl-serve-');
let model: string;
let served: TestServer;
beforeAll(async () => {
  model = (await buildModelFolder(MODEL_DIR, join(dir(), 'model'))).output;
  served = await startServer({ model });
});
afterAll(async () => {
  await served?.server.close({ graceMs: 0 });
});

/** What `qwen-vl run --greedy --json` answers. */
async function runGreedy(args: string[]): Promise<{ text: string; tokens: number[]; prompt_tokens: number; finish_reason: string }> {
  const result = await runCli(['run', '--model', model, ...args, '--greedy', '--json']);
  expect(result.stderr).toBe('');
  return JSON.parse(result.stdout);
}

/** One user message: the image file at `path` as a data: URL, then PROMPT. */
async function describeImage(path: string): Promise<ChatCompletionMessageParam[]> {
  return [
    {
      role: 'user',
      content: [
        { type: 'image_url', image_url: { url: await dataUrl(path) } },
        { type: 'text', text: PROMPT },
      ],
    },
  ];
}

async function collect(stream: AsyncIterable<ChatCompletionChunk>): Promise<ChatCompletionChunk[]> {
  const chunks: ChatCompletionChunk[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return chunks;
}

describe('qwen-vl serve: the chat completions API, through the openai client', () => {
  it('GET /v1/models lists the folder name as the model id; /health is ok', async () => {
    const models = await served.client.models.list();
    expect(models.data.map((m) => m.id)).toEqual(['model']);
    expect(await (await fetch(`${served.url}/health`)).json()).toMatchObject({ status: 'ok', model: 'model' });
  });

  it('answers "temperature": 0 with what `qwen-vl run --greedy` answers, with the usage', async () => {
    const [completion, run] = await Promise.all([
      served.client.chat.completions.create({ model: 'model', messages: [{ role: 'user', content: PROMPT }], temperature: 0 }),
      runGreedy(['--prompt', PROMPT]),
    ]);
    expect(run.text.length).toBeGreaterThan(0);
    expect(completion.object).toBe('chat.completion');
    expect(completion.choices).toHaveLength(1);
    expect(completion.choices[0].message.role).toBe('assistant');
    expect(completion.choices[0].message.content).toBe(run.text);
    expect(completion.choices[0].finish_reason).toBe(run.finish_reason === 'length' ? 'length' : 'stop');
    expect(completion.usage).toEqual({ prompt_tokens: run.prompt_tokens, completion_tokens: run.tokens.length, total_tokens: run.prompt_tokens + run.tokens.length });
  });

  it('streams chunks whose text is the non-streamed answer, the role first, the usage last when asked, then [DONE]', async () => {
    const request = { model: 'model', messages: [{ role: 'user' as const, content: PROMPT }], temperature: 0, max_tokens: 12 };
    const whole = await served.client.chat.completions.create(request);
    const chunks = await collect(await served.client.chat.completions.create({ ...request, stream: true, stream_options: { include_usage: true } }));
    expect(chunks.every((chunk) => chunk.object === 'chat.completion.chunk' && chunk.id === chunks[0].id)).toBe(true);
    expect(chunks[0].choices[0].delta.role).toBe('assistant');
    const usage = chunks.at(-1)!;
    expect(usage.choices).toEqual([]);
    expect(usage.usage).toEqual(whole.usage);
    const finish = chunks.at(-2)!;
    expect(finish.choices[0].finish_reason).toBe(whole.choices[0].finish_reason);
    expect(chunks.map((chunk) => chunk.choices[0]?.delta.content ?? '').join('')).toBe(whole.choices[0].message.content);
    expect(chunks.slice(0, -1).every((chunk) => chunk.usage === null)).toBe(true);
  });

  it('takes an image as a data: URL: the same answer and prompt tokens as `qwen-vl run --image`', async () => {
    const [completion, run] = await Promise.all([
      served.client.chat.completions.create({
        model: 'model',
        messages: await describeImage(IMAGE),
        temperature: 0,
      }),
      runGreedy(['--image', IMAGE, '--prompt', PROMPT]),
    ]);
    expect(completion.choices[0].message.content).toBe(run.text);
    // Counted from the image's header before it is decoded, then confirmed by the model's own count.
    expect(completion.usage?.prompt_tokens).toBe(run.prompt_tokens);
  });

  it('with prepareThreads (--prepare-threads), answers image requests as without them, concurrent ones each as if alone', async () => {
    const threaded = await startServer({ model, prepareThreads: 2 });
    try {
      const ask = async (client: TestServer['client'], image: string, max_tokens: number) =>
        (
          await client.chat.completions.create({
            model: 'model',
            messages: await describeImage(image),
            temperature: 0,
            max_tokens,
          })
        ).choices[0].message.content;
      const asks: [string, number][] = [
        [IMAGE, 6],
        [goldenImage('noise_rgba_50x70.png'), 6],
        [IMAGE, 3],
        [goldenImage('noise_rgba_50x70.png'), 4],
      ];
      const [withThreads, without] = await Promise.all([Promise.all(asks.map(([image, n]) => ask(threaded.client, image, n))), Promise.all(asks.map(([image, n]) => ask(served.client, image, n)))]);
      expect(withThreads).toEqual(without);
      // Two pictures, two answers: a thread that mixed requests up would not give these.
      expect(withThreads[0]).not.toBe(withThreads[1]);
    } finally {
      await threaded.server.close({ graceMs: 0 });
    }
  });

  it('max_tokens and max_completion_tokens cap the answer (finish_reason "length"); a stop string ends it ("stop")', async () => {
    const messages = [{ role: 'user' as const, content: PROMPT }];
    const capped = await served.client.chat.completions.create({ model: 'model', messages, temperature: 0, max_completion_tokens: 3 });
    expect(capped.usage?.completion_tokens).toBe(3);
    expect(capped.choices[0].finish_reason).toBe('length');
    const longer = await served.client.chat.completions.create({ model: 'model', messages, temperature: 0, max_tokens: 20 });
    const text = longer.choices[0].message.content!;
    expect(text.startsWith(capped.choices[0].message.content!)).toBe(true);
    // A piece of the greedy answer as the stop string: the answer is what came before it.
    const stop = text.slice(4, 7);
    expect(stop.length).toBe(3);
    const stopped = await served.client.chat.completions.create({ model: 'model', messages, temperature: 0, max_tokens: 20, stop });
    expect(stopped.choices[0].finish_reason).toBe('stop');
    expect(stopped.choices[0].message.content).toBe(text.slice(0, text.indexOf(stop)));
  });

  it('reports logprobs with top_logprobs, the chosen token among the best', async () => {
    const completion = await served.client.chat.completions.create({
      model: 'model',
      messages: [{ role: 'user', content: PROMPT }],
      temperature: 0,
      max_tokens: 4,
      logprobs: true,
      top_logprobs: 3,
    });
    const content = completion.choices[0].logprobs!.content!;
    expect(content).toHaveLength(4);
    expect(content.map((entry) => entry.token).join('')).toBe(completion.choices[0].message.content);
    for (const entry of content) {
      expect(entry.top_logprobs).toHaveLength(3);
      expect(entry.logprob).toBeLessThanOrEqual(0);
      // Greedy (repetition penalty aside): the chosen token is one of the most likely.
      expect(entry.top_logprobs.map((top) => top.token)).toContain(entry.token);
      expect(Buffer.from(entry.bytes!).toString('utf8')).toBe(entry.token);
    }
  });

  it('gives the same sampled answer for the same seed', async () => {
    const request = { model: 'model', messages: [{ role: 'user' as const, content: PROMPT }], temperature: 1, top_p: 0.9, seed: 7, max_tokens: 8 };
    const [a, b] = [await served.client.chat.completions.create(request), await served.client.chat.completions.create(request)];
    expect(a.choices[0].message.content).toBe(b.choices[0].message.content);
  });

  it('serves concurrent requests in order, each answered once, each as if alone', async () => {
    const budgets = [2, 5, 3, 7, 4];
    const answers = await Promise.all(
      budgets.map((max_tokens) => served.client.chat.completions.create({ model: 'model', messages: [{ role: 'user', content: PROMPT }], temperature: 0, max_tokens })),
    );
    const reference = await served.client.chat.completions.create({ model: 'model', messages: [{ role: 'user', content: PROMPT }], temperature: 0, max_tokens: 7 });
    const full = reference.choices[0].message.content!;
    answers.forEach((answer, i) => {
      expect(answer.usage?.completion_tokens).toBe(budgets[i]);
      expect(full.startsWith(answer.choices[0].message.content!)).toBe(true);
    });
    expect(new Set(answers.map((answer) => answer.id)).size).toBe(budgets.length);
  });

  it('stops generating at once when the client aborts a stream, and serves the next request', async () => {
    const before = await (await fetch(`${served.url}/metrics`)).text();
    const completionTokens = metric(before, 'qwen_vl_completion_tokens_total') ?? 0;
    // 4000 tokens would take seconds: the abort must end the generation long before.
    const stream = await served.client.chat.completions.create({ model: 'model', messages: [{ role: 'user', content: PROMPT }], temperature: 0, max_tokens: 4000, stream: true });
    let received = 0;
    const started = Date.now();
    for await (const chunk of stream) {
      if (chunk.choices[0]?.delta.content) received++;
      if (received === 3) break; // leaving the loop aborts the HTTP request
    }
    await until(async () => ((await (await fetch(`${served.url}/health`)).json()) as { running: number }).running === 0, 2_000);
    expect(Date.now() - started).toBeLessThan(3_000);
    const after = await (await fetch(`${served.url}/metrics`)).text();
    // An aborted generation is not counted as finished, and was answered 499 (client closed).
    expect(metric(after, 'qwen_vl_completion_tokens_total')).toBe(completionTokens);
    expect(metric(after, 'qwen_vl_requests_total', 'route="/v1/chat/completions",status="499"')).toBe(1);
    const next = await served.client.chat.completions.create({ model: 'model', messages: [{ role: 'user', content: PROMPT }], temperature: 0, max_tokens: 2 });
    expect(next.usage?.completion_tokens).toBe(2);
  });

  it('GET /metrics has the request counts, queue length, batch size, tokens/s and time to first token in Prometheus text', async () => {
    const response = await fetch(`${served.url}/metrics`);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = await response.text();
    expect(metric(text, 'qwen_vl_requests_total', 'route="/v1/chat/completions",status="200"')).toBeGreaterThan(0);
    expect(metric(text, 'qwen_vl_queue_length')).toBe(0);
    expect(metric(text, 'qwen_vl_batch_size')).toBe(0);
    expect(metric(text, 'qwen_vl_decode_tokens_per_second')).toBeGreaterThan(0);
    expect(metric(text, 'qwen_vl_time_to_first_token_seconds_count')).toBeGreaterThan(0);
    expect(metric(text, 'process_resident_memory_bytes')).toBeGreaterThan(0);
    expect(text).toContain('# TYPE qwen_vl_time_to_first_token_seconds histogram');
  });
});
