import { describe, expect, it } from 'vitest';
import { decodePositionIds } from '../src/index.js';

describe('decodePositionIds', () => {
  it('continues from pastLength + delta in all three rows, per batch row', () => {
    // Batch of 2 after a prefill of length 407 with deltas −368 (the spec's image prompt,
    // whose last prefill position is 38) and 0 (text only): two new tokens each.
    const ids = decodePositionIds(407, 2, [-368, 0]);
    const plane = [39, 40, 407, 408];
    expect(Array.from(ids)).toEqual([...plane, ...plane, ...plane]);
  });

  it('rejects a negative past length', () => {
    expect(() => decodePositionIds(-1, 1, [0])).toThrow(/pastLength/);
  });
});
