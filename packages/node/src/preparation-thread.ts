// The body of one PreparationThreads worker: it opens the folder's input side (no model) and
// prepares each call it is sent, as the model's own thread would (prepareChat, sharp).
import { parentPort, workerData } from 'node:worker_threads';
import { postedError } from '@qwen-vl/core';
import { openPromptPreparer, prepareChat } from '@qwen-vl/pipeline';
import type { PreparedModelInputs } from '@qwen-vl/pipeline';
import { decodeChatImage } from './chat.js';
import { NodeModelFolder } from './model-folder.js';
import type { PreparationReply, PreparationRequest, PreparationThreadData } from './preparation-threads.js';

const port = parentPort!;
const { folder } = workerData as PreparationThreadData;
const preparer = NodeModelFolder.open(folder).then(openPromptPreparer);
// A folder that cannot be opened fails each request with its error, not the thread.
preparer.catch(() => undefined);

port.on('message', (request: PreparationRequest) => {
  void prepare(request).then(
    (prepared) => reply({ id: request.id, prepared }, ownedBuffers(prepared)),
    (error: unknown) => reply({ id: request.id, error: postedError(error) }, []),
  );
});

async function prepare({ messages, options }: PreparationRequest): Promise<PreparedModelInputs> {
  return prepareChat(await preparer, decodeChatImage, messages, options);
}

function reply(message: PreparationReply, transfer: ArrayBuffer[]): void {
  port.postMessage(message, transfer);
}

/**
 * The buffers of the result's arrays that each array covers whole: the arrays made for this
 * call, which move to the model's thread instead of being copied.
 */
function ownedBuffers(prepared: PreparedModelInputs): ArrayBuffer[] {
  const buffers = new Set<ArrayBuffer>();
  const visit = (value: unknown): void => {
    if (ArrayBuffer.isView(value)) {
      if (value.buffer instanceof ArrayBuffer && value.byteOffset === 0 && value.byteLength === value.buffer.byteLength) buffers.add(value.buffer);
    } else if (typeof value === 'object' && value !== null) {
      for (const inner of Object.values(value)) visit(inner);
    }
  };
  visit(prepared);
  return [...buffers];
}
