import { crc32, deflateSync } from 'node:zlib';
import { cp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModelConfigs } from '@qwen-vl/core';
import { buildModelFolder } from '@qwen-vl/builder';
import { InputPreparer, NodeModelFolder, QwenVL, decodeImage, loadChatImages, onnxruntimeNodeBackend } from '../src/index.js';
import type { PrepareRequest } from '../src/index.js';
import { MODEL_DIR } from '@qwen-vl/test-support';
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

/** A PNG that declares `width`×`height` pixels in its header and holds one row's worth: under 100 bytes. */
function pngHeaderOnly(width: number, height: number): Uint8Array {
  const chunk = (type: string, data: Buffer) => {
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    return Buffer.concat([length, body, crc]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 2, 0, 0, 0], 8); // 8-bit RGB
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', header), chunk('IDAT', deflateSync(Buffer.alloc(100))), chunk('IEND', Buffer.alloc(0))]);
}

describe('hostile images', () => {
  it('refuses an image whose header declares more pixels than the limit, before decoding', async () => {
    // Four of these (16000×16000, under sharp's own limit) drove a run to 5 GB.
    const bytes = pngHeaderOnly(16000, 16000);
    await expect(decodeImage(bytes)).rejects.toMatchObject({ code: 'UNSUPPORTED_IMAGE', message: 'image bytes: declares 16000×16000 pixels, more than the 67108864 qwen-vl decodes (maxPixels)' });
    await expect(decodeImage(pngHeaderOnly(100, 100), { maxPixels: 5000 })).rejects.toMatchObject({ code: 'UNSUPPORTED_IMAGE' });
  });
});

describe('hostile chat calls', () => {
  let model: QwenVL;
  beforeAll(async () => {
    const built = join(dir(), 'built');
    await buildModelFolder(MODEL_DIR, built);
    model = await QwenVL.load(built);
  });
  afterAll(async () => {
    await model.dispose();
  });

  it('refuses, naming the argument, what used to run or fail far away', async () => {
    const user = [{ role: 'user' as const, content: 'hi' }];
    await expect(model.chat([])).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: 'messages: must hold at least one message' });
    await expect(model.chat([{ role: 'user', content: 'x\uD800' }])).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringMatching(/^messages\[0\]\.content: holds an unpaired UTF-16 surrogate/),
    });
    await expect(model.chat(user, { system: 'be \uDC00 brief' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(/^options\.system: holds an unpaired/) });
    for (const signal of ['yes', {}, 1]) {
      await expect(model.chat(user, { signal: signal as unknown as AbortSignal })).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
        message: expect.stringMatching(/^options\.signal: must be an AbortSignal/),
      });
    }
    // Still usable afterwards.
    expect((await model.chat(user, { greedy: true, maxNewTokens: 2 })).tokens).toHaveLength(2);
  });
});

describe('a config.json edited after the build', () => {
  it('is refused on load, naming the field the graphs disagree with', async () => {
    const built = join(dir(), 'edited');
    await buildModelFolder(MODEL_DIR, built);
    const original = await readFile(join(built, 'config.json'), 'utf8');
    type Config = { vocab_size: number; vision_config: { depth: number } };
    for (const [edit, field, value] of [
      [(c: Config) => (c.vision_config.depth = 5), 'vision_config.depth', 5],
      [(c: Config) => (c.vocab_size = 1000), 'vocab_size', 1000],
    ] as const) {
      const changed = JSON.parse(original) as Config;
      edit(changed);
      await writeFile(join(built, 'config.json'), JSON.stringify(changed));
      // Used to load and run a model other than the one config.json describes.
      await expect(QwenVL.load(built)).rejects.toMatchObject({
        code: 'INVALID_MODEL',
        message: expect.stringContaining(`config.json field "${field}": is ${value}, but the folder's models were built for`),
      });
    }
  });
});

describe('prepare requests of the wrong shape', () => {
  it('are refused naming the field (images: "x.png" threw ".map is not a function")', async () => {
    const preparer = await InputPreparer.load(MODEL_DIR);
    const cases: Array<[unknown, string]> = [
      [{ images: 'x.png', prompt: 'p' }, 'request.images: must be an array of image paths or bytes, got "x.png"'],
      [{ images: ['a.png', 5], prompt: 'p' }, 'request.images[1]: must be an image path or bytes, got number'],
      [{ prompt: 42 }, 'request.prompt: must be a string, got number'],
    ];
    for (const [request, message] of cases) {
      await expect(preparer.prepare(request as PrepareRequest)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message });
    }
  });
});

describe('image URLs in chat messages', () => {
  it('are typed errors naming the message item, not raw TypeErrors', async () => {
    const item = (image: string) => [{ role: 'user' as const, content: [{ type: 'image' as const, image }] }];
    const cases: Array<[string, RegExp]> = [
      ['http://[bad', /^messages\[0\]\.content\[0\]\.image: is not a valid URL: "http:\/\/\[bad"$/],
      ['file://otherhost/x.png', /^messages\[0\]\.content\[0\]\.image: is not a file: URL of this machine \(/],
    ];
    for (const [image, message] of cases) {
      await expect(loadChatImages(item(image))).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(message) });
    }
  });
});
