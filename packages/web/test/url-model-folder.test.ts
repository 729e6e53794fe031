import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QwenVLError, loadModelConfigs } from '@qwen-vl/core';
import { MODEL_DIR } from '@qwen-vl/test-support';
import { UrlModelFolder } from '../src/index.js';
import type { DownloadProgress } from '../src/index.js';
import { serveFolder } from './helpers/folder-server.js';
import type { FolderServer } from './helpers/folder-server.js';

let server: FolderServer;
let base = '';

beforeAll(async () => {
  server = await serveFolder(() => MODEL_DIR);
  base = server.base;
});
afterAll(() => server.close());

describe('UrlModelFolder', () => {
  it('loads the configs of a served model folder', async () => {
    const configs = await loadModelConfigs(new UrlModelFolder(base));
    expect(configs.model.vision.fullAttBlockIndexes).toEqual([1, 3]);
    expect(configs.preprocessor.maxPixels).toBe(12845056);
    expect(configs.generation.eosTokenId).toEqual([151645, 151643]);
  });

  it('reads bytes exactly and reports progress up to the total', async () => {
    const events: DownloadProgress[] = [];
    const folder = new UrlModelFolder(`${base}/`, { onProgress: (p) => events.push(p) });
    const bytes = await folder.readBytes('tokenizer.json');
    const expected = await readFile(join(MODEL_DIR, 'tokenizer.json'));
    expect(Buffer.from(bytes).equals(expected)).toBe(true);
    expect(events.length).toBeGreaterThan(1);
    expect(events.every((e) => e.file === 'tokenizer.json' && e.total === expected.byteLength)).toBe(true);
    expect(events.map((e) => e.loaded)).toEqual([...events.map((e) => e.loaded)].sort((a, b) => a - b));
    expect(events.at(-1)?.loaded).toBe(expected.byteLength);
  });

  it('answers exists() without throwing and names the URL of a missing file', async () => {
    const folder = new UrlModelFolder(base);
    expect(await folder.exists('config.json')).toBe(true);
    expect(await folder.exists('nope.json')).toBe(false);
    const error = await folder.readBytes('nope.json').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(QwenVLError);
    expect((error as QwenVLError).code).toBe('MISSING_FILE');
    expect((error as Error).message).toBe(`${base}/nope.json: could not be fetched (HTTP 404 Not Found)`);
  });
});
