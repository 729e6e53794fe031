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

describe('qwen-vl serve (the command)', () => {
  it('SIGTERM: stops taking requests, lets the running one finish, exits 0', async () => {
    const child = spawn(process.execPath, [CLI, 'serve', '--model', model, '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    const url = await new Promise<string>((resolve, reject) => {
      child.stderr.on('data', (text: string) => {
        stderr += text;
        const match = /on (http:\/\/\S+) /.exec(stderr);
        if (match !== null) resolve(match[1]);
      });
      child.once('exit', () => reject(new Error(`serve exited early: ${stderr}`)));
    });
    const exited = once(child, 'exit');
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
    expect(stderr).toContain('qwen-vl serve: stopped');
  });

  it('refuses a --max-batch above 1 and a bad --port as usage errors', async () => {
    const batch = await runCli(['serve', '--model', model, '--max-batch', '4']);
    expect(batch.code).toBe(2);
    expect(batch.stderr).toContain('--max-batch must be 1 for now');
    const port = await runCli(['serve', '--model', model, '--port', '70000']);
    expect(port.code).toBe(2);
    expect(port.stderr).toContain('--port must be from 0 to 65535');
  });
});
