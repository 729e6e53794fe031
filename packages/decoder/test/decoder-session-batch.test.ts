import { describe, expect, it } from 'vitest';
import { hostTensor, isQwenVLError } from '@qwen-vl/core';
import type { HostTensor, InferenceSessionHandle, TextConfig } from '@qwen-vl/core';
import { mropeCosSin } from '@qwen-vl/mrope';
import { DecoderSession, stackPrefillInputs } from '../src/index.js';
import type { PrefillInput } from '../src/index.js';

/**
 * DecoderSession's continuous batching (join, leave), against fake sessions whose cache
 * records, at every position of every row, the token id that was fed there, so that where
 * each row's cache ends up after a merge or a cut can be read off.
 */

const text: TextConfig = {
  hiddenSize: 2,
  intermediateSize: 4,
  numHiddenLayers: 1,
  numAttentionHeads: 2,
  numKeyValueHeads: 1,
  headDim: 4,
  rmsNormEps: 1e-6,
  ropeTheta: 1e6,
  mropeSection: [1, 0, 1],
  vocabSize: 3,
  maxPositionEmbeddings: 100,
  tieWordEmbeddings: false,
};

const numbers = (t: HostTensor) => Array.from(t.data as ArrayLike<number | bigint>, Number);

/** inputs_embeds = the token id in every feature. */
const embed: InferenceSessionHandle = {
  inputNames: ['input_ids'],
  outputNames: ['inputs_embeds'],
  async run(feed) {
    const ids = feed.input_ids;
    return {
      inputs_embeds: hostTensor(
        'float32',
        Float32Array.from({ length: ids.data.length * 2 }, (_, i) => Number(ids.data[Math.floor(i / 2)])),
        [...ids.dims, 2],
      ),
    };
  },
  dispose: async () => undefined,
};

/** The present cache is the past one with, per new position, the fed embedding's first feature (its token id) in all 4 values; it can be told to fail. */
function recordingDecoder() {
  const feeds: Record<string, HostTensor>[] = [];
  const control = { fail: false };
  const session: InferenceSessionHandle = {
    inputNames: ['inputs_embeds', 'attention_mask', 'rotary_cos', 'rotary_sin', 'num_logits_to_keep', 'past_key_values.0.key', 'past_key_values.0.value'],
    outputNames: ['logits', 'present.0.key', 'present.0.value'],
    async run(feed) {
      if (control.fail) throw new Error('the run failed');
      feeds.push({ ...feed });
      const [batch, length] = feed.inputs_embeds.dims;
      const past = feed['past_key_values.0.key'];
      const pastLength = past.dims[2];
      const total = pastLength + length;
      const cache = new Float32Array(batch * total * 4);
      for (let b = 0; b < batch; b++) {
        cache.set((past.data as Float32Array).subarray(b * pastLength * 4, (b + 1) * pastLength * 4), b * total * 4);
        for (let s = 0; s < length; s++) cache.fill((feed.inputs_embeds.data as Float32Array)[(b * length + s) * 2], (b * total + pastLength + s) * 4, (b * total + pastLength + s + 1) * 4);
      }
      const present = hostTensor('float32', cache, [batch, 1, total, 4]);
      // Logits: the row's last fed id, then its index in the batch.
      const logits = Float32Array.from({ length: batch * 3 }, (_, i) => (i % 3 === 0 ? (feed.inputs_embeds.data as Float32Array)[(Math.floor(i / 3) * length + length - 1) * 2] : Math.floor(i / 3)));
      return { logits: hostTensor('float32', logits, [batch, 1, 3]), 'present.0.key': present, 'present.0.value': present };
    },
    dispose: async () => undefined,
  };
  return { session, feeds, control };
}

/** One prompt row of `ids` (embeddings = ids), text positions 0.. plus `shift` in all three planes, rope delta `delta`. */
function row(ids: number[], delta = 0, shift = 0): PrefillInput {
  const length = ids.length;
  return {
    inputsEmbeds: hostTensor('float32', Float32Array.from(ids.flatMap((id) => [id, id])), [1, length, 2]),
    attentionMask: hostTensor('int32', new Int32Array(length).fill(1), [1, length]),
    positions: { positionIds: Int32Array.from({ length: 3 * length }, (_, i) => (i % length) + shift), ropeDeltas: Int32Array.of(delta) },
  };
}

/** Each row's cache, one token id per position (0 on padding), read from a fed past tensor. */
function cacheRows(feed: Record<string, HostTensor>): number[][] {
  const past = feed['past_key_values.0.key'];
  const [batch, , length] = past.dims;
  return Array.from({ length: batch }, (_, b) => Array.from({ length }, (_, p) => (past.data as Float32Array)[(b * length + p) * 4]));
}

function maskRows(feed: Record<string, HostTensor>): number[][] {
  const [batch, length] = feed.attention_mask.dims;
  const mask = numbers(feed.attention_mask);
  return Array.from({ length: batch }, (_, b) => mask.slice(b * length, (b + 1) * length));
}

