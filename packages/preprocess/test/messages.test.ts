import { describe, expect, it } from 'vitest';
import { isQwenVLError } from '@qwen-vl/core';
import { collectMediaParts, validateMessages } from '../src/messages.js';
import type { ChatMessage } from '../src/messages.js';

function validationError(messages: unknown): unknown {
  try {
    validateMessages(messages);
  } catch (error) {
    return error;
  }
  return undefined;
}

describe('collectMediaParts', () => {
  it('lists image and video items across turns in order, keeping their payloads', () => {
    const messages: ChatMessage<string, string[]>[] = [
      { role: 'system', content: 'Be brief.' },
      {
        role: 'user',
        content: [
          { type: 'image', image: 'a.png' },
          { type: 'video', video: ['f0.png', 'f1.png'] },
          { type: 'text', text: 'and' },
        ],
      },
      { role: 'assistant', content: 'ok' },
      { role: 'user', content: [{ type: 'image', image: 'b.png' }] },
    ];
    const media = collectMediaParts(messages);
    expect(media.images.map((part) => part.image)).toEqual(['a.png', 'b.png']);
    expect(media.videos.map((part) => part.video)).toEqual([['f0.png', 'f1.png']]);
  });
});

describe('validateMessages', () => {
  it('accepts string and content-array messages', () => {
    expect(
      validationError([
        { role: 'user', content: 'hi' },
        { role: 'assistant', content: [{ type: 'text', text: 'x' }, { type: 'image' }] },
      ]),
    ).toBeUndefined();
  });

  it.each([
    ['not an array', { role: 'user', content: 'hi' }, 'messages'],
    ['an unknown role', [{ role: 'tool', content: 'hi' }], 'messages[0].role'],
    ['content that is neither string nor array', [{ role: 'user', content: 5 }], 'messages[0].content'],
    ['a part of unknown type', [{ role: 'user', content: [{ type: 'audio' }] }], 'messages[0].content[0]'],
    ['a text part without text', [{ role: 'user', content: [{ type: 'image' }, { type: 'text' }] }], 'messages[0].content[1].text'],
    // These three used to be accepted: an empty prompt ran, and lone surrogates became U+FFFD.
    ['an empty conversation', [], 'messages'],
    [
      'string content with a lone surrogate',
      [
        { role: 'user', content: 'ok' },
        { role: 'assistant', content: 'a\uD800b' },
      ],
      'messages[1].content',
    ],
    ['a text part with a lone low surrogate', [{ role: 'user', content: [{ type: 'text', text: 'x\uDC00' }] }], 'messages[0].content[0].text'],
  ])('rejects %s, naming where', (_, messages, where) => {
    const error = validationError(messages);
    expect(isQwenVLError(error, 'INVALID_ARGUMENT')).toBe(true);
    expect((error as Error).message.startsWith(`${where}:`)).toBe(true);
  });

  it('accepts surrogate pairs (emoji) and names the index of a lone one', () => {
    expect(validationError([{ role: 'user', content: 'sail ⛵ 😀' }])).toBeUndefined();
    expect((validationError([{ role: 'user', content: 'ab\uD83D' }]) as Error).message).toBe(
      'messages[0].content: holds an unpaired UTF-16 surrogate (\\ud83d) at index 2; text must be valid Unicode',
    );
  });
});
