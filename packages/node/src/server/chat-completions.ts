import type { ServerResponse } from 'node:http';
import { QwenVLError } from '@qwen-vl/core';
import { resolveSearchOptions } from '@qwen-vl/decoder';
import type { SearchOptions, SearchOptionsInput } from '@qwen-vl/decoder';
import type { QwenTokenizer } from '@qwen-vl/preprocess';
import type { ChatOptions, ChatResult } from '../qwen-vl.js';
import type { QwenVL } from '../qwen-vl.js';
import type { QwenVLMessage } from '../chat.js';
import { withDefaultLength } from '../default-length.js';
import { parseChatRequest, requestOptionNames } from './chat-request.js';
import type { ChatCompletionRequest } from './chat-request.js';
import { ApiError, toApiError } from './errors.js';
import { LogprobRecorder } from './logprobs.js';
import type { TokenLogprob } from './logprobs.js';
import type { ServerMetrics } from './metrics.js';
import { chunkObject, completionIdentity, completionObject, usage, usageChunk } from './openai-response.js';
import type { CompletionIdentity } from './openai-response.js';
import type { PromptTokenCounter } from './prompt-tokens.js';
import { loadRequestImages } from './request-images.js';
import type { ImagePolicy, RequestImage } from './request-images.js';
import type { RequestScheduler } from './scheduler.js';
import { EventStream } from './sse.js';

/** What `POST /v1/chat/completions` works with. */
export interface ChatEndpoint {
  readonly model: QwenVL;
  readonly modelId: string;
  readonly tokenizer: QwenTokenizer;
  readonly counter: PromptTokenCounter;
  readonly images: ImagePolicy;
  readonly scheduler: RequestScheduler;
  readonly metrics: ServerMetrics;
  /** Where a failure that is the server's fault (a 500) is reported. */
  readonly logError: (error: unknown) => void;
}

/** A request checked and ready for the model: its messages with the image bytes, its resolved search options. */
interface AdmittedRequest {
  request: ChatCompletionRequest;
  messages: QwenVLMessage[];
  search: SearchOptionsInput;
  resolved: SearchOptions;
  promptTokens: number;
}

/** The request's messages as the pipeline takes them, the images (read and measured) in their places. */
function pipelineMessages(request: ChatCompletionRequest, images: readonly RequestImage[]): QwenVLMessage[] {
  let next = 0;
  return request.messages.map(({ role, content }) => ({
    role,
    content: typeof content === 'string' ? content : content.map((part) => (part.type === 'text' ? part : { type: 'image' as const, image: images[next++].bytes })),
  }));
}

/**
 * Everything that can refuse the request, before it is queued: the body, the model id, the
 * images (bytes and declared pixels), the search options against generation_config.json, and
 * the prompt's length against the context. Nothing large is allocated before the checks
 * that bound it.
 */
async function admit(endpoint: ChatEndpoint, body: unknown, signal: AbortSignal): Promise<AdmittedRequest> {
  const { request, maxTokensField } = parseChatRequest(body);
  if (request.model !== endpoint.modelId) {
    throw new ApiError(404, `model: the model ${JSON.stringify(request.model)} does not exist here; this server serves ${JSON.stringify(endpoint.modelId)} (GET /v1/models)`, {
      param: 'model',
      code: 'model_not_found',
    });
  }
  const imageParts = request.messages.flatMap(({ content }) => (typeof content === 'string' ? [] : content.flatMap((part) => (part.type === 'image' ? [part] : []))));
  const images = await loadRequestImages(imageParts, endpoint.images, signal);
  const messages = pipelineMessages(request, images);

  const { model } = endpoint;
  const search = withDefaultLength(request.search, model.generationConfig);
  let resolved: SearchOptions;
  try {
    resolved = resolveSearchOptions(search, model.generationConfig, endpoint.counter.contextLength, requestOptionNames(maxTokensField));
  } catch (error) {
    // A value the request gave is its fault (400 naming the field); a bad generation_config.json is the server's.
    throw toApiError(error);
  }
  const promptTokens = endpoint.counter.count(
    messages,
    images,
    imageParts.map((part) => part.param),
  );
  endpoint.counter.check(promptTokens, request.search.maxNewTokens, maxTokensField);
  // The lengths as resolved here, within the server's context (ServerLimits.requestTokens), not the model's.
  return { request, messages, search: { ...search, maxNewTokens: resolved.maxNewTokens, maxLength: resolved.maxLength }, resolved, promptTokens };
}

/** The chunks of one generation as the route needs them: text, logprobs, then the result. */
interface GenerationSink {
  token(text: string, logprob: TokenLogprob | undefined): void;
  finished(result: ChatResult, logprobs: TokenLogprob[] | undefined): void;
}

