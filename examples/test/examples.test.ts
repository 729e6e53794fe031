import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildModelFolder } from '@qwen-vl/builder';
import { QwenVL } from '@qwen-vl/node';
import type { ChatOptions, QwenVLMessage } from '@qwen-vl/node';
import { MODEL_DIR, goldenImage } from '@qwen-vl/test-support';

/**
 * The ported onnxruntime-genai examples, run as users run them (`node examples/dist/<name>.js`)
 * on the golden tiny model's build. Their answers must be the chat API's (`QwenVL`) for the
 * same conversation: the folder's generation_config.json samples at temperature 1e-6, which
 * is the argmax, so `greedy: true` with its other settings (repetition penalty 1.05) is the
 * reference.
 */
const DIST = fileURLToPath(new URL('../dist/', import.meta.url));
const GRADIENT = goldenImage('gradient_300x200.png');
const NOISE = goldenImage('noise_rgba_50x70.png');
const SYSTEM = 'You are a helpful assistant.';

let dir: string;
let modelDir: string;
let reference: QwenVL;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'qwen-vl-examples-'));
  modelDir = (await buildModelFolder(MODEL_DIR, join(dir, 'model'))).output;
  reference = await QwenVL.load(modelDir);
});
afterAll(async () => {
  await reference?.dispose();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the built example `name` with `args`, `stdin` piped in when given. */
function runExample(name: string, args: readonly string[], stdin?: string): Promise<Run> {
  const script = join(DIST, `${name}.js`);
  if (!existsSync(script)) throw new Error(`${script} is missing: run "pnpm build" first`);
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [script, ...args], { maxBuffer: 16 * 2 ** 20 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : (error.code as number), stdout, stderr });
    });
    child.stdin?.end(stdin ?? '');
  });
}

/** One user turn: its images, then its text, as the examples send them. */
function userTurn(images: readonly string[], text: string): QwenVLMessage {
  return { role: 'user', content: [...images.map((image) => ({ type: 'image' as const, image })), { type: 'text' as const, text }] };
}

async function answer(messages: QwenVLMessage[], options: ChatOptions): Promise<string> {
  return (await reference.chat(messages, { greedy: true, ...options })).text;
}

/** The text each "Output: " of the chat example streamed, up to the blank line after it. */
function chatOutputs(stdout: string): string[] {
  return stdout
    .split('\nOutput: ')
    .slice(1)
    .map((piece) => piece.slice(0, piece.lastIndexOf('\n\n')));
}

describe('the ported onnxruntime-genai examples', () => {
  it('basic (run_qwen2_5_vl.py): streams the answer the chat API gives, then the totals', async () => {
    const run = await runExample('basic', ['-m', modelDir, '-i', GRADIENT, '-p', 'Describe this image.', '--max_length', '120']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('Model type: qwen2_5_vl');
    const expected = await answer([userTurn([GRADIENT], 'Describe this image.')], { maxLength: 120 });
    expect(run.stdout).toContain(`=== Answer ===\n${expected}\n`);
    expect(run.stdout).toContain('Total tokens: 120');
  });

  it('basic refuses a missing image before loading anything', async () => {
    const run = await runExample('basic', ['-m', modelDir, '-i', join(dir, 'missing.png')]);
    expect(run.code).toBe(1);
    expect(run.stdout).toContain(`Error: Image file not found: ${join(dir, 'missing.png')}`);
  });

  it('multi-image (model-vision.py): two images, the shapes of the inputs, the chat API answer', async () => {
    const prompt = 'Compare the two images.';
    const run = await runExample('multi-image', ['-m', modelDir, '--non_interactive', '--image_paths', GRADIENT, '--image_paths', NOISE, '-p', prompt, '--max_length', '130']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('input_ids: [1, 109]\npixel_values: [324, 1176]\nimage_grid_thw: [2, 3]\n');
    const expected = await answer([userTurn([GRADIENT, NOISE], prompt)], { maxLength: 130 });
    expect(run.stdout).toContain(`Generating response...\n${expected}\nTotal Time : `);
  });

  it('multi-image asks for the images and the prompt in a loop, until the input ends', async () => {
    const run = await runExample('multi-image', ['-m', modelDir, '--max_length', '110'], `${GRADIENT}\nDescribe this image.\n\nHello, who are you?\n`);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('No image provided');
    const withImage = await answer([userTurn([GRADIENT], 'Describe this image.')], { maxLength: 110 });
    const textOnly = await answer([{ role: 'user', content: 'Hello, who are you?' }], { maxLength: 110 });
    expect(run.stdout).toContain(`Generating response...\n${withImage}\nTotal Time : `);
    expect(run.stdout).toContain(`Generating response...\n${textOnly}\nTotal Time : `);
  });

  it('chat (model-chat.py): a second turn appended to the cache answers as the chat API does for the whole conversation', async () => {
    const turns = ['Describe this image.', 'And what else?'];
    const run = await runExample('chat', ['-m', modelDir, '--image_paths', GRADIENT, '-u', turns[0], '-u', turns[1], '--max_new_tokens', '8']);
    expect(run.code, run.stderr).toBe(0);
    const messages: QwenVLMessage[] = [{ role: 'system', content: SYSTEM }, userTurn([GRADIENT], turns[0])];
    const first = await answer(messages, { maxNewTokens: 8 });
    messages.push({ role: 'assistant', content: first }, { role: 'user', content: turns[1] });
    const second = await answer(messages, { maxNewTokens: 8 });
    expect(chatOutputs(run.stdout)).toEqual([first, second]);
  });

  it('chat reads the turns from the terminal until quit(); --rewind answers each as a new conversation', async () => {
    const run = await runExample('chat', ['-m', modelDir, '--max_new_tokens', '6', '-r'], 'Hello, who are you?\n\nWhat is 2 + 2?\nquit()\n');
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('Error, input cannot be empty');
    const alone = (text: string) =>
      answer(
        [
          { role: 'system', content: SYSTEM },
          { role: 'user', content: text },
        ],
        { maxNewTokens: 6 },
      );
    expect(chatOutputs(run.stdout)).toEqual([await alone('Hello, who are you?'), await alone('What is 2 + 2?')]);
  });
});
