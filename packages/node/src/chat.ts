import { fileURLToPath } from 'node:url';
import { QwenVLError } from '@qwen-vl/core';
import { chatMediaItems } from '@qwen-vl/pipeline';
import type { HostChatMessage } from '@qwen-vl/pipeline';
import type { RawImage } from '@qwen-vl/preprocess';
import { decodeImage } from './decode-image.js';
import type { DecodeImageOptions } from './decode-image.js';

/**
 * An image in a chat message: a file path, the encoded bytes (a Buffer is a Uint8Array), or a
 * `file:` URL (a `URL` or a string starting with `file:`). Remote URLs are not fetched.
 */
export type ImageInput = string | URL | Uint8Array;

/**
 * A chat message in Hugging Face's content-array form, e.g.
 * `{ role: 'user', content: [{ type: 'image', image: 'cat.jpg' }, { type: 'text', text: 'What is this?' }] }`.
 * `content` may also be a plain string. A video item is its sampled frames, each an
 * `ImageInput`, with their rate: `{ type: 'video', video: ['f0.jpg', 'f1.jpg', ...], fps: 2 }`.
 */
export type QwenVLMessage = HostChatMessage<ImageInput>;

function isUrlString(value: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(value) || value.startsWith('file:');
}

function parseUrl(text: string, where: string): URL {
  try {
    return new URL(text);
  } catch (cause) {
    throw new QwenVLError('INVALID_ARGUMENT', `is not a valid URL: ${JSON.stringify(text)}`, { source: where, cause });
  }
}

/** A path for decodeImage, or the bytes themselves; `where` names the message item for errors. */
export function imageSource(image: unknown, where: string): string | Uint8Array {
  if (image instanceof Uint8Array) return image;
  const url = image instanceof URL ? image : typeof image === 'string' && isUrlString(image) ? parseUrl(image, where) : undefined;
  if (url !== undefined) {
    if (url.protocol !== 'file:') {
      throw new QwenVLError('INVALID_ARGUMENT', `is a ${url.protocol} URL; only file: URLs are read (download the image and pass its path or bytes)`, { source: where });
    }
    try {
      return fileURLToPath(url);
    } catch (cause) {
      // e.g. file://host/x: a file on another machine, which Node cannot open as a path.
      throw new QwenVLError('INVALID_ARGUMENT', `is not a file: URL of this machine (${(cause as Error).message})`, { source: where, cause });
    }
  }
  if (typeof image === 'string' && image.length > 0) return image;
  throw new QwenVLError('INVALID_ARGUMENT', `must be a file path, a file: URL or the image bytes (Uint8Array/Buffer), got ${image === undefined ? 'nothing' : typeof image}`, { source: where });
}

/**
 * Decodes the images of a conversation, in the order they appear (the order the chat template
 * places their pads in). Every image of every turn is returned; video frames are not.
 */
export async function loadChatImages(messages: readonly QwenVLMessage[], options: DecodeImageOptions = {}): Promise<RawImage[]> {
  // Every item is checked before any is decoded.
  const sources = chatMediaItems(messages).images.map(({ image, where }) => ({ source: imageSource(image, where), where }));
  return Promise.all(sources.map(({ source, where }) => decodeNamed(source, where, options)));
}

/** Decodes one image item or video frame (`where` names it): the chat pipeline's image decoder on Node. */
export function decodeChatImage(image: unknown, where: string, options: DecodeImageOptions = {}): Promise<RawImage> {
  return decodeNamed(imageSource(image, where), where, options);
}

/** decodeImage names a path itself; bytes it can only call "image bytes", so name the message item instead. */
async function decodeNamed(source: string | Uint8Array, where: string, options: DecodeImageOptions): Promise<RawImage> {
  try {
    return await decodeImage(source, options);
  } catch (error) {
    if (typeof source === 'string' || !(error instanceof QwenVLError)) throw error;
    throw error.withSource(`${where} (bytes)`);
  }
}

/**
 * The messages with every image and video frame as `imageSource` makes it (a path or the
 * bytes: checked, `file:` URLs made paths), which another thread can be sent.
 */
export function portableMessages(messages: readonly QwenVLMessage[]): QwenVLMessage[] {
  return messages.map((message, i) => {
    if (!Array.isArray(message.content)) return message;
    const content = message.content.map((part, j) => {
      const where = `messages[${i}].content[${j}]`;
      if (part.type === 'image') return { ...part, image: imageSource(part.image, `${where}.image`) };
      if (part.type === 'video' && Array.isArray(part.video)) return { ...part, video: (part.video as unknown[]).map((frame, k) => imageSource(frame, `${where}.video[${k}]`)) };
      return part;
    });
    return { ...message, content };
  });
}
