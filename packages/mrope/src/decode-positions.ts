import { QwenVLError } from '@qwen-vl/core';

/**
 * Position ids of `newTokens` tokens appended after `pastLength` cached ones, `[3, B,
 * newTokens]`: `pastLength + i + ropeDeltas[b]`, equal in all three rows. The delta from
 * prefill makes decoding continue from the largest prefill position + 1 although vision
 * blocks used fewer positions than tokens.
 */
export function decodePositionIds(pastLength: number, newTokens: number, ropeDeltas: ArrayLike<number>): Int32Array {
  if (!Number.isInteger(pastLength) || pastLength < 0) {
    throw new QwenVLError('INVALID_ARGUMENT', `must be a non-negative integer, got ${pastLength}`, { source: 'decodePositionIds pastLength' });
  }
  if (!Number.isInteger(newTokens) || newTokens < 0) {
    throw new QwenVLError('INVALID_ARGUMENT', `must be a non-negative integer, got ${newTokens}`, { source: 'decodePositionIds newTokens' });
  }
  const batch = ropeDeltas.length;
  const out = new Int32Array(3 * batch * newTokens);
  for (let b = 0; b < batch; b++) {
    for (let i = 0; i < newTokens; i++) {
      const value = pastLength + i + ropeDeltas[b];
      for (let r = 0; r < 3; r++) out[(r * batch + b) * newTokens + i] = value;
    }
  }
  return out;
}
