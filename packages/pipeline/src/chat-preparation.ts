import type { ModelFolder } from '@qwen-vl/core';
import { DEFAULT_VIDEO_FPS } from '@qwen-vl/preprocess';
import type { ChatMessage, RawImage } from '@qwen-vl/preprocess';
import { chatMediaItems, withSystemPrompt } from './chat-messages.js';
import { loadFolderConfigs } from './folder-layouts/folder-layout.js';
import { PromptPreparer } from './prompt-preparer.js';
import type { PreparedModelInputs } from './prompt-preparer.js';

/** How a host decodes images; the pipeline passes these on from the chat options. */
export interface ImageDecodeOptions {
  /** Rotate/flip images by their EXIF orientation (Hugging Face does not). */
  applyExifOrientation?: boolean;
}

/** The options of a chat call that its model inputs depend on. */
export interface ChatPreparationOptions extends ImageDecodeOptions {
  /** System prompt; only when the messages have no system message of their own. */
  system?: string;
  /** Overrides of preprocessor_config.json's pixel budget per image. */
  minPixels?: number;
  maxPixels?: number;
}

/** Decodes one image item's payload (or a video frame); `where` names it for error messages. */
export type HostImageDecoder<Image> = (image: Image, where: string, options: ImageDecodeOptions) => Promise<RawImage>;

/**
 * Prepares chat calls' model inputs somewhere other than the thread that runs the model (a
 * pool of worker threads, say), so that decoding images, the chat template, the tokenizer
 * and the image processor of one call overlap the model runs of others. The messages it is
 * given have been checked (`validateMessages`); it must answer what `prepareChat` answers.
 */
export interface ChatPreparer<Image> {
  prepare(messages: readonly ChatMessage<Image, readonly Image[]>[], options: ChatPreparationOptions): Promise<PreparedModelInputs>;
  /** Frees what it holds (its threads); later calls fail. */
  dispose(): Promise<void>;
}

/**
 * A checked conversation's model inputs (one row): the system prompt put in, its images and
 * video frames decoded by `decodeImage`, then the processor and the 3-D positions.
 */
export async function prepareChat<Image>(
  preparer: PromptPreparer,
  decodeImage: HostImageDecoder<Image>,
  messages: readonly ChatMessage<Image, readonly Image[]>[],
  options: ChatPreparationOptions,
): Promise<PreparedModelInputs> {
  const { system, minPixels, maxPixels, applyExifOrientation } = options;
  const conversation = withSystemPrompt(messages, system);
  const media = chatMediaItems(conversation);
  const decode = (image: unknown, where: string) => decodeImage(image as Image, where, { applyExifOrientation });
  const images = await Promise.all(media.images.map(({ image, where }) => decode(image, where)));
  const videos = await Promise.all(media.videos.map(({ frames, where }) => Promise.all(frames.map((frame, k) => decode(frame, `${where}[${k}]`)))));
  const fps = media.videos.map((video) => video.fps ?? DEFAULT_VIDEO_FPS);
  return preparer.prepareMessages(conversation, { images, videos }, { minPixels, maxPixels, fps });
}

/**
 * The input side of a model folder of any layout on its own (configs, tokenizer, chat
 * template, image processor), without its models: what a thread that only prepares calls needs.
 */
export async function openPromptPreparer(folder: ModelFolder): Promise<PromptPreparer> {
  return PromptPreparer.fromConfigs(folder, await loadFolderConfigs(folder));
}
