import { describe, expect, it } from 'vitest';
import { QwenVLError, isQwenVLError } from '../src/index.js';

describe('QwenVLError', () => {
  it('keeps the reason apart from the source; the message joins them', () => {
    const cause = new Error('unexpected end of data');
    const error = new QwenVLError('INVALID_IMAGE', 'cannot decode image', { source: 'photo.png', cause });
    expect(error).toBeInstanceOf(Error);
    expect(error).toMatchObject({ name: 'QwenVLError', code: 'INVALID_IMAGE', source: 'photo.png', reason: 'cannot decode image', message: 'photo.png: cannot decode image' });
    expect(error.cause).toBe(cause);
  });

  it('without a source, the message is the reason', () => {
    const error = new QwenVLError('ABORTED', 'the chat was aborted');
    expect(error.source).toBeUndefined();
    expect(error.reason).toBe('the chat was aborted');
    expect(error.message).toBe('the chat was aborted');
  });

  it('a reason that itself contains ": " is kept whole', () => {
    const error = new QwenVLError('INVALID_CONFIG', 'bad value: 3: not an integer', { source: 'config.json: text.hidden_size' });
    expect(error.reason).toBe('bad value: 3: not an integer');
    expect(error.message).toBe('config.json: text.hidden_size: bad value: 3: not an integer');
  });

  it('withSource reports the same failure about another source: code, reason and cause kept, the original untouched', () => {
    const cause = new Error('sharp: unsupported image format');
    const original = new QwenVLError('INVALID_IMAGE', 'cannot decode image (unsupported image format)', { source: 'image bytes', cause });
    const renamed = original.withSource('messages[0].content[1].image (bytes)');
    expect(renamed).toBeInstanceOf(QwenVLError);
    expect(renamed).not.toBe(original);
    expect(renamed).toMatchObject({
      code: 'INVALID_IMAGE',
      source: 'messages[0].content[1].image (bytes)',
      reason: 'cannot decode image (unsupported image format)',
      message: 'messages[0].content[1].image (bytes): cannot decode image (unsupported image format)',
    });
    expect(renamed.cause).toBe(cause);
    expect(isQwenVLError(renamed, 'INVALID_IMAGE')).toBe(true);
    expect(original).toMatchObject({ source: 'image bytes', message: 'image bytes: cannot decode image (unsupported image format)' });
  });

  it('withSource(undefined) drops the source; an error without one can be given one', () => {
    const sourced = new QwenVLError('INVALID_ARGUMENT', 'must be positive, got -1', { source: 'maxNewTokens' });
    expect(sourced.withSource(undefined)).toMatchObject({ source: undefined, reason: 'must be positive, got -1', message: 'must be positive, got -1' });
    const bare = new QwenVLError('INVALID_ARGUMENT', 'must be positive, got -1');
    expect(bare.withSource('--max-new-tokens')).toMatchObject({ source: '--max-new-tokens', message: '--max-new-tokens: must be positive, got -1' });
  });
});
