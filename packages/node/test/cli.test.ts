import { cp, mkdir, mkdtemp, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { HostTensor } from '@qwen-vl/core';
import { MODEL_DIR, goldenArray, goldenImage, goldenJson, maxAbsDiff, numbers, readNpy as readNpyFile } from '@qwen-vl/test-support';
import { runCli } from './helpers/cli.js';
import { useTempDir } from './helpers/temp-dir.js';

const dir = useTempDir('qwen-vl-cli-');

/** An array of a dump folder. */
function readNpy(folder: string, name: string): HostTensor {
  return readNpyFile(join(folder, `${name}.npy`));
}

/** Checks that a failed run left neither OUT nor a temporary folder beside it. */
async function expectNothingWritten(parent: string): Promise<void> {
  expect(await readdir(parent)).toEqual([]);
}

// Each case starts a Node process that loads sharp, the tokenizer and the model folder.
describe('qwen-vl prepare', () => {
  it('prints the summary and dumps the golden one_image inputs as .npy', async () => {
    const out = join(dir(), 'one_image');
    const result = await runCli(['prepare', '--model', MODEL_DIR, '--image', goldenImage('gradient_300x200.png'), '--prompt', 'Describe this image.', '--dump', out]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const length = goldenJson('one_image').input_ids.length;
    expect(JSON.parse(result.stdout)).toMatchObject({
      tokens: length,
      images: 1,
      image_grid_thw: [[1, 14, 22]],
      image_tokens: 77, // 14·22 / 4
      rope_delta: goldenJson('one_image').rope_delta,
      pixel_values_shape: [308, 1176],
    });
    expect(result.stdout.trim().split('\n')).toHaveLength(1);

    expect((await readdir(out)).sort()).toEqual(['image_grid_thw.npy', 'input_ids.npy', 'pixel_values.npy', 'position_ids.npy', 'rope_deltas.npy']);
    const ids = readNpy(out, 'input_ids');
    expect([ids.type, ids.dims]).toEqual(['int64', [1, length]]);
    expect(numbers(ids.data)).toEqual(numbers(goldenArray('one_image', 'input_ids').data));
    const pixels = readNpy(out, 'pixel_values');
    expect([pixels.type, pixels.dims]).toEqual(['float32', [308, 1176]]);
    expect(maxAbsDiff(pixels.data as Float32Array, goldenArray('one_image', 'pixel_values').data as Float32Array)).toBeLessThanOrEqual(1e-5);
    const grid = readNpy(out, 'image_grid_thw');
    expect([grid.type, grid.dims, numbers(grid.data)]).toEqual(['int64', [1, 3], [1, 14, 22]]);
    const positions = readNpy(out, 'position_ids');
    expect([positions.type, positions.dims]).toEqual(['int64', [3, 1, length]]);
    expect(numbers(positions.data)).toEqual(numbers(goldenArray('one_image', 'position_ids').data));
    const deltas = readNpy(out, 'rope_deltas');
    expect([deltas.type, deltas.dims, numbers(deltas.data)]).toEqual(['int64', [1, 1], [goldenJson('one_image').rope_delta]]);
    // Only OUT itself: the temporary folder was renamed, not left beside it.
    expect(await readdir(dir())).toEqual(['one_image']);
  });

  it('dumps empty vision arrays for a text-only prompt', async () => {
    const out = join(dir(), 'text_only');
    const result = await runCli(['prepare', '--model', MODEL_DIR, '--prompt', 'Hello, who are you?', '--dump', out]);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ tokens: 25, images: 0, image_tokens: 0, rope_delta: 0, pixel_values_shape: [0, 1176] });
    expect(readNpy(out, 'pixel_values').dims).toEqual([0, 1176]);
    expect(readNpy(out, 'image_grid_thw').dims).toEqual([0, 3]);
    expect(numbers(readNpy(out, 'input_ids').data)).toEqual(numbers(goldenArray('text_only', 'input_ids').data));
  });

  it('fails on a corrupt image with exit code 1, naming the file, and writes nothing', async () => {
    const parent = await mkdtemp(join(dir(), 'corrupt-'));
    const image = join(dir(), 'corrupt.jpg');
    const jpeg = await readFile(goldenImage('checker_640x480.jpg'));
    await writeFile(image, jpeg.subarray(0, jpeg.length / 2));
    const result = await runCli(['prepare', '--model', MODEL_DIR, '--image', image, '--prompt', 'x', '--dump', join(parent, 'out')]);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/^qwen-vl: .+\n$/);
    expect(result.stderr).toContain(image);
    expect(result.stderr).toMatch(/premature end/i);
    await expectNothingWritten(parent);
  });

  it('fails on a missing model folder with exit code 1, naming the folder', async () => {
    const parent = await mkdtemp(join(dir(), 'nomodel-'));
    const model = join(dir(), 'no-such-model');
    const result = await runCli(['prepare', '--model', model, '--prompt', 'x', '--dump', join(parent, 'out')]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^qwen-vl: .+\n$/);
    expect(result.stderr).toContain(model);
    await expectNothingWritten(parent);
  });

  it('fails on a missing image file with exit code 1, naming it', async () => {
    const image = join(dir(), 'absent.png');
    const result = await runCli(['prepare', '--model', MODEL_DIR, '--image', image, '--prompt', 'x']);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(image);
  });

  it('names the file and field of a bad config value', async () => {
    const model = join(dir(), 'bad-model');
    await cp(MODEL_DIR, model, { recursive: true, filter: (source) => !source.endsWith('.safetensors') });
    const configPath = join(model, 'preprocessor_config.json');
    const config = JSON.parse(await readFile(configPath, 'utf8'));
    await writeFile(configPath, JSON.stringify({ ...config, image_std: [0.5, 0, 0.5] }));
    const result = await runCli(['prepare', '--model', model, '--prompt', 'x']);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(configPath);
    expect(result.stderr).toContain('image_std');
  });

  it('refuses to overwrite an existing dump folder and leaves it untouched', async () => {
    const out = join(dir(), 'existing');
    await mkdir(out);
    await writeFile(join(out, 'keep.txt'), 'mine');
    const result = await runCli(['prepare', '--model', MODEL_DIR, '--prompt', 'x', '--dump', out]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(out);
    expect(await readdir(out)).toEqual(['keep.txt']);
  });

  it.each([
    ['no --prompt', ['prepare', '--model', MODEL_DIR], /--prompt/],
    ['no --model', ['prepare', '--prompt', 'x'], /--model/],
    ['an unknown option', ['prepare', '--model', MODEL_DIR, '--prompt', 'x', '--bogus'], /--bogus/],
    ['a stray argument', ['prepare', '--model', MODEL_DIR, '--prompt', 'x', 'extra'], /extra/],
    ['a non-numeric --max-pixels', ['prepare', '--model', MODEL_DIR, '--prompt', 'x', '--max-pixels', 'lots'], /--max-pixels/],
    ['--min-pixels above --max-pixels', ['prepare', '--model', MODEL_DIR, '--prompt', 'x', '--min-pixels', '5000', '--max-pixels', '4000'], /--min-pixels 5000/],
    ['an unknown command', ['frobnicate'], /frobnicate/],
  ])('exits with code 2 on %s', async (_name, args, message) => {
    const result = await runCli(args);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
  });

  it('prints the command help with --help', async () => {
    const result = await runCli(['prepare', '--help']);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('Usage: qwen-vl prepare --model DIR');
    for (const option of ['--image', '--prompt', '--system', '--min-pixels', '--max-pixels', '--dump']) expect(result.stdout).toContain(option);
  });
});
