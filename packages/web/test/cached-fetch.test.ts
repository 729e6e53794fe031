import { afterEach, describe, expect, it } from 'vitest';
import { cachedFetch } from '../src/index.js';

/** A Cache API stand-in: responses by URL, in memory. */
function fakeCaches(): { opened: string[]; stored: Map<string, Response> } {
  const opened: string[] = [];
  const stored = new Map<string, Response>();
  const cache = {
    match: async (url: string) => stored.get(url)?.clone(),
    put: async (url: string, response: Response) => {
      stored.set(url, new Response(await response.arrayBuffer(), { status: response.status, headers: response.headers }));
    },
  };
  (globalThis as { caches?: unknown }).caches = { open: async (name: string) => (opened.push(name), cache) };
  return { opened, stored };
}

/** A network stand-in that counts the requests reaching it. */
function countingFetch(calls: string[]): typeof fetch {
  return async (input, init) => {
    const url = input instanceof Request ? input.url : String(input);
    calls.push(`${init?.method ?? 'GET'} ${url}`);
    if (url.endsWith('/absent')) return new Response(null, { status: 404 });
    const body = new Uint8Array([1, 2, 3, 4, 5]);
    return new Response(init?.method === 'HEAD' ? null : body, { headers: { 'content-length': '5' } });
  };
}

afterEach(() => {
  delete (globalThis as { caches?: unknown }).caches;
});

describe('cachedFetch', () => {
  it('downloads a file once: later GETs and HEADs are answered from the qwen-vl cache', async () => {
    const { opened, stored } = fakeCaches();
    const calls: string[] = [];
    const cached = cachedFetch(undefined, countingFetch(calls));
    const url = 'http://127.0.0.1/model/decoder.onnx';
    expect(new Uint8Array(await (await cached(url)).arrayBuffer())).toEqual(new Uint8Array([1, 2, 3, 4, 5]));
    await cached.stored();
    expect(stored.has(url)).toBe(true);
    expect(new Uint8Array(await (await cached(url)).arrayBuffer())).toEqual(new Uint8Array([1, 2, 3, 4, 5]));
    const head = await cached(url, { method: 'HEAD' });
    expect(head.headers.get('content-length')).toBe('5');
    expect(calls).toEqual([`GET ${url}`]);
    expect(opened).toEqual(['qwen-vl']);
  });

  it('does not keep failed responses', async () => {
    const { stored } = fakeCaches();
    const calls: string[] = [];
    const cached = cachedFetch('models', countingFetch(calls));
    expect((await cached('http://127.0.0.1/model/absent')).status).toBe(404);
    expect((await cached('http://127.0.0.1/model/absent')).status).toBe(404);
    expect(calls).toHaveLength(2);
    expect(stored.size).toBe(0);
  });

  it('does not keep a web page served in place of a missing file, so the file is fetched once it is there', async () => {
    const { stored } = fakeCaches();
    const spa: typeof fetch = async () => new Response('<!doctype html>', { headers: { 'content-type': 'text/html' } });
    const cached = cachedFetch(undefined, spa);
    const url = 'http://127.0.0.1/model/chat_template.jinja';
    await cached(url);
    await cached.stored();
    expect(stored.size).toBe(0);
    const page = 'http://127.0.0.1/index.html';
    await cached(page);
    await cached.stored();
    expect([...stored.keys()]).toEqual([page]);
  });

  it('is plain fetch where the Cache API is missing', async () => {
    const calls: string[] = [];
    const cached = cachedFetch(undefined, countingFetch(calls));
    await cached('http://127.0.0.1/model/a');
    await cached('http://127.0.0.1/model/a');
    expect(calls).toHaveLength(2);
  });
});
