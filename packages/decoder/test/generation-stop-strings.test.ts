import { describe, expect, it } from 'vitest';
import { StopStringMatcher } from '../src/index.js';

function feed(stopStrings: string[], pieces: string[]): { emitted: string[]; stopped: boolean; tail: string } {
  const matcher = new StopStringMatcher(stopStrings);
  const emitted = pieces.map((piece) => matcher.push(piece));
  return { emitted, stopped: matcher.stopped, tail: matcher.flush() };
}

describe('StopStringMatcher', () => {
  it('finds a stop string spread over pieces and never emits any of it', () => {
    const { emitted, stopped, tail } = feed(['</s>'], ['Hello <', '/', 's> more', ' text']);
    expect(emitted).toEqual(['Hello ', '', '', '']);
    expect(stopped).toBe(true);
    expect(tail).toBe('');
  });

  it('finds a stop string spanning exactly two pieces', () => {
    const { emitted, stopped } = feed(['\n\n'], ['First line\n', '\nSecond']);
    expect(emitted).toEqual(['First line', '']);
    expect(stopped).toBe(true);
  });

  it('releases held-back text once it cannot start a stop string', () => {
    const { emitted, stopped, tail } = feed(['<|im_end|>'], ['a <', '|im', '_start|>b']);
    expect(emitted).toEqual(['a ', '', '<|im_start|>b']);
    expect(stopped).toBe(false);
    expect(tail).toBe('');
  });

  it('hands back a possible stop-string start on flush when the row ends for another reason', () => {
    const { emitted, stopped, tail } = feed(['<|im_end|>'], ['done <|im']);
    expect(emitted).toEqual(['done ']);
    expect(stopped).toBe(false);
    expect(tail).toBe('<|im');
  });

  it('stops at the earliest of several stop strings', () => {
    const { emitted } = feed(['END', 'STOP'], ['xx ST', 'OP yy END']);
    expect(emitted).toEqual(['xx ', '']);
  });

  it('passes text through unchanged without stop strings', () => {
    const { emitted, stopped, tail } = feed([], ['a', 'b<', '/s>']);
    expect(emitted).toEqual(['a', 'b<', '/s>']);
    expect(stopped).toBe(false);
    expect(tail).toBe('');
  });
});
