import { hostTensor } from '@qwen-vl/core';
import type { PrefillInput } from './decoder-session.js';

type RowData = Float32Array | Uint16Array | BigInt64Array | Int32Array;

/** Positions `from` onward of row `row` of a `[B, heads, positions, width]` array. */
export interface RowSlice<T extends RowData> {
  readonly data: T;
  readonly positions: number;
  readonly row: number;
  readonly from: number;
}

/**
 * Rows of `[B, heads, positions, width]` arrays (a KV cache tensor; a mask or an embedding
 * row is one head) gathered into one `[slices.length, heads, length, width]` array: row i
 * holds the positions of `slices[i]`, right-aligned, and zeros before them (left padding).
 * What joining rows into a batch, or dropping rows from it, does to the cache and the mask.
 */
export function gatherRows<T extends RowData>(slices: readonly RowSlice<T>[], heads: number, width: number, length: number): T {
  const out = new (slices[0].data.constructor as new (size: number) => T)(slices.length * heads * length * width);
  slices.forEach(({ data, positions, row, from }, i) => {
    const kept = positions - from;
    for (let h = 0; h < heads; h++) {
      const source = ((row * heads + h) * positions + from) * width;
      const target = ((i * heads + h) * length + length - kept) * width;
      (out as Float32Array).set((data as Float32Array).subarray(source, source + kept * width), target);
    }
  });
  return out;
}

/**
 * Several prefill inputs (each of one or more left-padded rows) as one batch, right-aligned to
 * the longest: a shorter input's rows get more left padding (masked out, zero embeddings), and
 * their rope deltas shrink by as many columns, so that every token keeps its MRoPE position.
 */
export function stackPrefillInputs(inputs: readonly PrefillInput[]): PrefillInput {
  if (inputs.length === 1) return inputs[0];
  const length = Math.max(...inputs.map((input) => input.attentionMask.dims[1]));
  const hidden = inputs[0].inputsEmbeds.dims[2];
  const rows = inputs.flatMap((input) => {
    const [batch, positions] = input.attentionMask.dims;
    return Array.from({ length: batch }, (_, row) => ({ input, batch, positions, row }));
  });
  const slices = <T extends RowData>(data: (input: PrefillInput, batch: number, positions: number) => T): RowSlice<T>[] =>
    rows.map(({ input, batch, positions, row }) => ({ data: data(input, batch, positions), positions, row, from: 0 }));
  const batch = rows.length;
  // Positions are [3, B, L]: the t, h and w planes are gathered one by one.
  const positionIds = new Int32Array(3 * batch * length);
  for (let plane = 0; plane < 3; plane++) {
    const planeSlices = slices((input, b, l) => input.positions.positionIds.subarray(plane * b * l, (plane + 1) * b * l));
    positionIds.set(gatherRows(planeSlices, 1, 1, length), plane * batch * length);
  }
  return {
    inputsEmbeds: hostTensor(
      'float32',
      gatherRows(
        slices((input) => input.inputsEmbeds.data),
        1,
        hidden,
        length,
      ),
      [batch, length, hidden],
    ),
    attentionMask: hostTensor(
      'int32',
      gatherRows(
        slices((input) => input.attentionMask.data),
        1,
        1,
        length,
      ),
      [batch, length],
    ),
    positions: { positionIds, ropeDeltas: Int32Array.from(rows, ({ input, positions, row }) => input.positions.ropeDeltas[row] - (length - positions)) },
  };
}
