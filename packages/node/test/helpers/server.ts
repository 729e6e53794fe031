import { readFile } from 'node:fs/promises';
import OpenAI from 'openai';
import { createServer } from '../../src/index.js';
import type { QwenVLServer, ServerOptions } from '../../src/index.js';

/** A server on 127.0.0.1 with a free port, and an OpenAI client pointed at it. */
export interface TestServer {
  server: QwenVLServer;
  url: string;
  client: OpenAI;
}

export async function startServer(options: ServerOptions, apiKey = 'unused'): Promise<TestServer> {
  const server = await createServer({ ...options, host: '127.0.0.1', port: 0 });
  const url = await server.listen();
  // No retries: a test that expects a 429 or 503 must see it, not the client's second try.
  return { server, url, client: new OpenAI({ baseURL: `${url}/v1`, apiKey, maxRetries: 0 }) };
}

/** An image file as a data: URL. */
export async function dataUrl(path: string, type = 'image/png'): Promise<string> {
  return `data:${type};base64,${(await readFile(path)).toString('base64')}`;
}

/** POSTs a JSON body (or raw text) to `/v1/chat/completions`, for what the client library would not send. */
export function postChat(url: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

/** The value of one sample of `name` (with exactly `labels`, when given) in Prometheus text. */
export function metric(text: string, name: string, labels = ''): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels === '' ? ' ' : `{${labels}} `}`));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

/** Resolves once `condition` holds, polling; rejects after `timeoutMs`. */
export async function until(condition: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