/** The rotary cos a step feeds for one token per row at `positions`. */
function stepCos(positions: number[]): number[] {
  return Array.from(mropeCosSin(Int32Array.from([...positions, ...positions, ...positions]), positions.length, 1, text).cos);
}

describe('DecoderSession: continuous batching', () => {
  it('joins rows prefilled on their own, right-aligned, each decoding at its own position; leaving rows cuts the columns all others pad', async () => {
    const { session: decoder, feeds } = recordingDecoder();
    const session = new DecoderSession(embed, decoder, text);
    await session.join(row([5, 6, 7], 10));
    const joined = await session.join(row([8, 9], 20));
    // The joining row ran alone, from an empty cache; the logits are its own.
    expect(feeds[1].inputs_embeds.dims).toEqual([1, 2, 2]);
    expect(feeds[1]['past_key_values.0.key'].dims).toEqual([1, 1, 0, 4]);
    expect(numbers(joined)).toEqual([9, 0, 0]);
    expect(session.batch).toBe(2);
    expect(session.pastLength).toBe(3);

    await session.step([1, 2]);
    expect(cacheRows(feeds[2])).toEqual([
      [5, 6, 7],
      [0, 8, 9],
    ]);
    expect(maskRows(feeds[2])).toEqual([
      [1, 1, 1, 1],
      [0, 1, 1, 1],
    ]);
    // Each row's token sits where it would alone: 3 + 10, and 2 + 20.
    expect(numbers(feeds[2].rotary_cos)).toEqual(stepCos([13, 22]).map((value) => expect.closeTo(value, 6)));

    // A longer row: the batch's rows move right by one column.
    await session.join(row([1, 2, 3, 4, 5], 30));
    await session.step([3, 4, 6]);
    expect(cacheRows(feeds[4])).toEqual([
      [0, 5, 6, 7, 1],
      [0, 0, 8, 9, 2],
      [1, 2, 3, 4, 5],
    ]);
    expect(numbers(feeds[4].rotary_cos)).toEqual(stepCos([14, 23, 35]).map((value) => expect.closeTo(value, 6)));

    // The longest row leaves: the column the other two both pad goes.
    await session.leave([2]);
    expect(session.pastLength).toBe(5);
    await session.step([11, 12]);
    expect(cacheRows(feeds[5])).toEqual([
      [5, 6, 7, 1, 3],
      [0, 8, 9, 2, 4],
    ]);
    expect(numbers(feeds[5].rotary_cos)).toEqual(stepCos([15, 24]).map((value) => expect.closeTo(value, 6)));

    await session.leave([0]);
    await session.step([13]);
    expect(cacheRows(feeds[6])).toEqual([[8, 9, 2, 4, 12]]);
    expect(maskRows(feeds[6])).toEqual([[1, 1, 1, 1, 1, 1]]);
    expect(numbers(feeds[6].rotary_cos)).toEqual(stepCos([25]).map((value) => expect.closeTo(value, 6)));

    await session.leave([0]);
    expect(session.batch).toBe(0);
    expect(session.pastLength).toBe(0);
  });

  it('leaves the batch as it was when a joining prefill fails, and refuses rows it does not have', async () => {
    const { session: decoder, feeds, control } = recordingDecoder();
    const session = new DecoderSession(embed, decoder, text);
    await session.join(row([5, 6], 1));
    control.fail = true;
    await expect(session.join(row([7, 8, 9]))).rejects.toThrow('the run failed');
    control.fail = false;
    expect(session.batch).toBe(1);
    await session.step([3]);
    expect(cacheRows(feeds.at(-1)!)).toEqual([[5, 6]]);
    for (const rows of [[1], [-1], [0, 0], [0.5]]) {
      const error = await session.leave(rows).catch((e: unknown) => e);
      expect(isQwenVLError(error, 'INVALID_ARGUMENT')).toBe(true);
      expect((error as Error).message).toContain('DecoderSession.leave rows: must be distinct row indices from 0 to 0');
    }
    expect(session.batch).toBe(1);
  });
});

describe('stackPrefillInputs', () => {
  it('right-aligns several prompts into one batch: masks, zero embeddings and positions on the padding, deltas shifted by it', () => {
    const stacked = stackPrefillInputs([row([5, 6, 7], 10, 100), row([8], 20, 200)]);
    expect(stacked.attentionMask.dims).toEqual([2, 3]);
    expect(numbers(stacked.attentionMask)).toEqual([1, 1, 1, 0, 0, 1]);
    expect(stacked.inputsEmbeds.dims).toEqual([2, 3, 2]);
    expect(numbers(stacked.inputsEmbeds)).toEqual([5, 5, 6, 6, 7, 7, 0, 0, 0, 0, 8, 8]);
    // [3, B, L]: each plane holds both rows.
    expect(Array.from(stacked.positions.positionIds)).toEqual([100, 101, 102, 0, 0, 200, 100, 101, 102, 0, 0, 200, 100, 101, 102, 0, 0, 200]);
    expect(Array.from(stacked.positions.ropeDeltas)).toEqual([10, 18]);
  });
});
