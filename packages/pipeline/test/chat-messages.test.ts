import { describe, expect, it } from 'vitest';
import { chatMediaItems, withSystemPrompt } from '../src/index.js';

/** The media items the chat pipeline decodes, and the system option. */

describe('chatMediaItems', () => {
  it('lists images and videos in the order they appear, each named by its place', () => {
    const media = chatMediaItems([
      {
        role: 'user',
        content: [
          { type: 'image', image: 'a.png' },
          { type: 'text', text: 'and' },
          { type: 'video', video: ['f0.png', 'f1.png'], fps: 1 },
        ],
      },
      { role: 'assistant', content: 'ok' },
      {
        role: 'user',
        content: [
          { type: 'video', video: ['g0.png', 'g1.png'] },
          { type: 'image', image: 'b.png' },
        ],
      },
    ]);
    expect(media.images).toEqual([
      { image: 'a.png', where: 'messages[0].content[0].image' },
      { image: 'b.png', where: 'messages[2].content[1].image' },
    ]);
    expect(media.videos).toEqual([
      { frames: ['f0.png', 'f1.png'], fps: 1, where: 'messages[0].content[2].video' },
      { frames: ['g0.png', 'g1.png'], fps: undefined, where: 'messages[2].content[0].video' },
    ]);
  });

  it('refuses a video without frames or with a bad fps, and a malformed message', () => {
    const video = (part: object) => [{ role: 'user' as const, content: [{ type: 'video' as const, ...part }] }];
    expect(() => chatMediaItems(video({ video: 'clip.mp4' }))).toThrow('messages[0].content[0].video: must be a non-empty array of frames (images), in time order');
    expect(() => chatMediaItems(video({ video: ['a.png'], fps: -2 }))).toThrow('messages[0].content[0].fps: must be a positive number of frames per second, got -2');
    expect(() => chatMediaItems([{ role: 'robot', content: 'hi' } as never])).toThrow('messages[0].role');
  });
});

describe('withSystemPrompt', () => {
  it('puts the system prompt first, and refuses a second one', () => {
    expect(withSystemPrompt([{ role: 'user', content: 'hi' }], 'Be brief.')).toEqual([
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'hi' },
    ]);
    expect(() => withSystemPrompt([{ role: 'system', content: 'A' }], 'B')).toThrow('chat option "system"');
  });
});
