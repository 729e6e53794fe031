import type { GenerationConfig, ModelConfig } from '@qwen-vl/core';
import type { SearchOptions, SearchOptionsInput } from '@qwen-vl/decoder';
import type { ChatOptions, ChatResult, ChatStream, HostChatMessage, VisionLanguageModel } from './vision-language-model.js';

/**
 * The chat API a host exposes (Node's `QwenVL`, the browser's `QwenVLWeb`): a loaded
 * `VisionLanguageModel` behind it. Hosts extend this and add only how they load a model, so
 * both offer the same calls with the same behaviour.
 */
export class HostedChatModel<Image> {
  protected constructor(private readonly model: VisionLanguageModel<Image>) {}

  /** config.json, parsed. */
  get config(): ModelConfig {
    return this.model.config;
  }

  /** generation_config.json, parsed: the defaults of every search option. */
  get generationConfig(): GenerationConfig {
    return this.model.generationConfig;
  }

  /**
   * The search options a call with `options` runs with: the given ones over
   * generation_config.json's. Throws INVALID_ARGUMENT naming a bad option.
   */
  searchOptions(options: SearchOptionsInput = {}): SearchOptions {
    return this.model.searchOptions(options);
  }

  /** Generates the assistant's reply to `messages` and returns it whole. */
  chat(messages: readonly HostChatMessage<Image>[], options: ChatOptions = {}): Promise<ChatResult> {
    return this.model.chat(messages, options);
  }

  /**
   * Generates the assistant's reply piece by piece: `for await (const chunk of stream)` gives
   * each token with its text, `await stream.result` the summary. Leaving the loop early stops
   * the generation.
   */
  chatStream(messages: readonly HostChatMessage<Image>[], options: ChatOptions = {}): ChatStream {
    return this.model.chatStream(messages, options);
  }

  /** Calls generating together now, with `maxBatch` (0 without it). */
  get batchSize(): number {
    return this.model.batchSize;
  }

  /** Frees the runtime sessions, after the generations in progress end. */
  dispose(): Promise<void> {
    return this.model.dispose();
  }
}
