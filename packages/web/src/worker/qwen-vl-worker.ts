import { QwenVLError, receivedError } from '@qwen-vl/core';
import type { GenerationConfig, ModelConfig } from '@qwen-vl/core';
import { resolveSearchOptions } from '@qwen-vl/decoder';
import type { SearchOptions, SearchOptionsInput } from '@qwen-vl/decoder';
import { ResultStream } from '@qwen-vl/pipeline';
import type { ChatChunk, ChatOptions, ChatResult, ChatStream, HostChatMessage } from '@qwen-vl/pipeline';
import { validateMessages } from '@qwen-vl/preprocess';
import type { ContentPart } from '@qwen-vl/preprocess';
import type { WebDevice } from '../backend/ort-web-runtime.js';
import { elementBitmap } from '../decode-browser-image.js';
import type { BrowserImageInput } from '../decode-browser-image.js';
import { decodeChatImage } from '../qwen-vl-web.js';
import type { QwenVLWebLoadOptions, WebChatMessage } from '../qwen-vl-web.js';
import type { MessageEndpoint, PostableImage, WorkerReply, WorkerRequest } from './worker-protocol.js';

/** QwenVLWeb's load options but `fetch`, which cannot be sent to a worker. */
export type QwenVLWorkerLoadOptions = Omit<QwenVLWebLoadOptions, 'fetch'>;

/** Request ids, unique in this page, so that clients may share a worker. */
let lastRequestId = 0;

/**
 * A QwenVLWeb that lives in a Web Worker (which runs `serveQwenVLWorker()`), with the same
 * API: the model loads and generates off the page's thread, so the page keeps drawing while
 * tokens stream in. Images go to the worker by structured clone; an HTMLImageElement or
 * HTMLCanvasElement is first made an ImageBitmap (decoded as QwenVLWeb decodes it), and a
 * relative URL is resolved against the page.
 */
export class QwenVLWorker {
  private constructor(
    private readonly worker: MessageEndpoint,
    /** The worker's id for this model: that of the request that loaded it. */
    private readonly id: number,
    /** The model folder's URL. */
    readonly baseUrl: string,
    readonly device: WebDevice,
    /** config.json, parsed. */
    readonly config: ModelConfig,
    /** generation_config.json, parsed: the defaults of every search option. */
    readonly generationConfig: GenerationConfig,
  ) {}

  /** Loads the model folder at `baseUrl` in `worker`, as QwenVLWeb.load does (progress events included). */
  static async load(worker: MessageEndpoint, baseUrl: string | URL, options: QwenVLWorkerLoadOptions = {}): Promise<QwenVLWorker> {
    // The worker would resolve a relative URL against its own script, not the page.
    const url = new URL(baseUrl, globalThis.location?.href).href;
    const { device, cache, intraOpThreads, onProgress } = options;
    const id = ++lastRequestId;
    const request = new PendingRequest(worker, { type: 'load', id, baseUrl: url, device, cache, intraOpThreads, progress: onProgress !== undefined });
    try {
      for (;;) {
        const reply = await request.next();
        if (reply.type === 'progress') onProgress?.(reply.progress);
        if (reply.type === 'loaded') return new QwenVLWorker(worker, id, reply.model.baseUrl, reply.model.device, reply.model.config, reply.model.generationConfig);
      }
    } finally {
      request.close();
    }
  }

  /**
   * The search options a call with `options` runs with: the given ones over
   * generation_config.json's. Throws INVALID_ARGUMENT naming a bad option.
   */
  searchOptions(options: SearchOptionsInput = {}): SearchOptions {
    return resolveSearchOptions(options, this.generationConfig, this.config.text.maxPositionEmbeddings);
  }

  /** Generates the assistant's reply to `messages` and returns it whole. */
  chat(messages: readonly WebChatMessage[], options: ChatOptions = {}): Promise<ChatResult> {
    return this.chatStream(messages, options).result;
  }

  /**
   * Generates the assistant's reply piece by piece, as QwenVLWeb.chatStream: the worker posts
   * each token as it is made. Leaving the loop early, or `options.signal`, stops the generation
   * in the worker.
   */
  chatStream(messages: readonly WebChatMessage[], options: ChatOptions = {}): ChatStream {
    return new ResultStream(this.generate(messages, options));
  }

  /** Frees the model in the worker, after a generation in progress ends; the worker itself is the caller's to end. */
  async dispose(): Promise<void> {
    const request = new PendingRequest(this.worker, { type: 'dispose', id: ++lastRequestId, model: this.id });
    try {
      while ((await request.next()).type !== 'disposed');
    } finally {
      request.close();
    }
  }

