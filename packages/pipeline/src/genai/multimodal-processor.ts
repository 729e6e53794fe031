import { QwenVLError, hostTensor, toBigInt64 } from '@qwen-vl/core';
import { countMediaPlaceholders } from '@qwen-vl/preprocess';
import type { MediaInputs, PreparedInputs, RawImage } from '@qwen-vl/preprocess';
import { Images } from './images.js';
import type { Model } from './model.js';
import { modelParts } from './model-parts.js';
import { NamedTensors } from './named-tensors.js';
import { TokenizerStream, checkTokenIds, parseMessages } from './tokenizer.js';

export interface ProcessOptions {
  /** The images of the prompt(s), in the order of their placeholders across all prompts. */
  images?: Images;
  /** The videos, each the `Images` of its frames (already sampled, in time order), in placeholder order. */
  videos?: readonly Images[];
  /** Rate the video frames were sampled at: one for all videos or one per video (default 2). */
  fps?: number | readonly number[];
  /** Overrides of preprocessor_config.json's pixel budget per image. */
  minPixels?: number;
  maxPixels?: number;
}

/**
 * onnxruntime-genai's `MultiModalProcessor` for Qwen2.5-VL: prompts and decoded media → the
 * model's input tensors, through the model folder's processor (`@qwen-vl/preprocess`'s
 * `QwenVLProcessor`: chat template, tokenizer, image processor).
 */
export class MultiModalProcessor {
  constructor(private readonly model: Model) {
    modelParts(model, 'MultiModalProcessor model');
  }

  /**
   * The input tensors of one prompt or a batch of them. A prompt is either text already in
   * the chat format, with `<|vision_start|><|image_pad|><|vision_end|>` where each image goes
   * (and `<|video_pad|>` for a video), or a JSON string of chat messages, to which the model's
   * chat template is applied (with the generation prompt). The images (and videos) are taken
   * in placeholder order across the prompts. The tensors: `input_ids` and `attention_mask`
   * int64 `[B, L]` (several prompts are left-padded), and with images `pixel_values` float32
   * `[patches, 1176]` and `image_grid_thw` int64 `[images, 3]`; with videos
   * `pixel_values_videos`, `video_grid_thw` and `second_per_grid_ts` (float32 `[videos]`).
   */
  async process(prompt: string | readonly string[], options: ProcessOptions = {}): Promise<NamedTensors> {
    const { preparer } = modelParts(this.model, 'MultiModalProcessor.process');
    const { processor } = preparer;
    const prompts = typeof prompt === 'string' ? [prompt] : prompt;
    if (!Array.isArray(prompts) || prompts.length === 0) {
      throw new QwenVLError('INVALID_ARGUMENT', 'must be a prompt string or a non-empty array of them', { source: 'MultiModalProcessor.process prompt' });
    }
    const rendered = prompts.map((text: unknown, i) => {
      const where = prompts.length === 1 ? 'MultiModalProcessor.process prompt' : `MultiModalProcessor.process prompt[${i}]`;
      if (typeof text !== 'string') throw new QwenVLError('INVALID_ARGUMENT', `must be a string, got ${typeof text}`, { source: where });
      const messages = asMessagesJson(text);
      return messages === undefined ? text : processor.chatTemplate.render(parseMessages(messages, where), { addGenerationPrompt: true });
    });
    const images = mediaList(options.images, 'images');
    if (!Array.isArray(options.videos ?? [])) throw new QwenVLError('INVALID_ARGUMENT', 'must be an array of Images (one per video)', { source: 'MultiModalProcessor.process options.videos' });
    const videos = (options.videos ?? []).map((video, i) => mediaList(video, `videos[${i}]`));
    const media = splitMedia(rendered, images, videos);
    const inputs = processor.preparePrompts(rendered, media, { fps: options.fps, minPixels: options.minPixels, maxPixels: options.maxPixels });
    return inputTensors(inputs);
  }

  /** `Tokenizer.decode` of the model's tokenizer. */
  decode(ids: ArrayLike<number>): string {
    checkTokenIds(ids, 'MultiModalProcessor.decode ids');
    return modelParts(this.model, 'MultiModalProcessor.decode').preparer.processor.tokenizer.decode(ids, { skipSpecialTokens: true });
  }

  createStream(): TokenizerStream {
    return new TokenizerStream(modelParts(this.model, 'MultiModalProcessor.createStream').preparer.processor.tokenizer);
  }
}

/** The text itself when it is a JSON array (of chat messages); undefined for a plain prompt. */
function asMessagesJson(text: string): string | undefined {
  if (!text.trimStart().startsWith('[')) return undefined;
  try {
    return Array.isArray(JSON.parse(text)) ? text : undefined;
  } catch {
    return undefined;
  }
}

function mediaList(images: Images | undefined, name: string): readonly RawImage[] {
  if (images === undefined) return [];
  if (!(images instanceof Images)) throw new QwenVLError('INVALID_ARGUMENT', 'must be an Images (Images.open)', { source: `MultiModalProcessor.process options.${name}` });
  return images.images;
}

/** Hands each prompt the images and videos its placeholders take, in order; the counts must match. */
function splitMedia(prompts: readonly string[], images: readonly RawImage[], videos: readonly (readonly RawImage[])[]): MediaInputs[] {
  const counts = prompts.map(countMediaPlaceholders);
  const wanted = counts.reduce((sum, c) => ({ images: sum.images + c.images, videos: sum.videos + c.videos }), { images: 0, videos: 0 });
  for (const [noun, given, placeholders] of [
    ['image', images.length, wanted.images],
    ['video', videos.length, wanted.videos],
  ] as const) {
    if (given !== placeholders) {
      throw new QwenVLError(
        'PLACEHOLDER_MISMATCH',
        `${given} ${noun}${given === 1 ? ' was' : 's were'} given, but the prompt${prompts.length === 1 ? ' has' : 's have'} ${placeholders} ${noun} placeholder${placeholders === 1 ? '' : 's'}`,
        {
          source: `MultiModalProcessor.process options.${noun}s`,
        },
      );
    }
  }
  let image = 0;
  let video = 0;
  return counts.map((count) => {
    const media = { images: images.slice(image, image + count.images), videos: videos.slice(video, video + count.videos) };
    image += count.images;
    video += count.videos;
    return media;
  });
}

function gridTensor(grids: readonly (readonly [number, number, number])[]) {
  return hostTensor('int64', toBigInt64(grids.flat()), [grids.length, 3]);
}

/** The processor's inputs as genai names them. */
function inputTensors(inputs: PreparedInputs): NamedTensors {
  const tensors = new NamedTensors({
    input_ids: hostTensor('int64', toBigInt64(inputs.inputIds.data), inputs.inputIds.dims),
    attention_mask: hostTensor('int64', toBigInt64(inputs.attentionMask.data), inputs.attentionMask.dims),
  });
  if (inputs.imageGridThw.length > 0) {
    tensors.set('pixel_values', hostTensor('float32', inputs.pixelValues, [inputs.patchCount, inputs.rowSize]));
    tensors.set('image_grid_thw', gridTensor(inputs.imageGridThw));
  }
  if (inputs.videoGridThw.length > 0) {
    tensors.set('pixel_values_videos', hostTensor('float32', inputs.pixelValuesVideos, [inputs.videoPatchCount, inputs.rowSize]));
    tensors.set('video_grid_thw', gridTensor(inputs.videoGridThw));
    tensors.set('second_per_grid_ts', hostTensor('float32', Float32Array.from(inputs.secondPerGridT), [inputs.secondPerGridT.length]));
  }
  return tensors;
}
