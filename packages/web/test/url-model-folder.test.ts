import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QwenVLError, loadModelConfigs } from '@qwen-vl/core';
import { UrlModelFolder } from '../src/index.js';
import type { DownloadProgress } from '../src/index.js';

const modelDir = new URL('../../../testdata/golden/tiny/model/', import.meta.url);
let base = '';
const server = createServer((request, response) => {
  const name = (request.url ?? '/').replace(/^\/model\//, '');
  readFile(new URL(name, modelDir)).then(
    (bytes) => {
      response.writeHead(200, { 'content-length': String(bytes.byteLength) });
      response.end(request.method === 'HEAD' ? undefined : bytes);
    },
    () => {
      response.writeHead(404, 'Not Found');
      response.end();
    },
  );
});

beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/model`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

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
    const expected = await readFile(new URL('tokenizer.json', modelDir));
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
