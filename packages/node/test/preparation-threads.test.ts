import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildModelFolder } from '@qwen-vl/builder';
import { QwenVLError } from '@qwen-vl/core';
import { GOLDEN_SEARCH as GOLDEN_RUN, GOLDEN_STEPS, MODEL_DIR, goldenArray, goldenImage, goldenJson, numbers } from '@qwen-vl/test-support';
import { QwenVL } from '../src/index.js';
import { PreparationThreads } from '../src/preparation-threads.js';
import type { ChatOptions, ChatResult, ImageInput, QwenVLLoadOptions, QwenVLMessage } from '../src/index.js';
import { useTempDir } from './helpers/temp-dir.js';

const GOLDEN_SEARCH: ChatOptions = { ...GOLDEN_RUN, maxNewTokens: GOLDEN_STEPS };
const GRADIENT = goldenImage('gradient_300x200.png');
const NOISE = goldenImage('noise_rgba_50x70.png');

const execFileAsync = promisify(execFile);
const PACKAGE_DIR = fileURLToPath(new URL('..', import.meta.url));

const dir = useTempDir('qwen-vl-prepare-threads-');
let folder: string;
/** Prepares on two worker threads; `inThread` on the calling thread: every answer must be the same. */
let threaded: QwenVL;
let inThread: QwenVL;
beforeAll(async () => {
  folder = (await buildModelFolder(MODEL_DIR, join(dir(), 'model'))).output;
  [threaded, inThread] = await Promise.all([QwenVL.load(folder, { prepareThreads: 2, maxBatch: 4 }), QwenVL.load(folder)]);
});
afterAll(async () => {
  await Promise.all([threaded?.dispose(), inThread?.dispose()]);
});

function ask(content: QwenVLMessage['content']): QwenVLMessage[] {
  return [{ role: 'user', content }];
}

function same(threadedResult: ChatResult, inThreadResult: ChatResult): void {
  expect(threadedResult.tokens).toEqual(inThreadResult.tokens);
  expect(numbers(threadedResult.promptTokenIds)).toEqual(numbers(inThreadResult.promptTokenIds));
}

