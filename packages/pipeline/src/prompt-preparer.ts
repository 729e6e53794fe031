import { loadModelConfigs } from '@qwen-vl/core';
import type { ModelConfig, ModelConfigs, ModelFolder } from '@qwen-vl/core';
import { getRopeIndex } from '@qwen-vl/mrope';
import type { RopeIndex } from '@qwen-vl/mrope';
import { QwenVLProcessor } from '@qwen-vl/preprocess';
import type { ChatMessage, MediaInputs, PrepareOptions, PreparedInputs } from '@qwen-vl/preprocess';

/** The processor's inputs with their positions: all a generation needs but the embeddings. */
export interface PreparedModelInputs extends PreparedInputs {
  /** `getRopeIndex(inputs, config)`: `[3, B, L]` positions (t, h, w rows) and the B rope deltas (`rope_deltas` of Hugging Face). */
  positions: RopeIndex;
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
    return PromptPreparer.fromConfigs(folder, await loadModelConfigs(folder));
  }

  /** The preparer of a folder whose configs were read already (by its layout, `FolderLayout.configs`). */
  static async fromConfigs(folder: ModelFolder, { model, preprocessor }: ModelConfigs): Promise<PromptPreparer> {
    return new PromptPreparer(await QwenVLProcessor.fromFolder(folder, preprocessor), model);
  }

  /**
   * Any conversation (several turns, images and videos between text parts): `media` holds
   * the decoded images, and each video's frames, in the order their items appear in
   * `messages`; `options.fps` is the videos' frame rate (one, or one per video). A batch of one row.
   */
  prepareMessages(messages: readonly ChatMessage[], media: MediaInputs, options: PrepareOptions = {}): PreparedModelInputs {
    return this.withPositions(this.processor.prepare(messages, media, options));
  }

  /** Several conversations, left-padded into one batch (`QwenVLProcessor.prepareBatch`); `media[i]` belongs to `conversations[i]`. */
  prepareBatch(conversations: readonly (readonly ChatMessage[])[], media: readonly MediaInputs[] = [], options: PrepareOptions = {}): PreparedModelInputs {
    return this.withPositions(this.processor.prepareBatch(conversations, media, options));
  }

  private withPositions(inputs: PreparedInputs): PreparedModelInputs {
    const merge = this.modelConfig.vision.spatialMergeSize ** 2;
    return {
      ...inputs,
      positions: getRopeIndex(inputs, this.modelConfig),
      imageTokenCount: inputs.imageGridThw.reduce((sum, [t, h, w]) => sum + (t * h * w) / merge, 0),
    };
  }
}
