import { QwenVLError } from '@qwen-vl/core';
import type { ModelFolder } from '@qwen-vl/core';
import { PromptPreparer } from '@qwen-vl/pipeline';
import type { PreparedModelInputs } from '@qwen-vl/pipeline';
import type { ChatMessage } from '@qwen-vl/preprocess';
import { decodeImage } from './decode-image.js';
import { NodeModelFolder } from './model-folder.js';

export type { PreparedModelInputs } from '@qwen-vl/pipeline';

/** One single-turn request: a user turn of images (in order) followed by text. */
export interface PrepareRequest {
  /** Image files or encoded image bytes. */
  images?: readonly (string | Uint8Array)[];
  prompt: string;
  /** System prompt; omitted, the chat template inserts its default one. */
  system?: string;
  /** Overrides of preprocessor_config.json's pixel budget. */
  minPixels?: number;
  maxPixels?: number;
  applyExifOrientation?: boolean;
}

/** The chat of a single-turn request, laid out as Hugging Face examples do: images first, then the text. */
export function requestMessages(request: PrepareRequest): ChatMessage[] {
  const images = request.images ?? [];
  const messages: ChatMessage[] = request.system !== undefined ? [{ role: 'system', content: request.system }] : [];
  messages.push({ role: 'user', content: [...images.map(() => ({ type: 'image' as const })), { type: 'text', text: request.prompt }] });
  return messages;
}

/**
 * The whole input side of Qwen2.5-VL on Node: image files → sharp → processor (chat
 * template, tokenizer, image processor) → 3-D position ids. Load once per model folder,
 * prepare many requests.
 */
export class InputPreparer extends PromptPreparer {
  /** `model` is a model folder path or any `ModelFolder`. */
  static override async load(model: string | ModelFolder): Promise<InputPreparer> {
    const folder = typeof model === 'string' ? await NodeModelFolder.open(model) : model;
    const { processor, modelConfig } = await PromptPreparer.load(folder);
    return new InputPreparer(processor, modelConfig);
  }

  async prepare(request: PrepareRequest): Promise<PreparedModelInputs> {
    checkRequest(request);
    const decodeOptions = { applyExifOrientation: request.applyExifOrientation };
    const images = await Promise.all((request.images ?? []).map((image) => decodeImage(image, decodeOptions)));
    return this.prepareMessages(requestMessages(request), { images }, { minPixels: request.minPixels, maxPixels: request.maxPixels });
  }
}

/** Checks the request's shape, naming the field: JavaScript callers can pass anything. */
function checkRequest(request: PrepareRequest): void {
  const fail = (field: string, what: string, value: unknown) => {
    throw new QwenVLError('INVALID_ARGUMENT', `must be ${what}, got ${typeof value === 'string' ? JSON.stringify(value) : typeof value}`, { source: `request.${field}` });
  };
  const { images, prompt, system } = request as { images?: unknown; prompt?: unknown; system?: unknown };
  if (images !== undefined && !Array.isArray(images)) fail('images', 'an array of image paths or bytes', images);
  (images as unknown[] | undefined)?.forEach((image, i) => {
    if (typeof image !== 'string' && !(image instanceof Uint8Array)) fail(`images[${i}]`, 'an image path or bytes', image);
  });
  if (typeof prompt !== 'string') fail('prompt', 'a string', prompt);
  if (system !== undefined && typeof system !== 'string') fail('system', 'a string', system);
}

/** One-off convenience: loads the model folder's processor and prepares one request. */
export async function prepareInputs(model: string | ModelFolder, request: PrepareRequest): Promise<PreparedModelInputs> {
  return (await InputPreparer.load(model)).prepare(request);
}
