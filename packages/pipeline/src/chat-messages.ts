import { QwenVLError } from '@qwen-vl/core';
import { validateMessages } from '@qwen-vl/preprocess';
import type { ChatMessage } from '@qwen-vl/preprocess';

/** An image item of a conversation: its payload and where it is, for error messages. */
export interface ChatImageItem {
  /** The item's `image`, unchecked: callers may be untyped. */
  readonly image: unknown;
  /** `messages[i].content[j].image`. */
  readonly where: string;
}

/** A video item of a conversation: its frames (each an image payload, unchecked), their rate and where it is. */
export interface ChatVideoItem {
  readonly frames: readonly unknown[];
  /** The item's `fps`; undefined when it has none. */
  readonly fps: number | undefined;
  /** `messages[i].content[j].video`; frame k is `${where}[k]`. */
  readonly where: string;
}

export interface ChatMediaItems {
  readonly images: ChatImageItem[];
  readonly videos: ChatVideoItem[];
}

/**
 * The image and the video items of a conversation, each in the order they appear (the order
 * the chat template places their pads in). A video is its list of already sampled frames.
 */
export function chatMediaItems(messages: readonly ChatMessage<unknown, unknown>[]): ChatMediaItems {
  validateMessages(messages);
  const media: ChatMediaItems = { images: [], videos: [] };
  messages.forEach((message, i) => {
    if (typeof message.content === 'string') return;
    message.content.forEach((part, j) => {
      const where = `messages[${i}].content[${j}]`;
      if (part.type === 'image') media.images.push({ image: part.image, where: `${where}.image` });
      if (part.type === 'video') media.videos.push(videoItem(part.video, part.fps, where));
    });
  });
  return media;
}

function videoItem(frames: unknown, fps: unknown, where: string): ChatVideoItem {
  if (!Array.isArray(frames) || frames.length === 0) {
    throw new QwenVLError('INVALID_ARGUMENT', 'must be a non-empty array of frames (images), in time order', { source: `${where}.video` });
  }
  if (fps !== undefined && !(typeof fps === 'number' && Number.isFinite(fps) && fps > 0)) {
    throw new QwenVLError('INVALID_ARGUMENT', `must be a positive number of frames per second, got ${JSON.stringify(fps)}`, { source: `${where}.fps` });
  }
  return { frames, fps, where: `${where}.video` };
}

/** `messages` with `system` as its system message; a conversation may not have two. */
export function withSystemPrompt<M extends ChatMessage<unknown, unknown>>(messages: readonly M[], system: string | undefined): readonly (M | ChatMessage<never, never>)[] {
  if (system === undefined) return messages;
  if (messages.some((message) => message.role === 'system')) {
    throw new QwenVLError('INVALID_ARGUMENT', 'is set but the messages already have a system message; give only one', { source: 'chat option "system"' });
  }
  return [{ role: 'system', content: system }, ...messages];
}