/** Runs the admitted request on the model, handing each token to `sink`; `signal` stops it. */
async function generate(endpoint: ChatEndpoint, admitted: AdmittedRequest, signal: AbortSignal, arrived: number, sink: GenerationSink): Promise<ChatResult> {
  const { request, resolved } = admitted;
  const recorder = request.logprobs ? new LogprobRecorder(endpoint.tokenizer, request.topLogprobs) : undefined;
  const options: ChatOptions = {
    ...admitted.search,
    signal,
    logprobs: request.logprobs,
    ...(recorder !== undefined && request.topLogprobs > 0 && { onStepLogits: recorder.onStepLogits }),
  };
  const stream = endpoint.model.chatStream(admitted.messages, options);
  const logprobs: TokenLogprob[] | undefined = recorder === undefined ? undefined : [];
  let step = 0;
  let firstToken: number | undefined;
  for await (const chunk of stream) {
    firstToken ??= performance.now();
    // The end-of-sequence token ends the answer; OpenAI reports no text or logprob for it.
    const isEos = !resolved.ignoreEos && resolved.eosTokenIds.includes(chunk.tokenId);
    const entry = recorder !== undefined && !isEos ? recorder.entry(step, chunk.tokenId, chunk.logprob) : undefined;
    if (entry !== undefined) logprobs!.push(entry);
    step++;
    if (chunk.text !== '' || entry !== undefined) sink.token(chunk.text, entry);
  }
  const result = await stream.result;
  if (result.finishReason !== 'aborted') {
    endpoint.metrics.generationFinished({
      promptTokens: result.promptTokenIds.length,
      completionTokens: result.tokens.length,
      timeToFirstTokenSeconds: ((firstToken ?? performance.now()) - arrived) / 1000,
      decodeTokensPerSecond: result.timings.tokensPerSecond,
    });
    sink.finished(result, logprobs);
  }
  return result;
}

/**
 * The request's name for an item the pipeline reports about: its messages are the request's,
 * item for item, with `image` where the request has `image_url.url`.
 */
function requestParam(source: string | undefined): string | undefined {
  return source?.replace(/\.image( \(bytes\))?$/, '.image_url.url');
}

/** Why an answer stopped early: the client left (nobody to answer), or the server is shutting down. */
function abortedError(): ApiError {
  return new ApiError(503, 'the server shut down before the answer was complete', { code: 'shutting_down' });
}

/**
 * Answers one `POST /v1/chat/completions` on `response`: a `chat.completion` object, or with
 * `stream: true` server-sent `chat.completion.chunk` events ending with `data: [DONE]`. A
 * failure before the first event is an ordinary error status; after it, an error event.
 * Returns the HTTP status it answered with (499 when the client left first).
 */
export async function answerChatCompletion(endpoint: ChatEndpoint, body: unknown, response: ServerResponse, clientGone: AbortSignal, arrived: number): Promise<number> {
  const events = new EventStream(response);
  try {
    const admitted = await admit(endpoint, body, clientGone);
    const { request } = admitted;
    const identity = completionIdentity(endpoint.modelId);
    const result = await endpoint.scheduler.run(
      (signal) =>
        generate(
          endpoint,
          admitted,
          signal,
          arrived,
          request.stream ? streamSink(events, identity, request) : { token: () => undefined, finished: (done, logprobs) => sendJson(response, 200, completion(identity, done, logprobs)) },
        ),
      clientGone,
    );
    if (result.finishReason === 'aborted') {
      if (clientGone.aborted) return 499;
      throw abortedError();
    }
    return 200;
  } catch (error) {
    if (clientGone.aborted || (error instanceof QwenVLError && error.code === 'ABORTED')) return 499;
    const failure = toApiError(error, requestParam);
    if (failure.status === 499) return 499;
    if (failure.status >= 500 && failure.code === 'internal_error') endpoint.logError(error);
    if (events.open) {
      events.send(failure.body());
      events.end();
      return 200;
    }
    sendJson(response, failure.status, failure.body(), failure.retryAfter);
    return failure.status;
  }
}

function completion(identity: CompletionIdentity, result: ChatResult, logprobs: TokenLogprob[] | undefined) {
  return completionObject(identity, result.text, result.finishReason, logprobs, usage(result.promptTokenIds.length, result.tokens.length));
}

/** The stream of one request: the role first, a chunk per piece of text, the finish reason, the usage when asked, [DONE]. */
function streamSink(events: EventStream, identity: CompletionIdentity, request: ChatCompletionRequest): GenerationSink {
  const { includeUsage } = request;
  const begin = () => {
    if (!events.open) events.send(chunkObject(identity, { role: 'assistant', content: '' }, { includeUsage }));
  };
  return {
    token(text, logprob) {
      begin();
      events.send(chunkObject(identity, { content: text }, { includeUsage, ...(logprob !== undefined && { logprobs: [logprob] }) }));
    },
    finished(result) {
      begin();
      events.send(chunkObject(identity, {}, { includeUsage, finishReason: result.finishReason, ...(request.logprobs && { logprobs: [] }) }));
      if (includeUsage) events.send(usageChunk(identity, usage(result.promptTokenIds.length, result.tokens.length)));
      events.done();
    },
  };
}

/** Writes a JSON answer on the raw response. */
export function sendJson(response: ServerResponse, status: number, body: unknown, retryAfter?: number): void {
  if (response.destroyed || response.writableEnded) return;
  const text = JSON.stringify(body);
  response.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    ...(retryAfter !== undefined && { 'retry-after': String(retryAfter) }),
  });
  response.end(text);
}
