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

/**
 * The image items of a conversation in the order they appear, the order the chat template
 * places their pads in. Every image of every turn is listed: the model sees the whole
 * conversation again on each turn. The chat API takes no videos.
 */
export function chatImageItems(messages: readonly ChatMessage<unknown, never>[]): ChatImageItem[] {
  validateMessages(messages);
  const items: ChatImageItem[] = [];
  messages.forEach((message, i) => {
    if (typeof message.content === 'string') return;
    message.content.forEach((part, j) => {
      const where = `messages[${i}].content[${j}]`;
      if (part.type === 'video') throw new QwenVLError('INVALID_ARGUMENT', 'is a video; the chat API takes images and text only', { source: where });
      if (part.type === 'image') items.push({ image: part.image, where: `${where}.image` });
    });
  });
  return items;
}

/** `messages` with `system` as its system message; a conversation may not have two. */
export function withSystemPrompt<M extends ChatMessage<unknown, never>>(messages: readonly M[], system: string | undefined): readonly (M | ChatMessage<never, never>)[] {
  if (system === undefined) return messages;
  if (messages.some((message) => message.role === 'system')) {
    throw new QwenVLError('INVALID_ARGUMENT', 'is set but the messages already have a system message; give only one', { source: 'chat option "system"' });
  }
  return [{ role: 'system', content: system }, ...messages];
}
