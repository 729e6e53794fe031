import { cp, lstat, mkdir, readFile, readdir, rm, stat, symlink, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { MODEL_PARTS } from '@qwen-vl/builder';
import { FORMAT_VERSION } from '@qwen-vl/pipeline';
import { MODEL_DIR, goldenImage, goldenVisionCase, maxAbsDiff, readNpy } from '@qwen-vl/test-support';
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
    expect(JSON.parse(result.stdout)).toMatchObject({ output: built, precision: 'fp32', execution_provider: 'cpu', parts: MODEL_PARTS.map((part) => part.name) });
    expect(result.stderr).toMatch(/^building \w+: \d+\/\d+ tensors, .* \(100%\)\n$/m);
    const onnxFiles = MODEL_PARTS.flatMap((part) => [part.file, `${part.file}.data`]);
    expect(onnxFiles).toContain('vision.onnx');
    expect((await readdir(built)).sort()).toEqual(
      ['chat_template.json', 'config.json', 'generation_config.json', 'preprocessor_config.json', 'qwen-vl.json', 'tokenizer.json', 'tokenizer_config.json', ...onnxFiles].sort(),
    );
    expect(JSON.parse(await readFile(join(built, 'qwen-vl.json'), 'utf8'))).toMatchObject({
      format: 'qwen-vl',
      formatVersion: FORMAT_VERSION,
      precision: 'fp32',
      executionProvider: 'cpu',
      // The golden model is untied: no part shares a weight file.
      parts: MODEL_PARTS.map((part) => ({ name: part.name, model: part.file, externalData: [`${part.file}.data`] })),
    });
    expect((await readFile(join(built, 'tokenizer.json'))).equals(await readFile(join(MODEL_DIR, 'tokenizer.json')))).toBe(true);
  });

  it('prepare --dump on the built folder also writes the golden image features', async () => {
    const out = join(dir(), 'dump');
    const result = await runCli([
      'prepare',
      '--model',
      built,
      '--image',
      goldenImage('gradient_300x200.png'),
      '--image',
      goldenImage('noise_rgba_50x70.png'),
      '--prompt',
      'Compare the two images.',
      '--dump',
      out,
    ]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({
      image_grid_thw: [
        [1, 14, 22],
        [1, 4, 4],
      ],
      image_features_shape: [81, 32],
    });
    const features = readNpy(join(out, 'image_features.npy'));
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

  // Each case runs in a temporary folder of its own, so that a regression destroys only that.
  describe('--force never deletes what the user did not name as output', () => {
    /** Every file under `folder`, relative, sorted: what must survive a refused build. */
    async function listing(folder: string): Promise<string[]> {
      return (await readdir(folder, { recursive: true })).sort();
    }

    it('refuses the input folder itself as output', async () => {
      const input = await modelCopy('force-input');
      const before = await listing(input);
      const result = await runCli(['build', '--input', input, '--output', input, '--force'], {}, dir());
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(`${input}: is the input model folder; replacing it would delete it`);
      expect(await listing(input)).toEqual(before);
    });

    it('refuses a folder that holds the input', async () => {
      const parent = await newFolder(dir(), 'force-parent');
      const input = join(parent, 'hf');
      await cp(MODEL_DIR, input, { recursive: true });
      const before = await listing(parent);
      for (const output of [parent, join(input, '..'), `${parent}/`]) {
        const result = await runCli(['build', '--input', input, '--output', output, '--force'], {}, dir());
        expect(result.code).toBe(1);
        expect(result.stderr).toContain(`holds the input model folder (${input}); replacing it would delete it`);
      }
      expect(await listing(parent)).toEqual(before);
    });

    it('refuses an empty output (an unset shell variable), the current folder and its parents', async () => {
      const cwd = await newFolder(dir(), 'force-cwd');
      const inner = await newFolder(cwd, 'inner');
      await writeFile(join(inner, 'mine.txt'), 'keep me');
      const empty = await runCli(['build', '--input', MODEL_DIR, '--output', '', '--force'], {}, inner);
      expect(empty.code).toBe(2);
      expect(empty.stderr).toContain('--output is empty');
      for (const output of ['.', '..', inner]) {
        const result = await runCli(['build', '--input', MODEL_DIR, '--output', output, '--force'], {}, inner);
        expect(result.code).toBe(1);
        expect(result.stderr).toMatch(/(is|holds) the current folder.*; replacing it would delete it/);
      }
      expect(await listing(cwd)).toEqual(['inner', join('inner', 'mine.txt')]);
    });

    it('refuses the home folder, a folder holding it, and a git repository', async () => {
      const parent = await newFolder(dir(), 'force-home-parent');
      const home = await newFolder(parent, 'me');
      await writeFile(join(home, '.bashrc'), 'keep me');
      for (const output of [home, parent]) {
        const result = await runCli(['build', '--input', MODEL_DIR, '--output', output, '--force'], { HOME: home }, dir());
        expect(result.code).toBe(1);
        expect(result.stderr).toMatch(/(is|holds) your home folder.*; replacing it would delete it/);
      }
      const repository = await newFolder(dir(), 'force-repository');
      await newFolder(repository, '.git');
      await writeFile(join(repository, 'README.md'), 'keep me');
      const result = await runCli(['build', '--input', MODEL_DIR, '--output', repository, '--force'], {}, dir());
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(`${repository}: is a git repository (it holds .git); replacing it would delete it`);
      expect(await listing(parent)).toEqual(['me', join('me', '.bashrc')]);
      expect(await listing(repository)).toEqual(['.git', 'README.md']);
    });

    it('replaces a link named as output, not the folder it points to', async () => {
      const pointed = await modelCopy('force-link-target');
      const before = await listing(pointed);
      const link = join(dir(), 'force-link');
      await symlink(pointed, link);
      const result = await runCli(['build', '--input', MODEL_DIR, '--output', link, '--force'], {}, dir());
      expect(result.code).toBe(0);
      expect((await lstat(link)).isDirectory()).toBe(true);
      expect(await listing(pointed)).toEqual(before);
    });
  });

  it('--help names every file the build copies, chat_template.jinja included', async () => {
    const input = await modelCopy('every-copied-file');
    const { chat_template: template } = JSON.parse(await readFile(join(input, 'chat_template.json'), 'utf8')) as { chat_template: string };
    await writeFile(join(input, 'chat_template.jinja'), template);
    await writeFile(join(input, 'README.md'), 'not a model file');
    const output = join(dir(), 'every-copied-file-built');
    const build = await runCli(['build', '--input', input, '--output', output], {}, dir());
    expect(build.code).toBe(0);
    const inputFiles = new Set(await readdir(input));
    const copied = (await readdir(output)).filter((name) => inputFiles.has(name));
    expect(copied).toContain('chat_template.jinja');
    expect(copied).not.toContain('README.md');
    const help = await runCli(['build', '--help']);
    expect(help.code).toBe(0);
    // As a whole name: "config.json" inside "generation_config.json" does not count.
    for (const name of copied) expect(help.stdout).toMatch(new RegExp(`(?<![\\w.])${name.replaceAll('.', '\\.')}(?![\\w.])`));
  });

  it('answers a malformed command line with exit code 2', async () => {
    const cases: [string[], string][] = [
      [['--precision', 'int8'], '--precision must be one of fp32, fp16, int4, got "int8"'],
      [['--vision-precision', 'int2'], '--vision-precision must be one of fp32, fp16, int8, int4, got "int2"'],
      [['--accuracy-level', '5'], '--accuracy-level must be one of 0, 1, 2, 3, 4, got "5"'],
      [['--block-size', '0'], '--block-size must be a positive integer, got "0"'],
      [['--layout', 'onnx-community'], '--layout must be one of qwen-vl, genai, transformers.js, got "onnx-community"'],
      [['--execution-provider', 'tensorrt'], '--execution-provider must be one of cpu, cuda, dml, webgpu, got "tensorrt"'],
      [['--execution-provider', 'CPU'], '--execution-provider must be one of cpu, cuda, dml, webgpu, got "CPU"'],
      [['--layout', 'transformers.js', '--execution-provider', 'cpu'], '--execution-provider must be one of webgpu, dml with --layout transformers.js, got "cpu"'],
    ];
    for (const [flags, message] of cases) {
      const result = await runCli(['build', '--input', MODEL_DIR, '--output', join(dir(), 'x'), ...flags]);
      expect(result.code).toBe(2);
      expect(result.stderr).toContain(message);
    }
  });

  it('builds int4 text with int8 vision (into a folder whose parents do not exist yet), records it in the manifest, and the folder answers', async () => {
    const out = join(dir(), 'not', 'yet', 'int4');
    const result = await runCli(['build', '--input', MODEL_DIR, '--output', out, '--precision', 'int4', '--vision-precision', 'int8', '--block-size', '16', '--accuracy-level', '0']);
    expect(result.stderr).not.toMatch(/error/i);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ precision: 'int4', vision_precision: 'int8', block_size: 16, accuracy_level: 0 });
    expect(JSON.parse(await readFile(join(out, 'qwen-vl.json'), 'utf8'))).toMatchObject({ precision: 'int4', visionPrecision: 'int8', quantization: { blockSize: 16, accuracyLevel: 0 } });
    // 4 bits per text weight instead of 32: the folder's weight files shrink accordingly.
    const fp32Text = (await stat(join(built, 'decoder.onnx.data'))).size + (await stat(join(built, 'embed.onnx.data'))).size;
    const int4Text = (await stat(join(out, 'decoder.onnx.data'))).size + (await stat(join(out, 'embed.onnx.data'))).size;
    expect(int4Text).toBeLessThan(fp32Text / 5);
    const run = await runCli(['run', '--model', out, '--image', goldenImage('gradient_300x200.png'), '--prompt', 'Describe this image.', '--greedy', '--max-new-tokens', '4', '--json']);
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout).tokens).toHaveLength(4);
  });
  it('refuses a block size MatMulNBits does not take (not a power of two, or over 256), naming it', async () => {
    for (const blockSize of ['24', '512']) {
      const result = await runCli(['build', '--input', MODEL_DIR, '--output', join(dir(), 'y'), '--precision', 'int4', '--block-size', blockSize]);
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(`blockSize: must be 16, 32, 64, 128 or 256 (the block sizes onnxruntime's MatMulNBits takes), got ${blockSize}`);
    }
  });
});
