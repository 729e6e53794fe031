import { QwenVLError, hostTensor, loadModelConfigs } from '@qwen-vl/core';
import type { HostTensor, ModelFolder, PreprocessorConfig } from '@qwen-vl/core';
import { ChatTemplate } from './chat-template.js';
import type { RenderOptions } from './chat-template.js';
import type { RawImage } from './image.js';
import { processImages, processVideos } from './image-processor.js';
import type { ResizeOptions } from './image-processor.js';
import { checkWellFormed, validateMessages } from './messages.js';
import type { ChatMessage } from './messages.js';
import { QwenTokenizer } from './tokenizer.js';

/** Decoded media for one conversation, in the order their items appear in the messages. */
export interface MediaInputs {
  images?: readonly RawImage[];
  /** Each video is its list of already sampled frames. */
  videos?: readonly (readonly RawImage[])[];
}

export interface PrepareOptions extends RenderOptions, ResizeOptions {
  /** Rate the video frames were sampled at: one for all videos or one per video (default 2). */
  fps?: number | readonly number[];
}

/** The vision-tower inputs; rows are [patch, rowSize] float32, row-major. */
export interface VisionInputs {
  pixelValues: Float32Array;
  patchCount: number;
  imageGridThw: Array<[number, number, number]>;
  pixelValuesVideos: Float32Array;
  videoPatchCount: number;
  videoGridThw: Array<[number, number, number]>;
  /** Seconds covered by one temporal grid step of each video. */
  secondPerGridT: number[];
  /** Floats per patch row: channels · temporal_patch_size · patch_size² (1176). */
  rowSize: number;
}

/**
 * The model inputs of B conversations (B = 1 for `QwenVLProcessor.prepare`), as Hugging
 * Face's processor returns them: ids and mask `[B, L]`, and the vision inputs of all the
 * conversations in order. It goes on whole: `getRopeIndex(inputs, config)` of
 * `@qwen-vl/mrope` reads it for the positions, and `@qwen-vl/decoder`'s `Generator` takes it
 * (with those positions and the embeddings) for the generation.
 */
export interface PreparedInputs extends VisionInputs {
  /** The rendered chat template of each conversation, before the pads are expanded. */
  prompts: string[];
  /**
   * int32 `[B, L]`: token ids with every media pad expanded to one token per merged patch;
   * shorter rows left-padded with the tokenizer's pad token (one row is never padded).
   */
  inputIds: HostTensor<'int32'>;
  /** int32 `[B, L]`: 0 on padding and 1 on real tokens. */
  attentionMask: HostTensor<'int32'>;
}

const IMAGE_PAD = '<|image_pad|>';
const VIDEO_PAD = '<|video_pad|>';

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}

function countOccurrences(text: string, token: string): number {
  return text.split(token).length - 1;
}

/** Replaces the k-th `token` in `prompt` by `repeats[k]` copies of it. */
function expandPads(prompt: string, token: string, repeats: readonly number[]): string {
  return prompt.split(token).reduce((out, piece, k) => out + token.repeat(repeats[k - 1]) + piece);
}

/** How many image and video placeholders (`<|image_pad|>`, `<|video_pad|>`) a rendered prompt holds. */
export function countMediaPlaceholders(prompt: string): { images: number; videos: number } {
  return { images: countOccurrences(prompt, IMAGE_PAD), videos: countOccurrences(prompt, VIDEO_PAD) };
}

function checkMediaEntries(media: readonly MediaInputs[], prompts: number): void {
  if (media.length !== 0 && media.length !== prompts) {
    throw new QwenVLError('INVALID_ARGUMENT', `has ${media.length} entries for ${plural(prompts, 'conversation')}`, { source: 'media' });
  }
}

