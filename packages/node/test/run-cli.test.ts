import { existsSync } from 'node:fs';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildModelFolder } from '@qwen-vl/builder';
import { LOGITS_TOLERANCE, MODEL_DIR, goldenArray, goldenImage, maxAbsDiff, numbers, readNpy } from '@qwen-vl/test-support';
import { onnxruntimeNodeBackend } from '../src/index.js';
import { runCli } from './helpers/cli.js';
import { useTempDir } from './helpers/temp-dir.js';

const cudaStarts = (await onnxruntimeNodeBackend.availability('cuda')).available;

const dir = useTempDir('qwen-vl-run-');
let model: string;
beforeAll(async () => {
  model = (await buildModelFolder(MODEL_DIR, join(dir(), 'model'))).output;
});

/**
 * The golden cases decode greedily on raw logits for 8 tokens through EOS: greedy, no
 * repetition penalty (generation_config.json has 1.05), EOS ignored.
 */
const GOLDEN_SEARCH = ['--greedy', '--repetition-penalty', '1', '--max-new-tokens', '8', '--ignore-eos'];
const ONE_IMAGE = ['--image', goldenImage('gradient_300x200.png'), '--prompt', 'Describe this image.'];

describe('qwen-vl run', () => {
  it('--json --greedy gives the golden one_image tokens, and --dump their logits within 1e-3', async () => {
    const dump = join(dir(), 'dump');
    const result = await runCli(['run', '--model', model, ...ONE_IMAGE, ...GOLDEN_SEARCH, '--json', '--dump', dump]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout.trim().split('\n')).toHaveLength(1);
    const json = JSON.parse(result.stdout);
    expect(json.tokens).toEqual(numbers(goldenArray('one_image', 'tokens').data));
    expect(json.finish_reason).toBe('length');
    expect(json.prompt_tokens).toBe(goldenArray('one_image', 'input_ids').dims[0]);
    expect(json.logprobs).toHaveLength(8);
    expect(typeof json.text).toBe('string');
    expect(json.timings.steps).toBeGreaterThan(0);

    expect(await readdir(dump)).toEqual(['logits.npy']);
    const logits = readNpy(join(dump, 'logits.npy'));
    const golden = goldenArray('one_image', 'logits');
    expect([logits.type, logits.dims]).toEqual(['float32', golden.dims]);
    expect(maxAbsDiff(logits.data as Float32Array, golden.data as Float32Array)).toBeLessThanOrEqual(LOGITS_TOLERANCE);
  });

  it('--video of two copies of the golden image gives the golden one_image tokens; --fps 0 is a usage error', async () => {
    const image = goldenImage('gradient_300x200.png');
    const result = await runCli(['run', '--model', model, '--video', `${image},${image}`, '--prompt', 'Describe this image.', ...GOLDEN_SEARCH, '--json']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout).tokens).toEqual(numbers(goldenArray('one_image', 'tokens').data));
    const badFps = await runCli(['run', '--model', model, '--video', `${image},${image}`, '--fps', '0', '--prompt', 'x']);
    expect(badFps.code).toBe(2);
    expect(badFps.stderr).toContain('--fps must be a positive number');
  });

  it('streams to stdout exactly the text the --json run reports', async () => {
    const [streamed, json] = await Promise.all([runCli(['run', '--model', model, ...ONE_IMAGE, ...GOLDEN_SEARCH]), runCli(['run', '--model', model, ...ONE_IMAGE, ...GOLDEN_SEARCH, '--json'])]);
    expect(streamed.code).toBe(0);
    expect(json.code).toBe(0);
    const text = JSON.parse(json.stdout).text as string;
    expect(text.length).toBeGreaterThan(0);
    expect(streamed.stdout).toBe(`${text}\n`);
  });

  it('fails with exit code 1 and a clear message on a device onnxruntime-node cannot use here', async () => {
    // DirectML exists only in the Windows build; elsewhere it is always unavailable.
    const device = process.platform === 'win32' ? 'webgpu' : 'dml';
    // A folder built for it, so that what fails is the device.
    const built = (await buildModelFolder(MODEL_DIR, join(dir(), `model-${device}`), { executionProvider: device })).output;
    const result = await runCli(['run', '--model', built, '--prompt', 'x', '--device', device]);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/^qwen-vl: .+\n$/);
    expect(result.stderr).toContain(`device "${device}"`);
    expect(result.stderr).toMatch(/execution provider/);
  });

  // Where CUDA does start (a GPU machine) there is no failure to print.
  it.skipIf(cudaStarts)('prints only its own one-line error when a listed provider fails to start (no onnxruntime log lines before it)', async () => {
    // This build lists cuda, but without the downloaded provider libraries and a GPU it
    // fails to start, and onnxruntime used to log the library failure to stderr first.
    const built = (await buildModelFolder(MODEL_DIR, join(dir(), 'model-cuda'), { executionProvider: 'cuda' })).output;
    const result = await runCli(['run', '--model', built, '--prompt', 'x', '--device', 'cuda']);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^qwen-vl: onnxruntime-node device "cuda": .+\n$/);
  });

  it('refuses, before opening a model, a folder whose decoder the device does not run, naming the build to make', async () => {
    for (const device of ['webgpu', 'dml', 'cuda']) {
      const result = await runCli(['run', '--model', model, '--prompt', 'x', '--device', device]);
      expect(result.code).toBe(1);
      expect(result.stderr).toBe(
        `qwen-vl: ${join(model, 'qwen-vl.json')} field "executionProvider": is "cpu": the decoder attends with com.microsoft GroupQueryAttention, which qwen-vl does not run on ${device}; rebuild the folder with "qwen-vl build --execution-provider ${device}"\n`,
      );
    }
  });

  it('fails with exit code 1 naming a missing model folder', async () => {
    const missing = join(dir(), 'no-such-model');
    const result = await runCli(['run', '--model', missing, '--prompt', 'x']);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^qwen-vl: .+\n$/);
    expect(result.stderr).toContain(missing);
  });

  it('fails with exit code 1 naming embed.onnx when given a Hugging Face folder instead of a built one', async () => {
    const result = await runCli(['run', '--model', MODEL_DIR, '--prompt', 'x']);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(join(MODEL_DIR, 'embed.onnx'));
    expect(result.stderr).toContain('qwen-vl build');
  });

  it('fails with exit code 1 naming a corrupt image, and writes no dump', async () => {
    const image = join(dir(), 'corrupt.jpg');
    const jpeg = await readFile(goldenImage('checker_640x480.jpg'));
    await writeFile(image, jpeg.subarray(0, jpeg.length / 2));
    const dump = join(dir(), 'corrupt-dump');
    const result = await runCli(['run', '--model', model, '--image', image, '--prompt', 'x', '--dump', dump]);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/^qwen-vl: .+\n$/);
    expect(result.stderr).toContain(image);
    expect(existsSync(dump)).toBe(false);
  });

  it.each([
    ['no --prompt', ['--model', 'm'], /--prompt/],
    ['no --model', ['--prompt', 'x'], /--model/],
    ['a non-integer --max-new-tokens', ['--model', 'm', '--prompt', 'x', '--max-new-tokens', '2.5'], /--max-new-tokens/],
    ['a non-numeric --temperature', ['--model', 'm', '--prompt', 'x', '--temperature', 'warm'], /--temperature/],
    ['an unknown --device', ['--model', 'm', '--prompt', 'x', '--device', 'tpu'], /--device/],
  ])('exits with code 2 on %s', async (_name, args, message) => {
    const result = await runCli(['run', ...args]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
  });

  it('exits with code 2 naming the flag when a value is out of range', async () => {
    const result = await runCli(['run', '--model', model, '--prompt', 'x', '--top-p', '1.5']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/--top-p: must be in \(0, 1\]/);
    expect(result.stderr).not.toContain('search option');
  });
});