describe('QwenVL with prepareThreads', () => {
  it('answers the golden one_image prompt with the golden tokens and log-probabilities', async () => {
    const result = await threaded.chat(
      ask([
        { type: 'image', image: GRADIENT },
        { type: 'text', text: 'Describe this image.' },
      ]),
      { ...GOLDEN_SEARCH, logprobs: true },
    );
    expect(result.tokens).toEqual(numbers(goldenArray('one_image', 'tokens').data));
    expect(numbers(result.promptTokenIds)).toEqual(numbers(goldenArray('one_image', 'input_ids').data));
    expect(Math.max(...result.logprobs.map((p, i) => Math.abs(p - goldenJson('one_image').logprobs[i])))).toBeLessThan(1e-3);
    expect(result.timings.prepareMs).toBeGreaterThan(0);
  });

  it('answers what the calling thread answers: images as a path, bytes or file: URL, two images, a video, a system prompt, concurrent calls', async () => {
    const bytes = await readFile(GRADIENT);
    const conversations: { messages: QwenVLMessage[]; options?: ChatOptions }[] = [
      ...[GRADIENT, bytes, pathToFileURL(GRADIENT), pathToFileURL(GRADIENT).href].map((image: ImageInput) => ({
        messages: ask([
          { type: 'image', image },
          { type: 'text', text: 'Describe this image.' },
        ]),
      })),
      {
        messages: ask([
          { type: 'image', image: GRADIENT },
          { type: 'image', image: NOISE },
          { type: 'text', text: 'Compare them.' },
        ]),
      },
      {
        messages: ask([
          { type: 'video', video: [GRADIENT, NOISE], fps: 1 },
          { type: 'text', text: 'What happens?' },
        ]),
      },
      { messages: ask('Hi'), options: { system: 'Be brief.' } },
    ];
    const run = (model: QwenVL) => Promise.all(conversations.map(({ messages, options }) => model.chat(messages, { ...GOLDEN_SEARCH, maxNewTokens: 4, ...options })));
    const [threadedResults, inThreadResults] = [await run(threaded), await run(inThread)];
    threadedResults.forEach((result, i) => same(result, inThreadResults[i]));
    // The bytes and the path are one picture, and the second picture is in the prompt: a run that mixed calls up would differ here.
    expect(numbers(threadedResults[1].promptTokenIds)).toEqual(numbers(threadedResults[0].promptTokenIds));
    expect(threadedResults[4].promptTokenIds.length).toBeGreaterThan(threadedResults[0].promptTokenIds.length);
  });

  it("reports a thread's failure as the calling thread does: the code, the message item or file, the reason", async () => {
    const corruptImage = ask([
      { type: 'image', image: new Uint8Array([1, 2, 3]) },
      { type: 'text', text: 'x' },
    ]);
    const [corrupt, expected] = await Promise.all([threaded, inThread].map((model) => model.chat(corruptImage).catch((error: unknown) => error)));
    expect(corrupt).toBeInstanceOf(QwenVLError);
    expect(corrupt).toMatchObject({ code: 'INVALID_IMAGE', source: 'messages[0].content[0].image (bytes)', message: (expected as QwenVLError).message });
    const absent = join(dir(), 'absent.png');
    await expect(
      threaded.chat(
        ask([
          { type: 'image', image: absent },
          { type: 'text', text: 'x' },
        ]),
      ),
    ).rejects.toMatchObject({ code: 'MISSING_FILE', source: absent });
    // Checked before anything is sent to a thread.
    await expect(
      threaded.chat(
        ask([
          { type: 'image', image: 'https://example.com/cat.jpg' },
          { type: 'text', text: 'x' },
        ]),
      ),
    ).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      source: 'messages[0].content[0].image',
    });
    await expect(
      threaded.chat(
        ask([
          { type: 'image', image: (() => 1) as never },
          { type: 'text', text: 'x' },
        ]),
      ),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', source: 'messages[0].content[0].image' });
    // The threads still answer after those failures.
    const after = await threaded.chat(
      ask([
        { type: 'image', image: GRADIENT },
        { type: 'text', text: 'Describe this image.' },
      ]),
      GOLDEN_SEARCH,
    );
    expect(after.tokens).toEqual(numbers(goldenArray('one_image', 'tokens').data));
  });

  it('refuses a thread count that is not an integer from 0 to 64, before reading the folder', async () => {
    const load = (prepareThreads: unknown) => QwenVL.load(join(dir(), 'no-such-folder'), { prepareThreads } as QwenVLLoadOptions);
    for (const bad of [-1, 1.5, 65, 1e6, '2']) {
      await expect(load(bad)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', source: 'QwenVL.load options.prepareThreads', message: expect.stringContaining('must be an integer from 0 to 64') });
    }
  });

  it('a script that awaits calls gets their answers, and ends without dispose, called or not (idle threads keep no process alive)', async () => {
    const script = (calls: number) => `
      import { QwenVL } from ${JSON.stringify(pathToFileURL(join(PACKAGE_DIR, 'dist/index.js')).href)};
      const model = await QwenVL.load(${JSON.stringify(folder)}, { prepareThreads: 1 });
      const answers = [];
      // One call after another: the second is sent when the thread has been idle once.
      for (let i = 0; i < ${calls}; i++) {
        answers.push((await model.chat([{ role: 'user', content: [{ type: 'image', image: ${JSON.stringify(GRADIENT)} }, { type: 'text', text: 'Describe this image.' }] }], { greedy: true, maxNewTokens: 2 })).tokens);
      }
      console.log(JSON.stringify(answers));`;
    const run = async (calls: number) => {
      const file = join(dir(), `script-${calls}.mjs`);
      await writeFile(file, script(calls));
      return JSON.parse((await execFileAsync(process.execPath, [file], { timeout: 60_000 })).stdout) as unknown;
    };
    const golden = numbers(goldenArray('one_image', 'tokens').data).slice(0, 2);
    expect(await run(2)).toEqual([golden, golden]);
    expect(await run(0)).toEqual([]);
  });

  it("a call whose thread stops before answering fails with a plain Error (not the caller's fault); later calls are refused", async () => {
    const threads = new PreparationThreads(folder, 1);
    const pending = threads.prepare(
      ask([
        { type: 'image', image: GRADIENT },
        { type: 'text', text: 'x' },
      ]),
      {},
    );
    await threads.dispose();
    const error = await pending.catch((reason: unknown) => reason);
    expect(error).toBeInstanceOf(Error);
    expect(error).not.toBeInstanceOf(QwenVLError);
    expect((error as Error).message).toMatch(/^a preparation thread stopped \(exit code \d+\) before answering$/);
    await expect(threads.prepare(ask('Hi'), {})).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('disposed') });
  });

  it('a disposed model refuses calls', async () => {
    const model = await QwenVL.load(folder, { prepareThreads: 1 });
    await model.chat(ask('Hi'), { maxNewTokens: 1 });
    await model.dispose();
    await expect(model.chat(ask('Hi'), { maxNewTokens: 1 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('disposed') });
  });
});
