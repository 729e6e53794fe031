import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import OpenAI from 'openai';
import { buildModelFolder } from '@qwen-vl/builder';
import { MODEL_DIR } from '@qwen-vl/test-support';
import { runCli } from './helpers/cli.js';
import { postChat } from './helpers/server.js';
import { useTempDir } from './helpers/temp-dir.js';

const CLI = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));

const dir = useTempDir('qwen-vl-serve-cli-');
let model: string;
beforeAll(async () => {
  model = (await buildModelFolder(MODEL_DIR, join(dir(), 'model'))).output;
});

/** `qwen-vl serve` as its own process on a free port; resolves once it listens. */
async function spawnServe(args: readonly string[]) {
  const child = spawn(process.execPath, [CLI, 'serve', '--model', model, '--port', '0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const log = { stderr: '' };
  child.stderr.setEncoding('utf8');
  const url = await new Promise<string>((resolve, reject) => {
    child.stderr.on('data', (text: string) => {
      log.stderr += text;
      const match = /on (http:\/\/\S+) /.exec(log.stderr);
      if (match !== null) resolve(match[1]);
    });
    child.once('exit', () => reject(new Error(`serve exited early: ${log.stderr}`)));
  });
  return { child, url, log, exited: once(child, 'exit') };
}

describe('qwen-vl serve (the command)', () => {
  it('SIGTERM: stops taking requests, lets the running one finish, exits 0 (its preparation thread too)', async () => {
    const { child, url, log, exited } = await spawnServe(['--prepare-threads', '1']);
    const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'unused', maxRetries: 0 });
    const stream = await client.chat.completions.create({ model: 'model', messages: [{ role: 'user', content: 'x' }], temperature: 0, max_tokens: 200, stream: true });
    const iterator = stream[Symbol.asyncIterator]();
    await iterator.next();
    child.kill('SIGTERM');
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect((await postChat(url, { model: 'model', messages: [{ role: 'user', content: 'x' }] })).status).toBe(503);
    let last;
    for (let next = await iterator.next(); next.done !== true; next = await iterator.next()) last = next.value;
    expect(last?.choices[0].finish_reason).toBe('length');
    const [code, signal] = await exited;
    expect({ code, signal }).toEqual({ code: 0, signal: null });
    expect(log.stderr).toContain('qwen-vl serve: stopped');
  });

  it('takes the limits as --limit-* flags', async () => {
    const { child, url, exited } = await spawnServe(['--limit-request-tokens', '40', '--max-batch', '2']);
    try {
      const response = await postChat(url, { model: 'model', messages: [{ role: 'user', content: 'x' }], max_tokens: 100 });
      expect(response.status).toBe(400);
      const { error } = (await response.json()) as { error: { param: string; code: string; message: string } };
      expect(error).toMatchObject({ param: 'max_tokens', code: 'context_length_exceeded' });
      expect(error.message).toContain('beyond the 40 a request may have');
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
  });

  it('refuses a bad --max-batch, --prepare-threads, --port or limit as usage errors', async () => {
    const batch = await runCli(['serve', '--model', model, '--max-batch', '0']);
    expect(batch.code).toBe(2);
    expect(batch.stderr).toContain('--max-batch must be a positive integer, got "0"');
    const limit = await runCli(['serve', '--model', model, '--limit-request-tokens', '1e3']);
    expect(limit.code).toBe(2);
    expect(limit.stderr).toContain('--limit-request-tokens must be a positive integer, got "1e3"');
    const threads = await runCli(['serve', '--model', model, '--prepare-threads', '-1']);
    expect(threads.code).toBe(2);
    expect(threads.stderr).toContain('--prepare-threads must be');
    const tooMany = await runCli(['serve', '--model', model, '--prepare-threads', '65']);
    expect(tooMany.stderr).toContain('prepareThreads: must be an integer from 0 to 64, got 65');
    const port = await runCli(['serve', '--model', model, '--port', '70000']);
    expect(port.code).toBe(2);
    expect(port.stderr).toContain('--port must be from 0 to 65535');
  });
});
