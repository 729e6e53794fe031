import { timingSafeEqual } from 'node:crypto';
import { realpath } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { basename, resolve } from 'node:path';
import Fastify from 'fastify';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { QwenVLError } from '@qwen-vl/core';
import { QwenVLProcessor } from '@qwen-vl/preprocess';
import { loadFolderConfigs } from '@qwen-vl/pipeline';
import type { TransformersJsDtypeChoice } from '@qwen-vl/pipeline';
import { NodeModelFolder } from '../model-folder.js';
import { QwenVL } from '../qwen-vl.js';
import type { NodeDevice } from '../qwen-vl.js';
import { answerChatCompletion } from './chat-completions.js';
import type { ChatEndpoint } from './chat-completions.js';
import { ApiError } from './errors.js';
import { resolveLimits } from './limits.js';
import type { ServerLimits } from './limits.js';
import { ServerMetrics } from './metrics.js';
import { PromptTokenCounter } from './prompt-tokens.js';
import { RequestScheduler } from './scheduler.js';

export interface ServerOptions {
  /** A folder made by `qwen-vl build`. */
  model: string;
  /** The id clients ask for (`model` of a request, `GET /v1/models`); default the folder's name. */
  modelId?: string;
  /** Default cpu, as for `QwenVL.load`. */
  device?: NodeDevice;
  /** For a transformers.js folder: the models to run by dtype, as for `QwenVL.load`. */
  dtype?: TransformersJsDtypeChoice;
  /** Threads per operator of the model's runs, as for `QwenVL.load`; onnxruntime picks when omitted. */
  intraOpThreads?: number;
  /** Where `listen()` listens by default: 127.0.0.1, port 8080 (0 picks a free port). */
  host?: string;
  port?: number;
  /**
   * Requests generated at once, as rows of one decoder batch (continuous batching: a request
   * joins the running batch at the next step and leaves it when it ends). Default 8.
   */
  maxBatch?: number;
  /**
   * Worker threads that prepare requests (decode their images, run the chat template, the
   * tokenizer and the image processor), as `QwenVL.load`'s `prepareThreads`, so that the
   * model's thread only runs the model and answers HTTP. Default 0: on the thread that runs
   * the model, between its runs (see the bench README for what a thread changes on 2 cores).
   */
  prepareThreads?: number;
  /** Requests that may wait for the model; one more is answered 429. Default 64. */
  maxQueue?: number;
  /** When set, /v1/ routes need `Authorization: Bearer <apiKey>` (401 otherwise). */
  apiKey?: string;
  /** `file:` image URLs are read only under this folder; without it they are refused. */
  imageRoot?: string;
  /** Fetch `http(s):` image URLs (off: refused with a 400). */
  allowRemoteImages?: boolean;
  /** Overrides of `DEFAULT_LIMITS`. */
  limits?: Partial<ServerLimits>;
  /** How long `close()` lets accepted requests run before aborting them, ms. Default 30 000. */
  shutdownGraceMs?: number;
  /** Fastify's logger option (off by default). */
  logger?: boolean;
  /** Reports a failure that is the server's fault (answered 500); by default its stack goes to stderr. */
  logError?: (error: unknown) => void;
}

/** A running server for embedding: `listen()`, then `close()`. */
export interface QwenVLServer {
  /** The Fastify instance, to add routes or hooks before `listen()`. */
  readonly app: FastifyInstance;
  readonly model: QwenVL;
  readonly modelId: string;
  /** Where it listens, once `listen()` has resolved. */
  readonly address: AddressInfo | undefined;
  /** `http://host:port` once listening. */
  readonly url: string | undefined;
  /** Starts listening (host and port default to the options'), resolves to the URL. */
  listen(options?: { host?: string; port?: number }): Promise<string>;
  /**
   * Stops taking requests (503, and /health says so), lets the accepted ones finish within
   * the grace period (the option's by default), aborts what is left, closes the listener and
   * frees the model.
   */
  close(options?: { graceMs?: number }): Promise<void>;
}

