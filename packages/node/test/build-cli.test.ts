import { cp, mkdir, readFile, readdir, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { decodeNpy } from '@qwen-vl/core';
import { MODEL_PARTS } from '../src/build/model-parts.js';
import { MODEL_DIR, goldenImage, maxAbsDiff } from './golden.js';
import { goldenVisionCase } from './vision-fixtures.js';
import { runCli } from './helpers/cli.js';
import { newFolder, useTempDir } from './helpers/temp-dir.js';

const dir = useTempDir('qwen-vl-build-cli-');
let built: string;
beforeAll(async () => {
  built = join(dir(), 'built');
});

/** A copy of the golden model folder to damage. */
async function modelCopy(name: string): Promise<string> {
  const copy = join(dir(), name);
  await cp(MODEL_DIR, copy, { recursive: true });
  return copy;
}

// Each case starts a Node process that loads onnxruntime and the model folder.
describe('qwen-vl build', { timeout: 60_000 }, () => {
  it('writes the model folder: ONNX models, configs, tokenizer and manifest', async () => {
    const result = await runCli(['build', '--input', MODEL_DIR, '--output', built]);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ output: built, precision: 'fp32', parts: MODEL_PARTS.map((part) => part.name) });
    expect(result.stderr).toMatch(/^building \w+: \d+\/\d+ tensors, .* \(100%\)\n$/m);
    const onnxFiles = MODEL_PARTS.flatMap((part) => [part.file, `${part.file}.data`]);
    expect(onnxFiles).toContain('vision.onnx');
    expect((await readdir(built)).sort()).toEqual([
      'chat_template.json', 'config.json', 'generation_config.json', 'preprocessor_config.json', 'qwen-vl.json',
      'tokenizer.json', 'tokenizer_config.json', ...onnxFiles,
    ].sort());
    expect(JSON.parse(await readFile(join(built, 'qwen-vl.json'), 'utf8'))).toMatchObject({
      format: 'qwen-vl',
      formatVersion: 2,
      precision: 'fp32',
      // The golden model is untied: no part shares a weight file.
      parts: MODEL_PARTS.map((part) => ({ name: part.name, model: part.file, externalData: [`${part.file}.data`] })),
    });
    expect((await readFile(join(built, 'tokenizer.json'))).equals(await readFile(join(MODEL_DIR, 'tokenizer.json')))).toBe(true);
  });

  it('prepare --dump on the built folder also writes the golden image features', async () => {
    const out = join(dir(), 'dump');
    const result = await runCli([
      'prepare', '--model', built, '--image', goldenImage('gradient_300x200.png'), '--image', goldenImage('noise_rgba_50x70.png'),
      '--prompt', 'Compare the two images.', '--dump', out,
    ]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ image_grid_thw: [[1, 14, 22], [1, 4, 4]], image_features_shape: [81, 32] });
    const features = decodeNpy(await readFile(join(out, 'image_features.npy')), 'image_features.npy');
    expect([features.type, features.dims]).toEqual(['float32', [81, 32]]);
    expect(maxAbsDiff(features.data as Float32Array, goldenVisionCase('two_images').features)).toBeLessThan(1e-3);
  });

  it('fails on a truncated safetensors file, naming it, and leaves nothing behind', async () => {
    const input = await modelCopy('truncated');
    const weights = join(input, 'model.safetensors');
    await truncate(weights, Math.floor((await stat(weights)).size / 2));
    const parent = await newFolder(dir(), 'truncated-out');
    const result = await runCli(['build', '--input', input, '--output', join(parent, 'out')]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`qwen-vl: ${weights}`);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(await readdir(parent)).toEqual([]);
  });

  it('names a missing required file', async () => {
    const input = await modelCopy('no-tokenizer');
    await rm(join(input, 'tokenizer.json'));
    const parent = await newFolder(dir(), 'no-tokenizer-out');
    const result = await runCli(['build', '--input', input, '--output', join(parent, 'out')]);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(`qwen-vl: ${join(input, 'tokenizer.json')}: is missing; a built model folder needs it\n`);
    expect(await readdir(parent)).toEqual([]);
  });

  it('refuses an existing output folder unless --force, then replaces it whole', async () => {
    const parent = await newFolder(dir(), 'force');
    const out = join(parent, 'out');
    await mkdir(out);
    await writeFile(join(out, 'old.txt'), 'old');
    const refused = await runCli(['build', '--input', MODEL_DIR, '--output', out, '--precision', 'fp16']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/already exists; .* pass --force/);
    expect(await readdir(out)).toEqual(['old.txt']);

    const forced = await runCli(['build', '--input', MODEL_DIR, '--output', out, '--precision', 'fp16', '--force']);
    expect(forced.code).toBe(0);
    expect(await readdir(parent)).toEqual(['out']);
    expect(await readdir(out)).not.toContain('old.txt');
    expect(JSON.parse(await readFile(join(out, 'qwen-vl.json'), 'utf8')).precision).toBe('fp16');
  });

  it('answers a malformed command line with exit code 2', async () => {
    const result = await runCli(['build', '--input', MODEL_DIR, '--output', join(dir(), 'x'), '--precision', 'int4']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('--precision must be fp32 or fp16, got "int4"');
  });
});