  private async *generate(messages: readonly WebChatMessage[], options: ChatOptions): AsyncGenerator<ChatChunk, ChatResult, undefined> {
    const { signal, onStepLogits, ...postable } = options;
    const { messages: posted, transfer } = await postableMessages(messages, options);
    const id = ++lastRequestId;
    const abort = () => this.worker.postMessage({ type: 'abort', id } satisfies WorkerRequest);
    const request = new PendingRequest(this.worker, { type: 'chat', id, model: this.id, messages: posted, options: postable, stepLogits: onStepLogits !== undefined }, transfer);
    // An AbortSignal stops the worker at once; a plain flag is read as each token arrives.
    const signalTarget = isAbortSignal(signal) ? signal : undefined;
    signalTarget?.addEventListener('abort', abort);
    let ended = false;
    try {
      if (signal?.aborted === true) abort();
      for (;;) {
        const reply = await request.next();
        if (reply.type === 'logits') onStepLogits?.(reply.step, reply.logits);
        if (reply.type === 'chunk') {
          if (signal?.aborted === true) abort();
          yield reply.chunk;
        }
        if (reply.type === 'result') {
          ended = true;
          return reply.result;
        }
      }
    } finally {
      signalTarget?.removeEventListener('abort', abort);
      request.close();
      // The caller left the loop early (or a callback threw): the worker stops generating, which
      // frees the model for the next call. After the worker's own error this is a no-op.
      if (!ended) abort();
    }
  }
}

/** One request to the worker, posted at once; its replies are read in order with next(). */
class PendingRequest {
  /** Replies not read yet, and the worker's failure (its error event's message). */
  private readonly replies: (WorkerReply | { readonly failure: string })[] = [];
  private wake: (() => void) | undefined;

  constructor(
    private readonly worker: MessageEndpoint,
    private readonly request: WorkerRequest,
    transfer: Transferable[] = [],
  ) {
    worker.addEventListener('message', this.receive);
    worker.addEventListener('error', this.receive);
    worker.start?.();
    try {
      worker.postMessage(request, transfer);
    } catch (error) {
      this.close();
      throw error;
    }
  }

  /** The next reply; an error reply, or the worker's own failure, is thrown. */
  async next(): Promise<WorkerReply> {
    while (this.replies.length === 0) await new Promise<void>((resolve) => (this.wake = resolve));
    const reply = this.replies.shift()!;
    if ('failure' in reply) throw workerFailed(reply.failure);
    if (reply.type === 'error') throw receivedError(reply.error);
    return reply;
  }

  close(): void {
    this.worker.removeEventListener('message', this.receive);
    this.worker.removeEventListener('error', this.receive);
  }

  private readonly receive = (event: Event): void => {
    if (event instanceof MessageEvent) {
      if ((event.data as WorkerReply).id !== this.request.id) return;
      this.replies.push(event.data as WorkerReply);
    } else {
      this.replies.push({ failure: (event as ErrorEvent).message || 'no message' });
    }
    this.wake?.();
  };
}

/** A worker whose script failed to load, or that threw outside any request. */
function workerFailed(message: string): QwenVLError {
  return new QwenVLError('BACKEND_UNAVAILABLE', `the worker failed (${message}); does its script run serveQwenVLWorker()?`, { source: 'QwenVLWorker' });
}

/**
 * The conversation as the worker can be sent it: elements made bitmaps (listed in `transfer`:
 * they are this call's own) and relative URLs made absolute. Anything else goes as it is, for
 * the worker to check.
 */
async function postableMessages(messages: readonly WebChatMessage[], options: ChatOptions): Promise<{ messages: HostChatMessage<PostableImage>[]; transfer: Transferable[] }> {
  const transfer: Transferable[] = [];
  const postable = async (image: BrowserImageInput | undefined, where: string): Promise<PostableImage | undefined> => {
    if (typeof image === 'string') return URL.canParse(image, globalThis.location?.href) ? new URL(image, globalThis.location?.href).href : image;
    if (!isElement(image)) return image;
    const bitmap = await decodeChatImage(image, where, options, elementBitmap);
    transfer.push(bitmap);
    return bitmap;
  };
  validateMessages(messages);
  const posted = await Promise.all(
    messages.map(async (message, i) => {
      if (typeof message.content === 'string') return message as HostChatMessage<PostableImage>;
      const content = await Promise.all(
        message.content.map(async (part, j): Promise<ContentPart<PostableImage, readonly PostableImage[]>> => {
          const where = `messages[${i}].content[${j}]`;
          if (part.type === 'text') return part;
          if (part.type === 'image') return { ...part, image: await postable(part.image, `${where}.image`) };
          const frames = Array.isArray(part.video) ? await Promise.all(part.video.map((frame, k) => postable(frame, `${where}.video[${k}]`))) : part.video;
          return { ...part, video: frames as readonly PostableImage[] | undefined };
        }),
      );
      return { ...message, content };
    }),
  );
  return { messages: posted, transfer };
}

function isElement(image: unknown): image is HTMLImageElement | HTMLCanvasElement {
  return (typeof HTMLImageElement === 'function' && image instanceof HTMLImageElement) || (typeof HTMLCanvasElement === 'function' && image instanceof HTMLCanvasElement);
}

/** An AbortSignal (an event target), as opposed to a plain `{ aborted }` flag. */
function isAbortSignal(signal: unknown): signal is Pick<AbortSignal, 'addEventListener' | 'removeEventListener'> {
  return typeof (signal as { addEventListener?: unknown } | undefined)?.addEventListener === 'function';
}
