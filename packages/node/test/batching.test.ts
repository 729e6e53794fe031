import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildModelFolder } from '@qwen-vl/builder';
import { MODEL_DIR, goldenImage } from '@qwen-vl/test-support';
import { QwenVL } from '../src/index.js';
import type { ChatOptions, QwenVLMessage } from '../src/index.js';
import { dataUrl, metric, startServer, until } from './helpers/server.js';
import type { TestServer } from './helpers/server.js';
import { useTempDir } from './helpers/temp-dir.js';

/**
 * Continuous batching on the golden tiny model (random weights: its greedy answers are long
 * noise, which any difference in the batched arithmetic would soon change): concurrent calls
 * share the decoder, and each answers what it answers alone.
 */

const GREEDY: ChatOptions = { greedy: true, ignoreEos: true };

function ask(text: string, image?: string): QwenVLMessage[] {
  return [
    {
      role: 'user',
      content:
        image === undefined
          ? text
          : [
              { type: 'image', image },
              { type: 'text', text },
            ],
    },
  ];
}

/** Different prompts (lengths, images), each with its own budget. */
const CALLS: { messages: QwenVLMessage[]; maxNewTokens: number }[] = [
  { messages: ask('Describe this image.', goldenImage('gradient_300x200.png')), maxNewTokens: 20 },
  { messages: ask('What is 3 plus 4?'), maxNewTokens: 12 },
  { messages: ask('Which colours are there?', goldenImage('noise_rgba_50x70.png')), maxNewTokens: 16 },
  { messages: ask('Tell me a long story about a cat who lived in a lighthouse by the sea.'), maxNewTokens: 8 },
];

const dir = useTempDir('qwen-vl-batching-');
let folder: string;
let sequential: QwenVL;
let batched: QwenVL;
/** What each call of CALLS answers alone. */
let alone: number[][];
beforeAll(async () => {
  folder = (await buildModelFolder(MODEL_DIR, join(dir(), 'model'))).output;
  sequential = await QwenVL.load(folder);
  batched = await QwenVL.load(folder, { maxBatch: 4 });
  alone = [];
  for (const { messages, maxNewTokens } of CALLS) alone.push((await sequential.chat(messages, { ...GREEDY, maxNewTokens })).tokens);
});
afterAll(async () => {
  await Promise.all([sequential?.dispose(), batched?.dispose()]);
});

/** Streams a call on the batched model, recording the batch's size at each token. */
async function streamed(call: (typeof CALLS)[number], sizes: number[], onToken?: (count: number) => void): Promise<number[]> {
  const stream = batched.chatStream(call.messages, { ...GREEDY, maxNewTokens: call.maxNewTokens });
  let count = 0;
  for await (const chunk of stream) {
    void chunk;
    sizes.push(batched.batchSize);
    onToken?.(++count);
  }
  return (await stream.result).tokens;
}

describe('continuous batching (QwenVL with maxBatch)', () => {
  it('answers concurrent greedy calls, generated together, with the tokens each gets alone', async () => {
    expect(alone.every((tokens, i) => tokens.length === CALLS[i].maxNewTokens)).toBe(true);
    const sizes: number[] = [];
    const answers = await Promise.all(CALLS.map((call) => streamed(call, sizes)));
    expect(answers).toEqual(alone);
    expect(Math.max(...sizes)).toBe(CALLS.length);
    expect(batched.batchSize).toBe(0);
  });

  it('takes calls into the running batch mid-run and lets each leave when it ends, each answer still its own', async () => {
    const sizes: number[] = [];
    const joined: Promise<number[]>[] = [];
    // Call 1 arrives at call 0's 4th token and call 3 at its 10th: after call 1 has left (12 tokens would be later) or while it runs.
    const first = streamed(CALLS[0], sizes, (count) => {
      if (count === 4) joined.push(streamed(CALLS[1], sizes));
      if (count === 10) joined.push(streamed(CALLS[3], sizes));
    });
    const answers = [await first, ...(await Promise.all(joined))];
    expect(answers).toEqual([alone[0], alone[1], alone[3]]);
    // Alone at first, then two or three rows, then alone again once the others have left.
    expect(sizes[0]).toBe(1);
    const peak = sizes.indexOf(Math.max(...sizes));
    expect(sizes[peak]).toBeGreaterThanOrEqual(2);
    expect(sizes.slice(peak)).toContain(1);
    expect(batched.batchSize).toBe(0);
  });
});

describe('continuous batching: leaving early', () => {
  it("frees the row of a call whose loop is left early, before the next step; the other call's answer is still its own", async () => {
    const sizes: number[] = [];
    const staying = streamed({ ...CALLS[0], maxNewTokens: 60 }, sizes);
    const leaving = batched.chatStream(CALLS[1].messages, { ...GREEDY, maxNewTokens: 4000 });
    // Left once both calls generate together.
    for await (const chunk of leaving) {
      void chunk;
      if (sizes.includes(2)) break;
    }
    await expect(leaving.result).rejects.toThrow('stopped reading');
    const left = sizes.length;
    const tokens = await staying;
    // Past the step that was under way at the break, the staying call generated alone (its last token may come after its own row left).
    expect(sizes.length).toBeGreaterThan(left + 40);
    expect(sizes.slice(left + 2).every((size) => size <= 1)).toBe(true);
    expect(sizes.slice(left + 2, -1).every((size) => size === 1)).toBe(true);
    const reference = await sequential.chat(CALLS[0].messages, { ...GREEDY, maxNewTokens: 60 });
    expect(tokens).toEqual(reference.tokens);
  });
});

describe('continuous batching in qwen-vl serve', () => {
  let served: TestServer;
  beforeAll(async () => {
    served = await startServer({ model: folder, maxBatch: 4 });
  });
  afterAll(async () => {
    await served?.server.close({ graceMs: 0 });
  });

  it('answers concurrent greedy requests as each alone, and frees the row of a client that disconnects at once while the others go on', async () => {
    const image = await dataUrl(goldenImage('gradient_300x200.png'));
    const request = (max_tokens: number) => ({
      model: 'model',
      messages: [
        {
          role: 'user' as const,
          content: [
            { type: 'image_url' as const, image_url: { url: image } },
            { type: 'text' as const, text: 'Describe this image.' },
          ],
        },
      ],
      temperature: 0,
      max_tokens,
      ignore_eos: true,
      stream: true as const,
    });
    const batchSize = async () => metric(await (await fetch(`${served.url}/metrics`)).text(), 'qwen_vl_batch_size');
    const staying = await served.client.chat.completions.create(request(200) as never);
    const leaving = await served.client.chat.completions.create(request(4000) as never);
    const [stay, leave] = [staying, leaving].map((stream) => (stream as unknown as AsyncIterable<{ choices: { delta: { content?: string } }[] }>)[Symbol.asyncIterator]());
    let text = '';
    for (let i = 0; i < 2; i++) {
      text += (await stay.next()).value.choices[0]?.delta.content ?? '';
      await leave.next();
    }
    expect(await batchSize()).toBe(2);
    await leave.return!();
    // The row is freed before the next decoder step, while the other request still generates.
    await until(async () => (await batchSize()) === 1, 2_000);
    for (let next = await stay.next(); next.done !== true; next = await stay.next()) text += next.value.choices[0]?.delta.content ?? '';
    expect(await batchSize()).toBe(0);
    const single = await served.client.chat.completions.create({ ...request(200), stream: false } as never);
    expect(text).toBe((single as unknown as { choices: { message: { content: string } }[] }).choices[0].message.content);
  });
});