/** Checks that `prompt` has exactly one pad per image and per video of `media`; `argument` names it. */
function checkPlaceholders(prompt: string, media: MediaInputs, argument: string): void {
  const counts = countMediaPlaceholders(prompt);
  const checks = [
    { placeholders: counts.images, noun: 'image', given: media.images?.length ?? 0 },
    { placeholders: counts.videos, noun: 'video', given: media.videos?.length ?? 0 },
  ];
  for (const { placeholders, noun, given } of checks) {
    if (placeholders !== given) {
      throw new QwenVLError('PLACEHOLDER_MISMATCH', `the prompt has ${plural(placeholders, `${noun} placeholder`)} but ${plural(given, noun)} ${given === 1 ? 'was' : 'were'} given`, {
        source: argument,
      });
    }
  }
}

/**
 * Right-aligns the rows so that the last real token of every row sits at the same column;
 * `padId` fills the columns before a shorter row's first token.
 */
function leftPad(rows: readonly Int32Array[], padId: number): { inputIds: HostTensor<'int32'>; attentionMask: HostTensor<'int32'> } {
  const length = rows.reduce((max, row) => Math.max(max, row.length), 0);
  const ids = new Int32Array(rows.length * length).fill(padId);
  const mask = new Int32Array(rows.length * length);
  rows.forEach((row, b) => {
    const end = (b + 1) * length;
    ids.set(row, end - row.length);
    mask.fill(1, end - row.length, end);
  });
  const dims = [rows.length, length];
  return { inputIds: hostTensor('int32', ids, dims), attentionMask: hostTensor('int32', mask, dims) };
}

/**
 * Hugging Face's Qwen2_5_VLProcessor: chat messages and decoded media → token ids and vision
 * inputs. Position ids are not made here (see `@qwen-vl/mrope`).
 */
export class QwenVLProcessor {
  constructor(
    readonly tokenizer: QwenTokenizer,
    readonly chatTemplate: ChatTemplate,
    readonly preprocessorConfig: PreprocessorConfig,
  ) {}

  /**
   * The folder's tokenizer and chat template, with `preprocessor` or else the folder's
   * preprocessor_config.json (a folder of another layout keeps these settings elsewhere).
   */
  static async fromFolder(folder: ModelFolder, preprocessorConfig?: PreprocessorConfig): Promise<QwenVLProcessor> {
    const preprocessor = preprocessorConfig ?? (await loadModelConfigs(folder)).preprocessor;
    const tokenizer = await QwenTokenizer.fromFolder(folder);
    const chatTemplate = await ChatTemplate.fromFolder(folder, tokenizer.specialTokens);
    return new QwenVLProcessor(tokenizer, chatTemplate, preprocessor);
  }

  /** One conversation: a batch of one row, `[1, L]`, with no padding (so no pad token is needed). */
  prepare(messages: readonly ChatMessage[], media: MediaInputs = {}, options: PrepareOptions = {}): PreparedInputs {
    const prompt = this.renderPrompt(messages, options, 'messages');
    return this.fromPrompts([prompt], [media], options, ['messages'], 0);
  }

  /**
   * Several conversations at once. `media[i]` belongs to `conversations[i]`; the vision
   * inputs of all conversations are concatenated in order, as Hugging Face does.
   */
  prepareBatch(conversations: readonly (readonly ChatMessage[])[], media: readonly MediaInputs[] = [], options: PrepareOptions = {}): PreparedInputs {
    if (conversations.length === 0) throw new QwenVLError('INVALID_ARGUMENT', 'needs at least one conversation', { source: 'conversations' });
    checkMediaEntries(media, conversations.length);
    const padId = this.requirePadTokenId();
    const prompts = conversations.map((messages, i) => this.renderPrompt(messages, options, `conversations[${i}]`));
    return this.fromPrompts(
      prompts,
      media,
      options,
      conversations.map((_, i) => `conversations[${i}]`),
      padId,
    );
  }

