import { loadModelConfigs } from '@qwen-vl/core';
import type { ModelConfig, ModelFolder } from '@qwen-vl/core';
import { getRopeIndex } from '@qwen-vl/mrope';
import { QwenVLProcessor } from '@qwen-vl/preprocess';
import type { ChatMessage, PreparedInputs } from '@qwen-vl/preprocess';
import { decodeImage } from './decode-image.js';
import { NodeModelFolder } from './model-folder.js';

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

export interface PreparedModelInputs extends PreparedInputs {
  /** `[3, 1, L]` row-major: the t, h and w position of every token. */
  positionIds: Int32Array;
  /** What decoding adds to the cache position (`rope_deltas` of Hugging Face). */
  ropeDelta: number;
  /** How many `<|image_pad|>` tokens the images expanded into. */
  imageTokenCount: number;
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
export class InputPreparer {
  private constructor(
    readonly processor: QwenVLProcessor,
    readonly modelConfig: ModelConfig,
  ) {}

  /** `model` is a model folder path or any `ModelFolder`. */
  static async load(model: string | ModelFolder): Promise<InputPreparer> {
    const folder = typeof model === 'string' ? await NodeModelFolder.open(model) : model;
    const { model: modelConfig } = await loadModelConfigs(folder);
    return new InputPreparer(await QwenVLProcessor.fromFolder(folder), modelConfig);
  }

  async prepare(request: PrepareRequest): Promise<PreparedModelInputs> {
    const decodeOptions = { applyExifOrientation: request.applyExifOrientation };
    const images = await Promise.all((request.images ?? []).map((image) => decodeImage(image, decodeOptions)));
    const prepared = this.processor.prepare(requestMessages(request), { images }, {
      minPixels: request.minPixels,
      maxPixels: request.maxPixels,
    });
    const config = this.modelConfig;
    const rope = getRopeIndex({
      inputIds: [prepared.inputIds],
      imageGridThw: prepared.imageGridThw,
      spatialMergeSize: config.vision.spatialMergeSize,
      tokensPerSecond: config.vision.tokensPerSecond,
      imageTokenId: config.imageTokenId,
      videoTokenId: config.videoTokenId,
      visionStartTokenId: config.visionStartTokenId,
    });
    const merge = config.vision.spatialMergeSize ** 2;
    return {
      ...prepared,
      positionIds: rope.positionIds,
      ropeDelta: rope.ropeDeltas[0],
      imageTokenCount: prepared.imageGridThw.reduce((sum, [t, h, w]) => sum + (t * h * w) / merge, 0),
    };
  }
}

/** One-off convenience: loads the model folder's processor and prepares one request. */
export async function prepareInputs(model: string | ModelFolder, request: PrepareRequest): Promise<PreparedModelInputs> {
  return (await InputPreparer.load(model)).prepare(request);
}
