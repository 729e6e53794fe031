import { TRANSFORMERS_JS_DTYPES } from '@qwen-vl/pipeline';
import { DEFAULT_LIMITS, DEFAULT_MAX_BATCH, createServer, limitFlag } from '../server/index.js';
import type { ServerLimits, ServerOptions } from '../server/index.js';
import { subcommand } from './command-args.js';
import type { OptionValues } from './command-args.js';
import { integerFlag, positiveIntegerFlag } from './flag-values.js';
import { deviceFlag, dtypeFlag } from './run-command.js';
import { UsageError } from './usage-error.js';

/** How long SIGTERM (or Ctrl-C) lets the requests already accepted finish before they are aborted. */
export const SHUTDOWN_GRACE_MS = 30_000;

/** The limits as the help lists them: flag, what it bounds, default. */
function limitLines(): string {
  const width = Math.max(...LIMIT_NAMES.map((name) => limitFlag(name).length)) + 4;
  return LIMIT_NAMES.map((name) => `  ${`${limitFlag(name)} N`.padEnd(width)}${LIMIT_HELP[name]} (default ${DEFAULT_LIMITS[name]})`).join('\n');
}

/** What each limit bounds, in a few words (the package README has the details). */
const LIMIT_HELP: Readonly<Record<keyof ServerLimits, string>> = {
  bodyBytes: 'bytes of a request body',
  imagesPerRequest: 'images in one request',
  imageBytes: 'encoded bytes of one image',
  requestImageBytes: "encoded bytes of a request's images",
  imagePixels: 'decoded pixels of one image',
  requestPixels: "decoded pixels of a request's images together",
  imageTokensPerRequest: "tokens a request's images become",
  requestTokens: 'prompt + answer tokens of one request',
  remoteImageTimeoutMs: 'ms to fetch a remote image',
};

const LIMIT_NAMES = Object.keys(DEFAULT_LIMITS) as (keyof ServerLimits)[];

export const SERVE_HELP = `Usage: qwen-vl serve --model DIR [options]

Serves the model folder DIR (made by "qwen-vl build", onnxruntime-genai's, or a
transformers.js one at --dtype) over HTTP with OpenAI's chat API:
POST /v1/chat/completions (streamed with "stream": true), GET /v1/models (the model's id is
DIR's folder name), GET /health, GET /metrics (Prometheus). Concurrent requests are
generated together (continuous batching): each joins the running batch at the next decoder
step and leaves it when it ends; the others wait in order. SIGTERM or Ctrl-C stops taking
requests (503), lets the accepted ones finish for up to ${SHUTDOWN_GRACE_MS / 1000} s, and exits 0.

Options:
  --model DIR              model folder written by "qwen-vl build", a genai folder, or a
                           transformers.js one
  --host HOST              address to listen on (default 127.0.0.1; 0.0.0.0 for every interface)
  --port N                 port to listen on (default 8080; 0 picks a free one)
  --device D               cpu (default), cuda, dml or webgpu
  --dtype D                transformers.js folders: the models to run by their dtype (file
                           suffix: ${TRANSFORMERS_JS_DTYPES.join(', ')}), or one per model as
                           MODEL=D,...; default config.json's transformers.js_config.dtype, else fp32
  --intra-op-threads N     threads per operator of the model's runs (default: onnxruntime's
                           choice, one per core); one replica of several on a machine wants its share
  --max-batch N            requests generated at once, as rows of one batch (default ${DEFAULT_MAX_BATCH})
  --prepare-threads N      worker threads that decode the requests' images and run the chat
                           template, tokenizer and image processor beside the model's thread
                           (default 0: on the model's thread, between its runs)
  --max-queue N            requests that may wait for a row (default 64); one more is
                           answered 429 with Retry-After
  --api-key KEY            require "Authorization: Bearer KEY" on /v1/ routes (401 without);
                           default $QWEN_VL_API_KEY when set
  --image-root DIR         read file: image URLs, only inside DIR (refused without it)
  --allow-remote-images    fetch http(s): image URLs (refused without it)
  -h, --help               show this help

Limits (a request over one is refused, 400 or 413, before anything large is allocated):
${limitLines()}
`;

/** The environment variable the API key is read from when --api-key is not given (keeps it out of `ps`). */
export const API_KEY_ENV = 'QWEN_VL_API_KEY';

const SERVE_OPTIONS = {
  model: { type: 'string' },
  host: { type: 'string' },
  port: { type: 'string' },
  device: { type: 'string' },
  dtype: { type: 'string' },
  'intra-op-threads': { type: 'string' },
  'max-batch': { type: 'string' },
  'prepare-threads': { type: 'string' },
  'max-queue': { type: 'string' },
  'api-key': { type: 'string' },
  'image-root': { type: 'string' },
  'allow-remote-images': { type: 'boolean' },
  ...(Object.fromEntries(LIMIT_NAMES.map((name) => [limitFlag(name).slice(2), { type: 'string' }])) as Record<`limit-${string}`, { type: 'string' }>),
} as const;

/** The limits the command line sets, by their flags. */
function limitValues(values: Readonly<Record<string, unknown>>): Partial<ServerLimits> {
  return Object.fromEntries(LIMIT_NAMES.map((name) => [name, positiveIntegerFlag(values[limitFlag(name).slice(2)] as string | undefined, limitFlag(name))]));
}

function serveOptions(values: OptionValues<typeof SERVE_OPTIONS>, env: Readonly<Record<string, string | undefined>>): ServerOptions {
  if (values.model === undefined) throw new UsageError('serve needs --model DIR');
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
    dtype: dtypeFlag(values.dtype),
    intraOpThreads: positiveIntegerFlag(values['intra-op-threads'], '--intra-op-threads'),
    maxBatch: positiveIntegerFlag(values['max-batch'], '--max-batch'),
    prepareThreads: integerFlag(values['prepare-threads'], '--prepare-threads', 0),
    maxQueue: integerFlag(values['max-queue'], '--max-queue', 0),
    apiKey,
    imageRoot: values['image-root'],
    allowRemoteImages: values['allow-remote-images'] === true,
    limits: limitValues(values),
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
