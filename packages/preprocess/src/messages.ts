import { QwenVLError } from '@qwen-vl/core';

/**
 * Chat messages in the Hugging Face / OpenAI content-array form. The media payload types are
 * generic so that each host carries what it can load: Node a path or Buffer, the browser a
 * Blob or URL. The chat template only looks at the item kinds, never at the payloads.
 */
export type ChatRole = 'system' | 'user' | 'assistant';

export interface TextPart {
  type: 'text';
  text: string;
}

export interface ImagePart<I = unknown> {
  type: 'image';
  image?: I;
}

export interface VideoPart<V = unknown> {
  type: 'video';
  video?: V;
  /** Rate the video's frames were sampled at, frames per second (default 2, as qwen-vl-utils). */
  fps?: number;
}

export type ContentPart<I = unknown, V = unknown> = TextPart | ImagePart<I> | VideoPart<V>;

export interface ChatMessage<I = unknown, V = unknown> {
  role: ChatRole;
  content: string | readonly ContentPart<I, V>[];
}

/** The image and video items of a conversation, each list in order of appearance. */
export interface MediaParts<I = unknown, V = unknown> {
  images: ImagePart<I>[];
  videos: VideoPart<V>[];
}

export function collectMediaParts<I, V>(messages: readonly ChatMessage<I, V>[]): MediaParts<I, V> {
  const media: MediaParts<I, V> = { images: [], videos: [] };
  for (const message of messages) {
    if (typeof message.content === 'string') continue;
    for (const part of message.content) {
      if (part.type === 'image') media.images.push(part);
      else if (part.type === 'video') media.videos.push(part);
    }
  }
  return media;
}

const ROLES: readonly string[] = ['system', 'user', 'assistant'] satisfies ChatRole[];

/**
 * Checks the shape of messages that may come from untyped callers (JSON, plain JS), so that a
 * bad message fails here with its index instead of rendering a silently wrong prompt.
 */
/** A lone UTF-16 surrogate: half of a pair, which no tokenizer can encode faithfully. */
const LONE_SURROGATE = /\p{Cs}/u;

/** Fails naming `where` when `text` is not valid Unicode (it would be encoded as U+FFFD, silently changing the prompt). */
export function checkWellFormed(text: string, where: string): void {
  const match = LONE_SURROGATE.exec(text);
  if (match !== null) {
    throw new QwenVLError('INVALID_ARGUMENT', `holds an unpaired UTF-16 surrogate (\\u${match[0].charCodeAt(0).toString(16)}) at index ${match.index}; text must be valid Unicode`, { source: where });
  }
}

export function validateMessages(messages: unknown, argument = 'messages'): asserts messages is ChatMessage[] {
  const fail = (where: string, message: string): never => {
    throw new QwenVLError('INVALID_ARGUMENT', message, { source: where });
  };
  if (!Array.isArray(messages)) fail(argument, 'must be an array of chat messages');
  if ((messages as unknown[]).length === 0) fail(argument, 'must hold at least one message');
  (messages as unknown[]).forEach((message, i) => {
    const where = `${argument}[${i}]`;
    if (typeof message !== 'object' || message === null) fail(where, 'must be an object with role and content');
    const { role, content } = message as Record<string, unknown>;
    if (typeof role !== 'string' || !ROLES.includes(role)) {
      fail(`${where}.role`, `must be one of ${ROLES.join(', ')}, got ${JSON.stringify(role)}`);
    }
    if (typeof content === 'string') {
      checkWellFormed(content, `${where}.content`);
      return;
    }
    if (!Array.isArray(content)) fail(`${where}.content`, 'must be a string or an array of content parts');
    (content as unknown[]).forEach((part, j) => {
      const partWhere = `${where}.content[${j}]`;
      const type = typeof part === 'object' && part !== null ? (part as Record<string, unknown>).type : undefined;
      if (type === 'image' || type === 'video') return;
      if (type !== 'text') fail(partWhere, `must have type 'text', 'image' or 'video', got ${JSON.stringify(type)}`);
      const text = (part as Record<string, unknown>).text;
      if (typeof text !== 'string') fail(`${partWhere}.text`, 'must be a string');
      checkWellFormed(text as string, `${partWhere}.text`);
    });
  });
}
