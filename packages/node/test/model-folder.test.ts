import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isQwenVLError, loadModelConfigs } from '@qwen-vl/core';
import { MODEL_DIR } from '@qwen-vl/test-support';
import { NodeModelFolder } from '../src/model-folder.js';

describe('NodeModelFolder', () => {
  it('reads the golden tiny model configs through core', async () => {
    const configs = await loadModelConfigs(await NodeModelFolder.open(MODEL_DIR));
    // Values from testdata/golden/README.md.
    expect(configs.model.text.hiddenSize).toBe(32);
    expect(configs.model.text.mropeSection).toEqual([2, 3, 3]);
    expect(configs.model.vision.fullAttBlockIndexes).toEqual([1, 3]);
  });

  it('refuses names that lead outside the folder, as a hostile manifest could give', async () => {
    const folder = new NodeModelFolder(join(MODEL_DIR, 'nested-not-used'));
    for (const name of ['../config.json', '/etc/hostname', 'a/../../config.json']) {
      await expect(folder.readBytes(name)).rejects.toMatchObject({
        code: 'INVALID_MODEL',
        message: expect.stringContaining(`names ${JSON.stringify(name)}, which is not a file inside the model folder`),
      });
      await expect(folder.exists(name)).rejects.toMatchObject({ code: 'INVALID_MODEL' });
    }
  });

  it('answers exists() for files only, without throwing', async () => {
    const folder = new NodeModelFolder(MODEL_DIR);
    expect(await folder.exists('config.json')).toBe(true);
    expect(await folder.exists('missing.json')).toBe(false);
    expect(await folder.exists('.')).toBe(false);
    expect(await new NodeModelFolder('/definitely/not/here').exists('config.json')).toBe(false);
  });

  it('reads bytes and text', async () => {
    const folder = new NodeModelFolder(MODEL_DIR);
    const text = await folder.readText('config.json');
    expect(JSON.parse(text)).toHaveProperty('vision_config');
    expect((await folder.readBytes('config.json')).length).toBe(new TextEncoder().encode(text).length);
  });

  it('names the full path of a missing file', async () => {
    const error = await new NodeModelFolder(MODEL_DIR).readText('nope.json').catch((e: unknown) => e);
    expect(isQwenVLError(error, 'MISSING_FILE')).toBe(true);
    expect((error as Error).message).toContain(join(MODEL_DIR, 'nope.json'));
  });

  it('refuses to open a folder that does not exist', async () => {
    const error = await NodeModelFolder.open('/definitely/not/here').catch((e: unknown) => e);
    expect(isQwenVLError(error, 'MISSING_FILE')).toBe(true);
    expect((error as Error).message).toContain('/definitely/not/here');
  });
});
