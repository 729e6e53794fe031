import { cp, rm, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadModelConfigs } from '@qwen-vl/core';
import { NodeModelFolder, decodeImage, onnxruntimeNodeBackend } from '../src/index.js';
import { MODEL_DIR } from './golden.js';
import { useTempDir } from './helpers/temp-dir.js';

// Inputs an adversarial user tried that crashed, hung or failed far from the cause; each
// must now fail at once with a typed error naming the path or option.
const dir = useTempDir('qwen-vl-hostile-');

describe('hostile inputs', () => {
  it('refuses a device, or a link to one, as an image instead of reading without end', async () => {
    const link = join(dir(), 'zero.png');
    await symlink('/dev/zero', link);
    for (const path of ['/dev/zero', link]) {
      await expect(decodeImage(path)).rejects.toMatchObject({ code: 'MISSING_FILE', message: `${path}: is a device, pipe or socket, not a regular file` });
    }
    await expect(decodeImage(dir())).rejects.toMatchObject({ code: 'MISSING_FILE', message: `${dir()}: is a folder, not a file` });
  });

  it('refuses a config.json that links to a device', async () => {
    const model = join(dir(), 'model');
    await cp(MODEL_DIR, model, { recursive: true });
    await rm(join(model, 'config.json'));
    await symlink('/dev/zero', join(model, 'config.json'));
    await expect(loadModelConfigs(await NodeModelFolder.open(model))).rejects.toMatchObject({ code: 'MISSING_FILE', message: expect.stringContaining('config.json: is a device, pipe or socket') });
  });

  it('refuses an absurd thread count before onnxruntime starts the threads', async () => {
    for (const intraOpThreads of [1e6, 0, 2.5]) {
      await expect(onnxruntimeNodeBackend.createSession({ model: join(dir(), 'any.onnx') }, { device: 'cpu', intraOpThreads })).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
        message: `intraOpThreads: must be an integer from 1 to 1024, got ${intraOpThreads}`,
      });
    }
  });
});
