import { QwenVLError } from '@qwen-vl/core';
import { smartResize } from '@qwen-vl/preprocess';
import type { ChatMessage, QwenVLProcessor } from '@qwen-vl/preprocess';
import { ApiError } from './errors.js';

const IMAGE_PAD = '<|image_pad|>';

/**
 * How many tokens a conversation takes as the model sees it (every image pad expanded),
 * worked out from the chat template, the tokenizer and the images' declared sizes, so that
 * a prompt too long for the context is refused before any image is decoded or encoded. It
 * is what `ChatResult.promptTokenIds.length` then is: the processor expands each image into
 * its smart-resized grid's merged patches the same way.
 */
export class PromptTokenCounter {
  constructor(
    private readonly processor: QwenVLProcessor,
    /** The tokens a request may have, prompt and answer together: the model's context (max_position_embeddings), or less (ServerLimits.requestTokens). */
    readonly contextLength: number,
    /** The most tokens the images of one request may become (`ServerLimits.imageTokensPerRequest`). */
    private readonly imageTokenLimit: number,
  ) {}

  /**
   * Tokens of `messages` (images as `{ type: 'image' }` items, in order) whose images are
   * `sizes`; `params` name the images for errors. Refuses images that together become more
   * tokens than the limit: what the vision encoder holds grows with them.
   */
  count(messages: readonly ChatMessage[], sizes: readonly { width: number; height: number }[], params: readonly string[]): number {
    const prompt = this.processor.chatTemplate.render(messages);
    const pads = prompt.split(IMAGE_PAD).length - 1;
    if (pads !== sizes.length) throw new ApiError(500, `the chat template placed ${pads} image pads for ${sizes.length} images`, { code: 'template_mismatch' });
    const config = this.processor.preprocessorConfig;
    const budget = { factor: config.patchSize * config.mergeSize, minPixels: config.minPixels, maxPixels: config.maxPixels };
    let imageTokens = 0;
    sizes.forEach(({ width, height }, i) => {
      try {
        const resized = smartResize(height, width, budget);
        imageTokens += ((resized.height / config.patchSize) * (resized.width / config.patchSize)) / config.mergeSize ** 2;
      } catch (cause) {
        if (!(cause instanceof QwenVLError)) throw cause;
        throw new ApiError(400, `${params[i]}: ${cause.reason}`, { param: params[i], code: 'invalid_image', cause });
      }
      if (imageTokens > this.imageTokenLimit) {
        throw new ApiError(
          400,
          `${params[i]}: the request's images become ${imageTokens} tokens for the model so far, more than the ${this.imageTokenLimit} one request may have; send fewer or smaller images (an image of W×H pixels becomes about W·H/${(config.patchSize * config.mergeSize) ** 2} tokens)`,
          { param: params[i], code: 'images_too_large' },
        );
      }
    });
    // Each pad is one token of the encoded template; the processor expands it into the image's tokens.
    return this.processor.tokenizer.encode(prompt).length - pads + imageTokens;
  }

  /**
   * Refuses a prompt that leaves no room in the context, or no room for the `maxNewTokens`
   * the request asked for (`field` names it); without an explicit ask the answer simply
   * stops at the context's end (finish_reason "length").
   */
  check(promptTokens: number, maxNewTokens: number | undefined, field: string): void {
    const context = this.contextLength;
    if (promptTokens >= context) {
      throw new ApiError(
        400,
        `messages: the prompt takes ${promptTokens} tokens, and a request may have ${context} (prompt and answer: the model's context or the server's limit requestTokens); shorten the messages or send fewer or smaller images`,
        {
          param: 'messages',
          code: 'context_length_exceeded',
        },
      );
    }
    if (maxNewTokens !== undefined && promptTokens + maxNewTokens > context) {
      throw new ApiError(
        400,
        `${field}: the prompt takes ${promptTokens} tokens and ${field} asks for ${maxNewTokens} more, beyond the ${context} a request may have (prompt and answer: the model's context or the server's limit requestTokens); ask for at most ${context - promptTokens}`,
        {
          param: field,
          code: 'context_length_exceeded',
        },
      );
    }
  }
}
