import { QwenVLError, postedError } from '@qwen-vl/core';
import { QwenVLWeb } from '../qwen-vl-web.js';
import type { MessageEndpoint, WorkerReply, WorkerRequest } from './worker-protocol.js';

/**
 * Serves QwenVLWorker clients from inside a Web Worker: the models live and generate here, off
 * the page's thread, and every token is posted back as it comes. A worker module needs only
 * `import { serveQwenVLWorker } from '@qwen-vl/web'; serveQwenVLWorker();`. `scope` is the
 * worker's global scope by default (or one end of a MessageChannel).
 */
export function serveQwenVLWorker(scope: MessageEndpoint = globalThis as unknown as MessageEndpoint): void {
  const models = new Map<number, QwenVLWeb>();
  const chats = new Map<number, AbortController>();
  const reply = (message: WorkerReply) => scope.postMessage(message);

  const model = (id: number): QwenVLWeb => {
    const found = models.get(id);
    if (found === undefined) throw new QwenVLError('INVALID_ARGUMENT', 'was disposed; load the model again', { source: 'QwenVLWorker' });
    return found;
  };

  async function serve(request: WorkerRequest): Promise<void> {
    const { id } = request;
    switch (request.type) {
      case 'load': {
        const loaded = await QwenVLWeb.load(request.baseUrl, {
          device: request.device,
          cache: request.cache,
          intraOpThreads: request.intraOpThreads,
          onProgress: request.progress ? (progress) => reply({ type: 'progress', id, progress }) : undefined,
        });
        models.set(id, loaded);
        reply({ type: 'loaded', id, model: { baseUrl: loaded.baseUrl, device: loaded.device, config: loaded.config, generationConfig: loaded.generationConfig } });
        return;
      }
      case 'chat': {
        const controller = new AbortController();
        chats.set(id, controller);
        try {
          const stream = model(request.model).chatStream(request.messages, {
            ...request.options,
            signal: controller.signal,
            // Copied, not transferred: the generator picks the next token from this very array after the call.
            onStepLogits: request.stepLogits ? (step, logits) => reply({ type: 'logits', id, step, logits }) : undefined,
          });
          for await (const chunk of stream) {
            reply({ type: 'chunk', id, chunk });
            // A WASM session runs to its end without giving the event loop a turn, so an
            // 'abort' posted meanwhile is read here, between tokens.
            await nextTask();
          }
          reply({ type: 'result', id, result: await stream.result });
        } finally {
          chats.delete(id);
        }
        return;
      }
      case 'abort':
        chats.get(id)?.abort();
        return;
      case 'dispose':
        await models.get(request.model)?.dispose();
        models.delete(request.model);
        reply({ type: 'disposed', id });
        return;
    }
  }

  scope.addEventListener('message', (event) => {
    const request = (event as MessageEvent<WorkerRequest>).data;
    serve(request).catch((error: unknown) => reply({ type: 'error', id: request.id, error: postedError(error) }));
  });
  scope.start?.();
}

/** Resolves once the tasks queued before it (messages among them) have run; unlike setTimeout, repeating it adds no 4 ms clamp. */
function nextTask(): Promise<void> {
  const { port1, port2 } = new MessageChannel();
  return new Promise((resolve) => {
    port1.onmessage = () => {
      port1.close();
      resolve();
    };
    port2.postMessage(undefined);
  });
}