export const DEFAULT_MAX_BATCH = 8;
const DEFAULT_MAX_QUEUE = 64;
const DEFAULT_GRACE_MS = 30_000;
const CHAT_ROUTE = '/v1/chat/completions';

/** An integer option of createServer, at least `min`; `name` names it. */
function integerOption(value: number | undefined, fallback: number, min: number, name: string): number {
  const chosen = value ?? fallback;
  if (!Number.isSafeInteger(chosen) || chosen < min) {
    throw new QwenVLError('INVALID_ARGUMENT', `must be an integer ≥ ${min}, got ${String(chosen)}`, { source: `createServer options.${name}` });
  }
  return chosen;
}

/** Whether `header` is `Bearer <key>`, compared in constant time. */
function hasKey(header: string | undefined, key: string): boolean {
  const given = Buffer.from(/^Bearer (.+)$/i.exec(header ?? '')?.[1] ?? '');
  const expected = Buffer.from(key);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

function logToStderr(error: unknown): void {
  process.stderr.write(`qwen-vl serve: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
}

/** Fastify's own failures (body too large, malformed JSON, wrong content type) in OpenAI's shape. */
function frameworkError(error: FastifyError): ApiError {
  if (error instanceof ApiError) return error;
  const status = error.statusCode ?? 500;
  if (status === 413) return new ApiError(413, `the request body is larger than the server takes (${error.message})`, { code: 'request_too_large' });
  if (status === 415) return new ApiError(415, `${error.message}; send the body as application/json`, { code: 'unsupported_media_type' });
  if (status >= 400 && status < 500) return new ApiError(status, `the request body is not valid JSON: ${error.message}`, { code: 'invalid_body' });
  return new ApiError(500, 'the server failed to answer this request; see its log', { code: 'internal_error', cause: error });
}

function sendError(reply: FastifyReply, error: ApiError): FastifyReply {
  if (error.retryAfter !== undefined) void reply.header('retry-after', String(error.retryAfter));
  return reply.status(error.status).send(error.body());
}

/**
 * An OpenAI-compatible HTTP server over one model folder: `POST /v1/chat/completions`
 * (streamed or not), `GET /v1/models`, `GET /health`, `GET /metrics`. Loads the model, then
 * returns without listening.
 */
export async function createServer(options: ServerOptions): Promise<QwenVLServer> {
  const maxBatch = integerOption(options.maxBatch, DEFAULT_MAX_BATCH, 1, 'maxBatch');
  const maxQueue = integerOption(options.maxQueue, DEFAULT_MAX_QUEUE, 0, 'maxQueue');
  const prepareThreads = integerOption(options.prepareThreads, 0, 0, 'prepareThreads');
  const limits = resolveLimits(options.limits);
  const imageRoot = options.imageRoot === undefined ? undefined : await realpath(options.imageRoot);
  const modelId = options.modelId ?? basename(resolve(options.model));
  const folder = await NodeModelFolder.open(options.model);
  const processor = await QwenVLProcessor.fromFolder(folder, (await loadFolderConfigs(folder)).preprocessor);
  const model = await QwenVL.load(options.model, { device: options.device ?? 'cpu', dtype: options.dtype, intraOpThreads: options.intraOpThreads, maxBatch, prepareThreads });
  // As many requests run as the batch has rows: the others wait in the scheduler's queue, in order.
  const scheduler = new RequestScheduler(maxQueue, maxBatch);
  const metrics = new ServerMetrics({
    get queueLength() {
      return scheduler.queueLength;
    },
    get batchSize() {
      return model.batchSize;
    },
  });
  const endpoint: ChatEndpoint = {
    model,
    modelId,
    tokenizer: processor.tokenizer,
    counter: new PromptTokenCounter(processor, Math.min(model.config.text.maxPositionEmbeddings, limits.requestTokens), limits.imageTokensPerRequest),
    images: { imageRoot, allowRemoteImages: options.allowRemoteImages === true, limits },
    scheduler,
    metrics,
    logError: options.logError ?? logToStderr,
  };

  const app = Fastify({ logger: options.logger ?? false, bodyLimit: limits.bodyBytes, forceCloseConnections: 'idle' });
  app.setErrorHandler((error: FastifyError, _request, reply) => {
    const failure = frameworkError(error);
    if (failure.status >= 500) endpoint.logError(error);
    return sendError(reply, failure);
  });
  app.setNotFoundHandler((request, reply) => sendError(reply, new ApiError(404, `no route ${request.method} ${request.url.split('?')[0]}`, { code: 'not_found' })));
  app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    if (options.apiKey !== undefined && request.url.startsWith('/v1/') && !hasKey(request.headers.authorization, options.apiKey)) {
      return sendError(reply, new ApiError(401, 'a valid API key is needed: send "Authorization: Bearer <key>"', { code: 'invalid_api_key' }));
    }
  });
  // The chat route writes its own response (hijacked) and records it itself, with the status it sent.
  const hijacked = new WeakSet<FastifyRequest>();
  app.addHook('onResponse', async (request, reply) => {
    if (!hijacked.has(request)) metrics.requestFinished(request.routeOptions.url ?? 'unmatched', reply.statusCode, reply.elapsedTime / 1000);
  });

  app.get('/health', async (_request, reply) =>
    scheduler.shuttingDown ? reply.status(503).send({ status: 'shutting_down' }) : { status: 'ok', model: modelId, queue: scheduler.queueLength, running: scheduler.running },
  );
  app.get('/metrics', async (_request, reply) => reply.type('text/plain; version=0.0.4; charset=utf-8').send(metrics.render()));
  const created = Math.floor(Date.now() / 1000);
  const modelObject = { id: modelId, object: 'model', created, owned_by: 'qwen-vl' };
  app.get('/v1/models', async () => ({ object: 'list', data: [modelObject] }));
  app.get('/v1/models/:id', async (request: FastifyRequest<{ Params: { id: string } }>, reply) =>
    request.params.id === modelId
      ? modelObject
      : sendError(reply, new ApiError(404, `the model ${JSON.stringify(request.params.id)} does not exist here`, { param: 'model', code: 'model_not_found' })),
  );
  app.post(CHAT_ROUTE, async (request, reply) => {
    const arrived = performance.now();
    hijacked.add(request);
    reply.hijack();
    const response = reply.raw;
    // A client that leaves (closes the connection before the answer is complete) stops its request at once.
    const gone = new AbortController();
    response.once('close', () => {
      if (!response.writableFinished) gone.abort(new Error('the client closed the connection'));
    });
    const status = await answerChatCompletion(endpoint, request.body, response, gone.signal, arrived);
    metrics.requestFinished(CHAT_ROUTE, status, (performance.now() - arrived) / 1000);
  });

  let address: AddressInfo | undefined;
  let closing: Promise<void> | undefined;
  const url = () => (address === undefined ? undefined : `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`);
  return {
    app,
    model,
    modelId,
    get address() {
      return address;
    },
    get url() {
      return url();
    },
    async listen(listenOptions = {}) {
      const host = listenOptions.host ?? options.host ?? '127.0.0.1';
      const port = listenOptions.port ?? options.port ?? 8080;
      try {
        await app.listen({ host, port });
      } catch (cause) {
        // Node's own message (getaddrinfo ENOTFOUND, EADDRINUSE...) names neither option.
        const why = (cause as NodeJS.ErrnoException).code === 'EADDRINUSE' ? 'the port is in use (another process listens there)' : (cause as Error).message;
        throw new QwenVLError('INVALID_ARGUMENT', `cannot listen there: ${why}`, { source: `host ${host}, port ${port}`, cause });
      }
      address = app.server.address() as AddressInfo;
      return url()!;
    },
    close(closeOptions = {}) {
      closing ??= (async () => {
        await scheduler.shutdown(closeOptions.graceMs ?? options.shutdownGraceMs ?? DEFAULT_GRACE_MS);
        await app.close();
        await model.dispose();
      })();
      return closing;
    },
  };
}
