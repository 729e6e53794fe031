import type { GenerationConfig, ModelConfig, PostedError } from '@qwen-vl/core';
import type { ChatChunk, ChatOptions, ChatResult, HostChatMessage } from '@qwen-vl/pipeline';
import type { LoadProgress } from '../load-progress.js';
import type { WebDevice } from '../backend/ort-web-runtime.js';

/**
 * The messages between a page's QwenVLWorker and the worker that serves it. Every request has
 * an id, unique per page; the worker's replies carry the id of the request they answer.
 */

/** What a worker can be sent as an image: elements stay in the page, so they go as bitmaps. */
export type PostableImage = Blob | ImageBitmap | string;

/** The chat options that cross to the worker: the signal and the logits callback stay in the page. */
export type PostableChatOptions = Omit<ChatOptions, 'signal' | 'onStepLogits'>;

/** The end of the page or of the worker that messages are exchanged with. */
export interface MessageEndpoint {
  postMessage(message: unknown, transfer?: Transferable[]): void;
  /** 'message' events are MessageEvents; a Worker's 'error' events are ErrorEvents. */
  addEventListener(type: 'message' | 'error', listener: (event: Event) => void): void;
  removeEventListener(type: 'message' | 'error', listener: (event: Event) => void): void;
  /** A MessagePort's; a Worker and a worker's global scope have none. */
  start?(): void;
}

export type WorkerRequest =
  | {
      readonly type: 'load';
      readonly id: number;
      readonly baseUrl: string;
      readonly device: WebDevice | undefined;
      readonly cache: boolean | undefined;
      readonly intraOpThreads: number | undefined;
      readonly progress: boolean;
    }
  | {
      readonly type: 'chat';
      readonly id: number;
      readonly model: number;
      readonly messages: readonly HostChatMessage<PostableImage>[];
      readonly options: PostableChatOptions;
      readonly stepLogits: boolean;
    }
  /** Ends the chat `id` early, as its signal would. */
  | { readonly type: 'abort'; readonly id: number }
  | { readonly type: 'dispose'; readonly id: number; readonly model: number };

export interface LoadedModel {
  readonly baseUrl: string;
  readonly device: WebDevice;
  readonly config: ModelConfig;
  readonly generationConfig: GenerationConfig;
}

export type WorkerReply =
  | { readonly type: 'progress'; readonly id: number; readonly progress: LoadProgress }
  | { readonly type: 'loaded'; readonly id: number; readonly model: LoadedModel }
  | { readonly type: 'logits'; readonly id: number; readonly step: number; readonly logits: Float32Array }
  | { readonly type: 'chunk'; readonly id: number; readonly chunk: ChatChunk }
  | { readonly type: 'result'; readonly id: number; readonly result: ChatResult }
  | { readonly type: 'disposed'; readonly id: number }
  | { readonly type: 'error'; readonly id: number; readonly error: PostedError };
