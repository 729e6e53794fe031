import { existsSync } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { MODEL_DIR } from '@qwen-vl/test-support';
import { runCli } from './helpers/cli.js';
import { useTempDir } from './helpers/temp-dir.js';

const SAILBOAT = fileURLToPath(new URL('../../../examples/images/sailboat.jpg', import.meta.url));

const dir = useTempDir('qwen-vl-demo-');

const DEMO = ['demo', '--tokenizer', MODEL_DIR, '--image', SAILBOAT, '--max-new-tokens', '6'];

describe('qwen-vl demo', () => {
  it('generates, builds and runs the tiny model once, then reuses the cache (QWEN_VL_CACHE)', async () => {
    const cache = join(dir(), 'env-cache');
    const first = await runCli(DEMO, { QWEN_VL_CACHE: cache });
    expect(first.code).toBe(0);
    expect(first.stderr).toContain('generating a tiny random checkpoint');
    expect(first.stderr).toContain('noise');
    expect(first.stdout.endsWith('\n')).toBe(true);
    expect(first.stdout.trim().length).toBeGreaterThan(0);
    const model = join(cache, 'tiny-default', 'model');
    expect((await readdir(model)).sort()).toEqual(expect.arrayContaining(['decoder.onnx', 'embed.onnx', 'vision.onnx', 'qwen-vl.json', 'tokenizer.json']));
    const manifest = JSON.parse(await readFile(join(model, 'qwen-vl.json'), 'utf8'));
    expect(manifest.parts.map((part: { name: string }) => part.name)).toEqual(['vision', 'embed', 'decoder']);

    const second = await runCli(DEMO, { QWEN_VL_CACHE: cache });
    expect(second.code).toBe(0);
    expect(second.stderr).not.toContain('generating');
    // Fixed seed and near-zero temperature: the same noise every time.
    expect(second.stdout).toBe(first.stdout);
  });

  it('takes the cache folder from --cache', async () => {
    const cache = join(dir(), 'flag-cache');
    const result = await runCli([...DEMO, '--cache', cache], { QWEN_VL_CACHE: join(dir(), 'unused') });
    expect(result.code).toBe(0);
    expect(existsSync(join(cache, 'tiny-default', 'model', 'qwen-vl.json'))).toBe(true);
    expect(existsSync(join(dir(), 'unused'))).toBe(false);
  });

  it('exits with code 2 without --tokenizer', async () => {
    const result = await runCli(['demo', '--image', SAILBOAT]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/--tokenizer/);
  });
});
