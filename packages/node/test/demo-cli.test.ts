import { existsSync } from 'node:fs';
import { cp, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './helpers/cli.js';
import type { CliResult } from './helpers/cli.js';
import { newFolder, useTempDir } from './helpers/temp-dir.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
/** The embedded default model: what `pnpm demo` runs. */
const CHECKPOINT = join(REPO, 'models/tiny-shapes');
const IMAGES = join(REPO, 'examples/images');
const SHAPE_ONE = join(IMAGES, 'shape-one.png');

/** The questions examples/images/shapes.json lists for shape-one.png (what `pnpm demo` asks), with their right answers. */
const SHAPE_ONE_ANSWERS = {
  'What shape is this?': 'circle',
  'How many shapes are there?': '1',
  'What color is the circle?': 'black',
};

const dir = useTempDir('qwen-vl-demo-');

/** The `Q: question` lines of the demo's stdout, each with the answer printed after it. */
function answers(stdout: string): Record<string, string> {
  const asked: Record<string, string> = {};
  for (const block of stdout.split(/^Q: /m).slice(1)) {
    const [question, ...answer] = block.split('\n');
    asked[question] = answer.join('\n').trim();
  }
  return asked;
}

describe('qwen-vl demo', () => {
  let cache: string;
  /** The first run in an empty cache: it builds. */
  let first: CliResult;
  const demo = () => ['demo', '--checkpoint', CHECKPOINT, '--image', SHAPE_ONE];

  beforeAll(async () => {
    cache = join(dir(), 'cache');
    // --cache wins over $QWEN_VL_CACHE.
    first = await runCli([...demo(), '--cache', cache], { QWEN_VL_CACHE: join(dir(), 'unused') });
  });

  it('builds the checkpoint into CACHE/tiny-shapes/model, prints what it knows, and asks the questions shapes.json lists', async () => {
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).toContain(`building ${CHECKPOINT} into ${join(cache, 'tiny-shapes', 'model')}`);
    expect(existsSync(join(dir(), 'unused'))).toBe(false);
    const model = join(cache, 'tiny-shapes', 'model');
    expect(await readdir(model)).toEqual(expect.arrayContaining(['decoder.onnx', 'embed.onnx', 'vision.onnx', 'qwen-vl.json', 'tokenizer.json']));
    const stamp = JSON.parse(await readFile(join(cache, 'tiny-shapes', 'checkpoint.json'), 'utf8'));
    expect(Object.keys(stamp.sha256)).toEqual(expect.arrayContaining(['model.safetensors', 'config.json', 'preprocessor_config.json', 'generation_config.json']));

    // The model card's "What it knows" section, and not the sections around it.
    expect(first.stderr).toContain('## What it knows');
    expect(first.stderr).toContain('It knows nothing else');
    expect(first.stderr).not.toContain('# tiny-shapes');
    expect(first.stderr).not.toContain('## How it was made');

    expect(Object.keys(answers(first.stdout))).toEqual(Object.keys(SHAPE_ONE_ANSWERS));
    expect(first.stdout.endsWith('\n')).toBe(true);
  });

  it('answers the questions about shape-one.png right: a circle, 1 shape, black', () => {
    expect(first.code, first.stderr).toBe(0);
    expect(answers(first.stdout)).toEqual(SHAPE_ONE_ANSWERS);
  });

  it('reuses the build on the next run ($QWEN_VL_CACHE), with the same answers', async () => {
    const second = await runCli(demo(), { QWEN_VL_CACHE: cache });
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).not.toContain('building');
    expect(second.stderr).toContain('## What it knows');
    expect(second.stdout).toBe(first.stdout);
  });

  it('asks the --prompt questions instead, in order, about any image', async () => {
    const prompts = ['What color is the triangle?', 'How many shapes are there?'];
    const result = await runCli([...demo(), '--cache', cache, '--prompt', prompts[0], '--prompt', prompts[1], '--max-new-tokens', '2']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).not.toContain('building');
    expect(Object.keys(answers(result.stdout))).toEqual(prompts);

    const noList = await runCli(['demo', '--checkpoint', CHECKPOINT, '--image', join(IMAGES, 'sailboat.jpg'), '--cache', cache, '--prompt', 'What shape is this?']);
    expect(noList.code, noList.stderr).toBe(0);
    expect(Object.keys(answers(noList.stdout))).toEqual(['What shape is this?']);
  });

  it('builds again when the checkpoint changed or the build is stale; the default cache is .cache in the current folder', async () => {
    const work = await newFolder(dir(), 'changed');
    const checkpoint = join(work, 'tiny-shapes');
    await cp(CHECKPOINT, checkpoint, { recursive: true });
    const run = () => runCli(['demo', '--checkpoint', checkpoint, '--image', SHAPE_ONE, '--prompt', 'What shape is this?'], { QWEN_VL_CACHE: '' }, work);
    const built = join(work, '.cache', 'tiny-shapes', 'model');

    const fresh = await run();
    expect(fresh.code, fresh.stderr).toBe(0);
    expect(fresh.stderr).toContain(`building ${checkpoint} into ${built}`);
    expect(existsSync(join(built, 'qwen-vl.json'))).toBe(true);
    expect((await run()).stderr).not.toContain('building');

    const generationFile = join(checkpoint, 'generation_config.json');
    const generation = JSON.parse(await readFile(generationFile, 'utf8'));
    await writeFile(generationFile, JSON.stringify({ ...generation, max_new_tokens: 3 }));
    const changed = await run();
    expect(changed.code, changed.stderr).toBe(0);
    expect(changed.stderr).toContain(`${checkpoint} changed since it was built; building`);
    expect(JSON.parse(await readFile(join(built, 'generation_config.json'), 'utf8')).max_new_tokens).toBe(3);
    expect((await run()).stderr).not.toContain('building');

    // A build from another qwen-vl (another manifest formatVersion).
    const manifestFile = join(built, 'qwen-vl.json');
    const manifest = JSON.parse(await readFile(manifestFile, 'utf8'));
    await writeFile(manifestFile, JSON.stringify({ ...manifest, formatVersion: manifest.formatVersion - 1 }));
    const stale = await run();
    expect(stale.code, stale.stderr).toBe(0);
    expect(stale.stderr).toContain('building');
    expect(JSON.parse(await readFile(manifestFile, 'utf8')).formatVersion).toBe(manifest.formatVersion);
  });

  it.each([
    ['--checkpoint', ['demo', '--image', SHAPE_ONE]],
    ['--image', ['demo', '--checkpoint', CHECKPOINT]],
    // No --prompt, and shapes.json lists nothing for this picture.
    ['--prompt', ['demo', '--checkpoint', CHECKPOINT, '--image', join(IMAGES, 'sailboat.jpg')]],
  ])('exits with code 2 naming %s when it is missing', async (flag, args) => {
    const cacheDir = join(dir(), 'never');
    const result = await runCli([...args, '--cache', cacheDir]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(flag);
    expect(result.stderr).toMatch(/^qwen-vl: demo needs /);
    expect(existsSync(cacheDir)).toBe(false);
  });
});
