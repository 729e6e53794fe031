import { loadModelConfigs } from '@qwen-vl/core';
import type { ModelConfig, ModelFolder } from '@qwen-vl/core';
import { getRopeIndex } from '@qwen-vl/mrope';
import { QwenVLProcessor } from '@qwen-vl/preprocess';
import type { ChatMessage, MediaInputs, PrepareOptions, PreparedInputs } from '@qwen-vl/preprocess';

export interface PreparedModelInputs extends PreparedInputs {
  /** `[3, 1, L]` row-major: the t, h and w position of every token. */
  positionIds: Int32Array;
  /** What decoding adds to the cache position (`rope_deltas` of Hugging Face). */
  ropeDelta: number;
  /** How many `<|image_pad|>` tokens the images expanded into. */
  imageTokenCount: number;
}

/**
 * The input side of Qwen2.5-VL once images are decoded: processor (chat template, tokenizer,
 * image processor) → 3-D position ids. Load once per model folder, prepare many conversations.
 */
export class PromptPreparer {
  constructor(
    readonly processor: QwenVLProcessor,
    readonly modelConfig: ModelConfig,
  ) {}

  static async load(folder: ModelFolder): Promise<PromptPreparer> {
    const { model } = await loadModelConfigs(folder);
    return new PromptPreparer(await QwenVLProcessor.fromFolder(folder), model);
  }

  /**
   * Any conversation (several turns, images and videos between text parts): `media` holds
   * the decoded images, and each video's frames, in the order their items appear in
   * `messages`; `options.fps` is the videos' frame rate (one, or one per video).
   */
  prepareMessages(messages: readonly ChatMessage[], media: MediaInputs, options: PrepareOptions = {}): PreparedModelInputs {
    const prepared = this.processor.prepare(messages, media, options);
    const config = this.modelConfig;
    const inputIds = { dims: [1, prepared.inputIds.length], data: prepared.inputIds };
    const rope = getRopeIndex({ ...prepared, inputIds }, config);
    const merge = config.vision.spatialMergeSize ** 2;
    return {
      ...prepared,
      positionIds: rope.positionIds,
      ropeDelta: rope.ropeDeltas[0],
      imageTokenCount: prepared.imageGridThw.reduce((sum, [t, h, w]) => sum + (t * h * w) / merge, 0),
    };
  }
}
