import { createServer } from '../server/index.js';
import type { ServerOptions } from '../server/index.js';
import { subcommand } from './command-args.js';
import type { OptionValues } from './command-args.js';
import { integerFlag, positiveIntegerFlag } from './flag-values.js';
import { deviceFlag } from './run-command.js';
import { UsageError } from './usage-error.js';

/** How long SIGTERM (or Ctrl-C) lets the requests already accepted finish before they are aborted. */
export const SHUTDOWN_GRACE_MS = 30_000;

export const SERVE_HELP = `Usage: qwen-vl serve --model DIR [options]

Serves the model folder DIR (made by "qwen-vl build", onnxruntime-genai's, or a
transformers.js one at the dtype its config.json names) over HTTP with OpenAI's chat API:
POST /v1/chat/completions (streamed with "stream": true), GET /v1/models (the model's id is
DIR's folder name), GET /health, GET /metrics (Prometheus). Requests run one after another,
in the order they arrive. SIGTERM or Ctrl-C stops taking requests (503), lets the accepted
ones finish for up to ${SHUTDOWN_GRACE_MS / 1000} s, and exits 0.

Options:
  --model DIR              model folder written by "qwen-vl build", a genai folder, or a
                           transformers.js one
  --host HOST              address to listen on (default 127.0.0.1; 0.0.0.0 for every interface)
  --port N                 port to listen on (default 8080; 0 picks a free one)
  --device D               cpu (default), cuda, dml or webgpu
  --max-batch N            requests generated at once; only 1 for now (no batching yet)
  --max-queue N            requests that may wait for the model (default 64); one more is
                           answered 429 with Retry-After
  --api-key KEY            require "Authorization: Bearer KEY" on /v1/ routes (401 without);
                           default $QWEN_VL_API_KEY when set
  --image-root DIR         read file: image URLs, only inside DIR (refused without it)
  --allow-remote-images    fetch http(s): image URLs (refused without it)
  -h, --help               show this help
`;

/** The environment variable the API key is read from when --api-key is not given (keeps it out of `ps`). */
export const API_KEY_ENV = 'QWEN_VL_API_KEY';

const SERVE_OPTIONS = {
  model: { type: 'string' },
  host: { type: 'string' },
  port: { type: 'string' },
  device: { type: 'string' },
  'max-batch': { type: 'string' },
  'max-queue': { type: 'string' },
  'api-key': { type: 'string' },
  'image-root': { type: 'string' },
  'allow-remote-images': { type: 'boolean' },
} as const;

function serveOptions(values: OptionValues<typeof SERVE_OPTIONS>, env: Readonly<Record<string, string | undefined>>): ServerOptions {
  if (values.model === undefined) throw new UsageError('serve needs --model DIR');
  const maxBatch = positiveIntegerFlag(values['max-batch'], '--max-batch');
  if (maxBatch !== undefined && maxBatch !== 1) throw new UsageError(`--max-batch must be 1 for now, got ${maxBatch}: requests are generated one after another (batching is not implemented yet)`);
  const port = integerFlag(values.port, '--port', 0);
  if (port !== undefined && port > 65535) throw new UsageError(`--port must be from 0 to 65535, got ${port}`);
  if (values.host === '') throw new UsageError('--host must not be empty');
  const apiKey = values['api-key'] ?? (env[API_KEY_ENV] !== '' ? env[API_KEY_ENV] : undefined);
  if (apiKey === '') throw new UsageError('--api-key must not be empty');
  return {
    model: values.model,
    host: values.host,
    port,
    device: deviceFlag(values.device),
    maxQueue: integerFlag(values['max-queue'], '--max-queue', 0),
    apiKey,
    imageRoot: values['image-root'],
    allowRemoteImages: values['allow-remote-images'] === true,
    shutdownGraceMs: SHUTDOWN_GRACE_MS,
  };
}

export const runServe = subcommand(
  SERVE_HELP,
  SERVE_OPTIONS,
  (values) => serveOptions(values, process.env),
  async (options, output) => {
    const server = await createServer(options);
    // A signal that came while the model loaded: nothing was served, so just free it.
    if (output.signal?.aborted === true) {
      await server.close({ graceMs: 0 });
      return;
    }
    const url = await server.listen();
    output.stderr(`qwen-vl serve: ${server.modelId} on ${url} (POST ${url}/v1/chat/completions); Ctrl-C or SIGTERM stops it\n`);
    await new Promise<void>((resolve) => {
      if (output.signal === undefined) return;
      output.signal.addEventListener('abort', () => resolve(), { once: true });
    });
    output.stderr(`qwen-vl serve: stopping: finishing the accepted requests (up to ${SHUTDOWN_GRACE_MS / 1000} s)\n`);
    await server.close();
    output.stderr('qwen-vl serve: stopped\n');
  },
);
