import { Worker } from 'node:worker_threads';
import { QwenVLError, receivedError } from '@qwen-vl/core';
import type { PostedError } from '@qwen-vl/core';
import type { ChatPreparationOptions, ChatPreparer, PreparedModelInputs } from '@qwen-vl/pipeline';
import { portableMessages } from './chat.js';
import type { ImageInput, QwenVLMessage } from './chat.js';

/** What each thread is started with. */
export interface PreparationThreadData {
  /** The model folder whose input side (configs, tokenizer, chat template) it opens. */
  readonly folder: string;
}

export interface PreparationRequest {
  readonly id: number;
  /** Images and frames as paths or bytes (`portableMessages`). */
  readonly messages: QwenVLMessage[];
  readonly options: ChatPreparationOptions;
}

export type PreparationReply = { readonly id: number; readonly prepared: PreparedModelInputs } | { readonly id: number; readonly error: PostedError };

interface Pending {
  readonly resolve: (prepared: PreparedModelInputs) => void;
  readonly reject: (error: Error) => void;
}

/** One worker and the requests it has not answered yet. */
class PreparationThread {
  readonly pending = new Map<number, Pending>();
  exited = false;

  constructor(readonly worker: Worker) {
    worker.on('message', (reply: PreparationReply) => {
      const request = this.pending.get(reply.id);
      if (request === undefined) return;
      this.settled(reply.id);
      if ('error' in reply) request.reject(receivedError(reply.error));
      else request.resolve(reply.prepared);
    });
    // An error thrown outside a request (none is expected) ends the thread: its requests fail with it.
    worker.on('error', (error) => this.failAll(error));
    worker.on('exit', (code) => {
      this.exited = true;
      // Not the caller's fault (the process ran out of memory, say): a plain Error, a 500 in the server.
      this.failAll(new Error(`a preparation thread stopped (exit code ${code}) before answering`));
    });
    // Idle, it keeps no process alive (after the listeners: adding one refs the worker again).
    worker.unref();
  }

  send(request: PreparationRequest, pending: Pending): void {
    // Kept alive while it owes an answer, so that a script awaiting one does not end early.
    if (this.pending.size === 0) this.worker.ref();
    this.pending.set(request.id, pending);
    try {
      this.worker.postMessage(request);
    } catch (error) {
      this.settled(request.id);
      throw new QwenVLError('INVALID_ARGUMENT', `cannot be sent to a preparation thread: ${(error as Error).message}`, { source: 'messages', cause: error });
    }
  }

  private settled(id: number): void {
    this.pending.delete(id);
    if (this.pending.size === 0) this.worker.unref();
  }

  private failAll(error: Error): void {
    for (const [id, request] of this.pending) {
      this.settled(id);
      request.reject(error);
    }
  }
}

/**
 * Prepares chat calls on worker threads of their own (`ChatPreparer`): each thread opens the
 * folder's input side and decodes images with sharp, runs the chat template, the tokenizer
 * and the image processor, then moves the arrays it made to the model's thread. A call goes
 * to the thread with the fewest calls in hand; a thread that stopped is replaced at the next call.
 */
export class PreparationThreads implements ChatPreparer<ImageInput> {
  private readonly threads: PreparationThread[];
  private nextId = 0;
  private disposed = false;

  /** `count` threads (checked by the caller: `QwenVL.load` takes 1 to MAX_PREPARE_THREADS). */
  constructor(
    private readonly folder: string,
    count: number,
  ) {
    this.threads = Array.from({ length: count }, () => this.start());
  }

  prepare(messages: readonly QwenVLMessage[], options: ChatPreparationOptions): Promise<PreparedModelInputs> {
    // Refused rather than sent: a disposed pool would otherwise start its threads again.
    if (this.disposed) return Promise.reject(new QwenVLError('INVALID_ARGUMENT', 'was disposed; its threads are gone', { source: 'PreparationThreads' }));
    const request: PreparationRequest = { id: this.nextId++, messages: portableMessages(messages), options };
    return new Promise((resolve, reject) => this.idlest().send(request, { resolve, reject }));
  }

  async dispose(): Promise<void> {
    this.disposed = true;
    await Promise.all(this.threads.map((thread) => thread.worker.terminate()));
  }

  private idlest(): PreparationThread {
    let best = 0;
    for (let i = 0; i < this.threads.length; i++) {
      if (this.threads[i].exited) this.threads[i] = this.start();
      if (this.threads[i].pending.size < this.threads[best].pending.size) best = i;
    }
    return this.threads[best];
  }

  private start(): PreparationThread {
    const data: PreparationThreadData = { folder: this.folder };
    return new PreparationThread(new Worker(threadScript(), { workerData: data }));
  }
}

/**
 * The thread's script: beside this module once built. Run from the TypeScript sources (as
 * the tests do), the built copy in dist, since a worker thread runs JavaScript only.
 */
function threadScript(): URL {
  return import.meta.url.endsWith('.ts') ? new URL('../dist/preparation-thread.js', import.meta.url) : new URL('./preparation-thread.js', import.meta.url);
}
