import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QwenVLError, loadModelConfigs } from '@qwen-vl/core';
import { ChatTemplate } from '@qwen-vl/preprocess';
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

  it('fetches nothing outside the folder, whatever name a manifest gives', async () => {
    const fetched: string[] = [];
    const folder = new UrlModelFolder(base, { fetch: (input, init) => (fetched.push(input instanceof Request ? input.url : input.toString()), fetch(input, init)) });
    for (const name of ['../../x.bin', 'https://other.example/x.bin', '/x.bin', '//other.example/x.bin']) {
      await expect(folder.readBytes(name)).rejects.toMatchObject({
        code: 'INVALID_MODEL',
        message: expect.stringContaining(`names ${JSON.stringify(name)}, which is not a file inside the model folder`),
      });
      await expect(folder.exists(name)).rejects.toMatchObject({ code: 'INVALID_MODEL' });
    }
    expect(fetched).toEqual([]);
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

/**
 * A server of a single-page app, as Vite's preview server is: a missing path gets the app's
 * index.html with status 200, on GET and HEAD alike.
 */
function spaFallbackFetch(): typeof fetch {
  return async (input, init) => {
    const response = await fetch(input, init);
    if (response.status !== 404) return response;
    const page = '<!doctype html><html><body><script type="module" src="./main.js"></script></body></html>';
    return new Response(init?.method === 'HEAD' ? null : page, { status: 200, headers: { 'content-type': 'text/html', 'content-length': String(page.length) } });
  };
}

describe('UrlModelFolder on a server that answers missing files with its web page', () => {
  it('takes a page served for a missing file as absent: no size, and the chat template comes from chat_template.json', async () => {
    const folder = new UrlModelFolder(base, { fetch: spaFallbackFetch() });
    expect(await folder.exists('chat_template.jinja')).toBe(false);
    expect(await folder.size('chat_template.jinja')).toBeUndefined();
    expect(await folder.exists('chat_template.json')).toBe(true);
    const template = await ChatTemplate.fromFolder(folder);
    const prompt = template.render([
      {
        role: 'user',
        content: [
          { type: 'image', image: 'picture' },
          { type: 'text', text: 'What is in this picture?' },
        ],
      },
    ]);
    expect(prompt).toContain('<|vision_start|><|image_pad|><|vision_end|>What is in this picture?');
  });

  it('fails a read of a missing file with MISSING_FILE naming its URL and the page served instead', async () => {
    const folder = new UrlModelFolder(base, { fetch: spaFallbackFetch() });
    const error = await folder.readBytes('chat_template.jinja').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(QwenVLError);
    expect((error as QwenVLError).code).toBe('MISSING_FILE');
    expect((error as QwenVLError).source).toBe(`${base}/chat_template.jinja`);
    expect((error as Error).message).toBe(`${base}/chat_template.jinja: could not be fetched: the server answered with a web page (text/html), as servers of single-page apps do for a missing file`);
  });

  it('still reads a file whose name says it is a web page', async () => {
    const folder = new UrlModelFolder(base, { fetch: spaFallbackFetch() });
    expect(await folder.exists('index.html')).toBe(true);
    expect(new TextDecoder().decode(await folder.readBytes('index.html'))).toMatch(/^<!doctype html>/);
  });
});