  /**
   * Prompts already rendered (the chat template applied, or written by hand), each holding
   * one `<|vision_start|><|image_pad|><|vision_end|>` per image and one `<|video_pad|>` per
   * video of its `media` entry: Hugging Face's `processor(text=prompts, images=..., videos=...)`.
   * One prompt is a row without padding; several are left-padded like `prepareBatch`.
   */
  preparePrompts(prompts: readonly string[], media: readonly MediaInputs[] = [], options: PrepareOptions = {}): PreparedInputs {
    if (prompts.length === 0) throw new QwenVLError('INVALID_ARGUMENT', 'needs at least one prompt', { source: 'prompts' });
    prompts.forEach((prompt, i) => {
      if (typeof prompt !== 'string') throw new QwenVLError('INVALID_ARGUMENT', `must be a string, got ${typeof prompt}`, { source: `prompts[${i}]` });
      checkWellFormed(prompt, `prompts[${i}]`);
    });
    checkMediaEntries(media, prompts.length);
    return this.fromPrompts(
      prompts,
      media,
      options,
      prompts.map((_, i) => `prompts[${i}]`),
      prompts.length === 1 ? 0 : this.requirePadTokenId(),
    );
  }

  /** Id of the pad token, which a batch of several rows needs. */
  private requirePadTokenId(): number {
    const padId = this.tokenizer.padTokenId;
    if (padId === undefined) {
      throw new QwenVLError('INVALID_CONFIG', 'is needed to pad a batch but is missing or not in the vocabulary', { source: 'tokenizer_config.json field "pad_token"' });
    }
    return padId;
  }

  /** Rendered prompts → ids and vision inputs, rows left-padded with `padId`; `where[i]` names prompt i in errors. */
  private fromPrompts(prompts: readonly string[], media: readonly MediaInputs[], options: PrepareOptions, where: readonly string[], padId: number): PreparedInputs {
    const mediaOf = (i: number): MediaInputs => media[i] ?? {};
    prompts.forEach((prompt, i) => checkPlaceholders(prompt, mediaOf(i), where[i]));
    const vision = this.encodeMedia(
      prompts.flatMap((_, i) => mediaOf(i).images ?? []),
      prompts.flatMap((_, i) => mediaOf(i).videos ?? []),
      options,
    );
    let firstImage = 0;
    let firstVideo = 0;
    const rows = prompts.map((prompt, i) => {
      const imageCount = mediaOf(i).images?.length ?? 0;
      const videoCount = mediaOf(i).videos?.length ?? 0;
      const row = this.encodePrompt(prompt, vision.imageGridThw.slice(firstImage, firstImage + imageCount), vision.videoGridThw.slice(firstVideo, firstVideo + videoCount));
      firstImage += imageCount;
      firstVideo += videoCount;
      return row;
    });
    return { prompts: [...prompts], ...leftPad(rows, padId), ...vision };
  }

  /** Renders the chat template of one conversation; `argument` names it in errors. */
  private renderPrompt(messages: readonly ChatMessage[], options: RenderOptions, argument: string): string {
    validateMessages(messages, argument);
    return this.chatTemplate.render(messages, options);
  }

  private encodeMedia(images: readonly RawImage[], videos: readonly (readonly RawImage[])[], options: PrepareOptions): VisionInputs {
    const imageBatch = processImages(images, this.preprocessorConfig, options);
    const videoBatch = processVideos(videos, this.preprocessorConfig, options);
    return {
      pixelValues: imageBatch.pixelValues,
      patchCount: imageBatch.patchCount,
      imageGridThw: imageBatch.gridThw,
      pixelValuesVideos: videoBatch.pixelValues,
      videoPatchCount: videoBatch.patchCount,
      videoGridThw: videoBatch.gridThw,
      secondPerGridT: videoBatch.secondPerGridT,
      rowSize: imageBatch.rowSize,
    };
  }

  /** Each pad becomes one token per merged patch (t·h·w / merge²), then the text is tokenized. */
  private encodePrompt(prompt: string, imageGrids: readonly [number, number, number][], videoGrids: readonly [number, number, number][]): Int32Array {
    const merge = this.preprocessorConfig.mergeSize ** 2;
    const tokensOf = (grids: readonly [number, number, number][]) => grids.map(([t, h, w]) => (t * h * w) / merge);
    const expanded = expandPads(expandPads(prompt, IMAGE_PAD, tokensOf(imageGrids)), VIDEO_PAD, tokensOf(videoGrids));
    return this.tokenizer.encode(expanded);
  }
}
