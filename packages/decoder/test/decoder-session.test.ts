import { describe, expect, it } from 'vitest';
import { float32ToFloat16, hostTensor, isQwenVLError } from '@qwen-vl/core';
import type { DeviceTensor, HostTensor, InferenceSessionHandle, SessionTensor, TextConfig } from '@qwen-vl/core';
import { DecoderSession, decoderDeviceOutputs } from '../src/index.js';

/** DecoderSession's bookkeeping (cache, mask, decode positions), against recording fake sessions. */

const text: TextConfig = {
  hiddenSize: 2,
  intermediateSize: 4,
  numHiddenLayers: 2,
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

const PAST = ['past_key_values.0.key', 'past_key_values.0.value', 'past_key_values.1.key', 'past_key_values.1.value'];
const PRESENT = ['present.0.key', 'present.0.value', 'present.1.key', 'present.1.value'];

/** Records feeds; answers with inputs_embeds = token id in every feature. */
function fakeEmbed(): InferenceSessionHandle & { feeds: Record<string, HostTensor>[] } {
  const feeds: Record<string, HostTensor>[] = [];
  return {
    feeds,
    inputNames: ['input_ids'],
    outputNames: ['inputs_embeds'],
    async run(feed) {
      feeds.push({ ...feed });
      const ids = feed.input_ids;
      const data = Float32Array.from({ length: ids.data.length * 2 }, (_, i) => Number(ids.data[Math.floor(i / 2)]));
      return { inputs_embeds: hostTensor('float32', data, [...ids.dims, 2]) };
    },
    dispose: async () => undefined,
  };
}

/** Records feeds; answers with logits = run index and fresh present tensors of the total length. */
function fakeDecoder(): InferenceSessionHandle & { feeds: Record<string, HostTensor>[]; outputs: Record<string, HostTensor>[] } {
  const feeds: Record<string, HostTensor>[] = [];
  const outputs: Record<string, HostTensor>[] = [];
  return {
    feeds,
    outputs,
    inputNames: ['inputs_embeds', 'attention_mask', 'rotary_cos', 'rotary_sin', ...PAST, 'num_logits_to_keep'],
    outputNames: ['logits', ...PRESENT],
    async run(feed) {
      feeds.push({ ...feed });
      const [batch, total] = feed.attention_mask.dims;
      const out: Record<string, HostTensor> = { logits: hostTensor('float32', new Float32Array(batch * 3).fill(feeds.length), [batch, 1, 3]) };
      for (const name of PRESENT) out[name] = hostTensor('float32', new Float32Array(batch * total * 4), [batch, 1, total, 4]);
      outputs.push(out);
      return out;
    },
    dispose: async () => undefined,
  };
}

const numbers = (t: HostTensor) => Array.from(t.data as ArrayLike<number | bigint>, Number);

/**
 * The rotary tables `text` gives one token per row at `positions` (the same in t, h and w):
 * head dim 4, so frequencies 1 and 1e6^(-1/2) = 1e-3, each used in both halves of the head.
 */
function decodeTables(positions: readonly number[]): { cos: number[]; sin: number[] } {
  const angles = positions.flatMap((p) => [p, p * 1e-3, p, p * 1e-3]);
  return { cos: angles.map(Math.cos), sin: angles.map(Math.sin) };
}

function expectTables(feeds: Record<string, HostTensor>, positions: readonly number[]): void {
  const expected = decodeTables(positions);
  expect(feeds.rotary_cos.dims).toEqual([positions.length, 1, 4]);
  numbers(feeds.rotary_cos).forEach((value, i) => expect(value).toBeCloseTo(expected.cos[i], 6));
  numbers(feeds.rotary_sin).forEach((value, i) => expect(value).toBeCloseTo(expected.sin[i], 6));
}

/** Two rows of 3 positions, the first left-padded by one; deltas -1 and 2. */
function prefillInput() {
  return {
    inputsEmbeds: hostTensor('float32', new Float32Array(2 * 3 * 2), [2, 3, 2]),
    attentionMask: hostTensor('int32', Int32Array.of(0, 1, 1, 1, 1, 1), [2, 3]),
    positions: { positionIds: Int32Array.from({ length: 18 }, (_, i) => i % 3), ropeDeltas: Int32Array.of(-1, 2) },
  };
}

describe('DecoderSession', () => {
  it('prefills with an empty cache, then feeds each step the previous present, the grown mask and the rotary tables of past + delta', async () => {
    const embed = fakeEmbed();
    const decoder = fakeDecoder();
    const session = new DecoderSession(embed, decoder, text);

    const first = await session.prefill(prefillInput());
    expect(first.dims).toEqual([2, 3]);
    const prefill = decoder.feeds[0];
    for (const name of PAST) expect(prefill[name].dims).toEqual([2, 1, 0, 4]);
    expect(numbers(prefill.attention_mask)).toEqual([0, 1, 1, 1, 1, 1]);
    expect(prefill.rotary_cos.dims).toEqual([2, 3, 4]);
    expect(prefill.rotary_sin.dims).toEqual([2, 3, 4]);
    expect(prefill.num_logits_to_keep).toMatchObject({ type: 'int64', dims: [] });
    expect(numbers(prefill.num_logits_to_keep)).toEqual([1]);
    expect(session.pastLength).toBe(3);

    const second = await session.step([5, 6]);
    expect(numbers(second)).toEqual([2, 2, 2, 2, 2, 2]);
    expect(numbers(embed.feeds[0].input_ids)).toEqual([5, 6]);
    expect(embed.feeds[0].input_ids.dims).toEqual([2, 1]);
    const step = decoder.feeds[1];
    expect(numbers(step.inputs_embeds)).toEqual([5, 5, 6, 6]);
    expect(numbers(step.attention_mask)).toEqual([0, 1, 1, 1, 1, 1, 1, 1]);
    expect(step.attention_mask.dims).toEqual([2, 4]);
    // Cache position 3 plus the row's delta, in all three rows: 2 and 5.
    expectTables(step, [2, 5]);
    PAST.forEach((name, k) => expect(step[name]).toBe(decoder.outputs[0][PRESENT[k]]));

    await session.step([7, 8]);
    expectTables(decoder.feeds[2], [3, 6]);
    expect(decoder.feeds[2].attention_mask.dims).toEqual([2, 5]);
    PAST.forEach((name, k) => expect(decoder.feeds[2][name]).toBe(decoder.outputs[1][PRESENT[k]]));
    expect(session.pastLength).toBe(5);

    // A new prefill starts over with an empty cache.
    await session.prefill(prefillInput());
    expect(decoder.feeds[3][PAST[0]].dims).toEqual([2, 1, 0, 4]);
    expect(session.pastLength).toBe(3);
  });

  it('prefills a prompt longer than prefillChunkTokens in chunks, each over the cache of the ones before', async () => {
    const decoder = fakeDecoder();
    const session = new DecoderSession(fakeEmbed(), decoder, text, { prefillChunkTokens: 2 });
    const input = prefillInput();
    const embeds = Float32Array.from({ length: 12 }, (_, i) => i);
    const logits = await session.prefill({ ...input, inputsEmbeds: hostTensor('float32', embeds, [2, 3, 2]) });
    expect(decoder.feeds).toHaveLength(2);
    const [first, second] = decoder.feeds;
    // Row b, token s holds features 6b + 2s and 6b + 2s + 1.
    expect(numbers(first.inputs_embeds)).toEqual([0, 1, 2, 3, 6, 7, 8, 9]);
    expect(numbers(second.inputs_embeds)).toEqual([4, 5, 10, 11]);
    expect(numbers(first.attention_mask)).toEqual([0, 1, 1, 1]);
    expect(numbers(second.attention_mask)).toEqual([0, 1, 1, 1, 1, 1]);
    for (const name of PAST) expect(first[name].dims).toEqual([2, 1, 0, 4]);
    PAST.forEach((name, k) => expect(second[name]).toBe(decoder.outputs[0][PRESENT[k]]));
    // Positions 0 1 | 2 in every row: the second run's tables are those of position 2.
    expect(first.rotary_cos.dims).toEqual([2, 2, 4]);
    expectTables(second, [2, 2]);
    expect(numbers(logits)).toEqual([2, 2, 2, 2, 2, 2]);
    expect(session.pastLength).toBe(3);
  });

  it('drops a half-prefilled sequence when a chunk fails, and refuses a chunk size below 1', async () => {
    const decoder = fakeDecoder();
    const session = new DecoderSession(fakeEmbed(), { ...decoder, run: (feeds) => (decoder.feeds.length === 1 ? Promise.reject(new Error('out of memory')) : decoder.run(feeds)) }, text, {
      prefillChunkTokens: 2,
    });
    await expect(session.prefill(prefillInput())).rejects.toThrow('out of memory');
    expect(session.pastLength).toBe(0);
    await expect(session.step([1, 2])).rejects.toThrow('needs a prefill() first');
    expect(() => new DecoderSession(fakeEmbed(), fakeDecoder(), text, { prefillChunkTokens: 0 })).toThrow('DecoderSession prefillChunkTokens: must be a positive integer, got 0');
  });

  it('extends a sequence with more prompt tokens over its cache, then decodes with the new rope deltas', async () => {
    const decoder = fakeDecoder();
    const session = new DecoderSession(fakeEmbed(), decoder, text);
    await expect(session.extend(prefillInput())).rejects.toThrow('DecoderSession.extend: needs a prefill() first');
    await session.prefill(prefillInput());
    const more = {
      inputsEmbeds: hostTensor('float32', new Float32Array(2 * 2 * 2), [2, 2, 2]),
      attentionMask: hostTensor('int32', Int32Array.of(1, 1, 1, 1), [2, 2]),
      // Positions 7 and 8 in every axis and row; deltas 10 and 20 from now on.
      positions: { positionIds: Int32Array.from({ length: 12 }, (_, i) => 7 + (i % 2)), ropeDeltas: Int32Array.of(10, 20) },
    };
    await session.extend(more);
    const extension = decoder.feeds[1];
    expect(numbers(extension.attention_mask)).toEqual([0, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
    PAST.forEach((name, k) => expect(extension[name]).toBe(decoder.outputs[0][PRESENT[k]]));
    expect(extension.rotary_cos.dims).toEqual([2, 2, 4]);
    expect(numbers(extension.rotary_cos)[4]).toBeCloseTo(Math.cos(8), 6);
    expect(session.pastLength).toBe(5);
    await session.step([1, 1]);
    // Cache position 5 plus the new deltas.
    expectTables(decoder.feeds[2], [15, 25]);
    const oneRow = {
      inputsEmbeds: hostTensor('float32', new Float32Array(4), [1, 2, 2]),
      attentionMask: hostTensor('int32', Int32Array.of(1, 1), [1, 2]),
      positions: { positionIds: new Int32Array(6), ropeDeltas: [0] },
    };
    await expect(session.extend(oneRow)).rejects.toThrow('DecoderSession.extend inputsEmbeds: has 1 rows, the cached sequence 2');
  });

  it('truncates the cache to its first positions and goes on from there with the new deltas', async () => {
    const decoder = fakeDecoder();
    const session = new DecoderSession(fakeEmbed(), decoder, text);
    await session.prefill(prefillInput());
    await session.step([1, 2]);
    await session.step([1, 2]);
    expect(session.pastLength).toBe(5);
    await session.truncate(4, [0, 1]);
    expect(session.pastLength).toBe(4);
    await session.step([1, 2]);
    const step = decoder.feeds[3];
    for (const name of PAST) expect(step[name].dims).toEqual([2, 1, 4, 4]);
    expect(numbers(step.attention_mask)).toEqual([0, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
    // Cache position 4 plus the new deltas.
    expectTables(step, [4, 5]);
    // Truncating to the whole cache only changes the deltas; to 0 ends the sequence.
    await session.truncate(5, [2, 2]);
    await session.step([1, 2]);
    expectTables(decoder.feeds[4], [7, 7]);
    await session.truncate(0, [0, 0]);
    expect(session.pastLength).toBe(0);
  });

  it('rejects a truncation before prefill, beyond the cache or with the wrong number of deltas', async () => {
    const session = new DecoderSession(fakeEmbed(), fakeDecoder(), text);
    await expect(session.truncate(1, [0, 0])).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', source: 'DecoderSession.truncate' });
    await session.prefill(prefillInput());
    await expect(session.truncate(4, [0, 0])).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', source: 'DecoderSession.truncate length' });
    await expect(session.truncate(2, [0])).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', source: 'DecoderSession.truncate ropeDeltas' });
    expect(session.pastLength).toBe(3);
  });

  it('counts only real tokens against max_position_embeddings, for the prompt and for each step', async () => {
    const session = new DecoderSession(fakeEmbed(), fakeDecoder(), { ...text, maxPositionEmbeddings: 3 });
    // Row 0 has 2 tokens and one pad, row 1 has 3: the prompt fits exactly, the next token does not.
    await session.prefill(prefillInput());
    const error = await session.step([1, 1]).catch((e: unknown) => e);
    expect(isQwenVLError(error, 'PROMPT_TOO_LONG')).toBe(true);
    expect((error as Error).message).toBe("DecoderSession.step: the prompt with the generated tokens reaches 4 tokens, more than the model's max_position_embeddings (3, config.json)");

    const short = new DecoderSession(fakeEmbed(), fakeDecoder(), { ...text, maxPositionEmbeddings: 2 });
    const tooLong = await short.prefill(prefillInput()).catch((e: unknown) => e);
    expect(isQwenVLError(tooLong, 'PROMPT_TOO_LONG')).toBe(true);
    expect((tooLong as Error).message).toContain('the prompt reaches 3 tokens');
  });

  it('rejects a step before prefill, a wrong number of tokens, right padding and mismatched shapes', async () => {
    const session = new DecoderSession(fakeEmbed(), fakeDecoder(), text);
    await expect(session.step([1, 2])).rejects.toThrow('DecoderSession.step: needs a prefill() first');
    await session.prefill(prefillInput());
    await expect(session.step([1])).rejects.toThrow('has 1 token ids for a batch of 2');

    const rightPadded = { ...prefillInput(), attentionMask: hostTensor('int32', Int32Array.of(1, 1, 0, 1, 1, 1), [2, 3]) };
    await expect(session.prefill(rightPadded)).rejects.toThrow('row 0 ends in padding');
    const wrongWidth = { ...prefillInput(), inputsEmbeds: hostTensor('float32', new Float32Array(18), [2, 3, 3]) };
    await expect(session.prefill(wrongWidth)).rejects.toThrow('prefill inputsEmbeds: must be [B, S, 2]');
    const fewDeltas = { ...prefillInput(), positions: { positionIds: new Int32Array(18), ropeDeltas: [0] } };
    await expect(session.prefill(fewDeltas)).rejects.toThrow('has 1 entries for a batch of 2');
  });

  it('refuses a negative token id, which the embedding Gather would read from the end of the table', async () => {
    const session = new DecoderSession(fakeEmbed(), fakeDecoder(), text);
    await expect(session.embed(hostTensor('int32', Int32Array.of(1, -1), [1, 2]))).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: 'DecoderSession.embed inputIds: entry 1 is -1; token ids are ≥ 0',
    });
  });

  it('refuses a decoder model without the expected inputs and outputs', () => {
    const decoder = { ...fakeDecoder(), inputNames: ['inputs_embeds', 'attention_mask', 'rotary_cos', 'rotary_sin'] };
    expect(() => new DecoderSession(fakeEmbed(), decoder, text)).toThrow(/^decoder model: lacks input past_key_values\.0\.key/);
    const positionless = { ...fakeDecoder(), inputNames: ['inputs_embeds', 'attention_mask', ...PAST] };
    expect(() => new DecoderSession(fakeEmbed(), positionless, text)).toThrow(
      /^decoder model: takes neither rotary_cos and rotary_sin nor position_ids \(it has inputs inputs_embeds, attention_mask, past_key_values/,
    );
  });

  it("widens an fp16 export's float16 embeddings and logits to float32", async () => {
    const embed = fakeEmbed();
    const decoder = fakeDecoder();
    const half = (tensor: HostTensor) => ({ type: 'float16' as const, dims: tensor.dims, data: float32ToFloat16(tensor.data as Float32Array) });
    const halfEmbed: InferenceSessionHandle = { ...embed, run: async (feed) => ({ inputs_embeds: half((await embed.run(feed)).inputs_embeds) }) };
    const halfDecoder: InferenceSessionHandle = { ...decoder, run: async (feed) => ({ ...(await decoder.run(feed)), logits: half(decoder.outputs.at(-1)!.logits) }) };
    const session = new DecoderSession(halfEmbed, halfDecoder, text);
    const embeds = await session.embed(hostTensor('int32', Int32Array.of(5, 6), [1, 2]));
    expect(embeds).toMatchObject({ type: 'float32', dims: [1, 2, 2] });
    expect(numbers(embeds)).toEqual([5, 5, 6, 6]);
    const logits = await session.prefill(prefillInput());
    expect(logits.type).toBe('float32');
    expect(numbers(logits)).toEqual([1, 1, 1, 1, 1, 1]);
  });

  it("feeds a decoder of the other runtimes' contract (position_ids, no num_logits_to_keep) the positions themselves and keeps each row's last logits", async () => {
    const decoder = fakeDecoder();
    const allLogits: InferenceSessionHandle = {
      ...decoder,
      inputNames: ['inputs_embeds', 'attention_mask', 'position_ids', ...PAST],
      // Every new position's logits: position p of row b holds 10·b + p.
      async run(feed) {
        const out = await decoder.run(feed);
        const [batch, length] = feed.inputs_embeds.dims;
        return {
          ...out,
          logits: hostTensor(
            'float32',
            Float32Array.from({ length: batch * length * 3 }, (_, i) => 10 * Math.floor(i / (length * 3)) + (Math.floor(i / 3) % length)),
            [batch, length, 3],
          ),
        };
      },
    };
    const session = new DecoderSession(fakeEmbed(), allLogits, text);
    const logits = await session.prefill(prefillInput());
    expect(numbers(logits)).toEqual([2, 2, 2, 12, 12, 12]);
    const prefill = decoder.feeds[0];
    expect(prefill.position_ids).toMatchObject({ type: 'int64', dims: [3, 2, 3] });
    expect(numbers(prefill.position_ids)).toEqual(Array.from({ length: 18 }, (_, i) => i % 3));
    expect(Object.keys(prefill)).not.toContain('rotary_cos');
    expect(Object.keys(prefill)).not.toContain('num_logits_to_keep');

    expect(numbers(await session.step([5, 6]))).toEqual([0, 0, 0, 10, 10, 10]);
    // Cache position 3 plus the row's delta (-1, 2), in all three rows.
    expect(numbers(decoder.feeds[1].position_ids)).toEqual([2, 5, 2, 5, 2, 5]);
  });
});

/** A fake device tensor that remembers whether it was disposed. */
interface FakeDeviceTensor extends DeviceTensor {
  disposed: boolean;
}

/** Like fakeDecoder, but with device tensors: presents come back as FakeDeviceTensors when asked to keep them. */
function fakeDeviceDecoder() {
  const calls: { feeds: Readonly<Record<string, SessionTensor>>; keepOnDevice: readonly string[] }[] = [];
  const presents: Record<string, FakeDeviceTensor>[] = [];
  let failNext = false;
  const session: InferenceSessionHandle = {
    inputNames: ['inputs_embeds', 'attention_mask', 'rotary_cos', 'rotary_sin', ...PAST, 'num_logits_to_keep'],
    outputNames: ['logits', ...PRESENT],
    run: async () => {
      throw new Error('the device path should be used');
    },
    async runWithDeviceTensors(feeds, _fetches, options) {
      calls.push({ feeds, keepOnDevice: options.keepOnDevice });
      if (failNext) throw new Error('run failed');
      const batch = (feeds.attention_mask as HostTensor).dims[0];
      const out: Record<string, FakeDeviceTensor> = {};
      for (const name of PRESENT) {
        const tensor: FakeDeviceTensor = { kind: 'device', type: 'float32', dims: [batch, 1, 0, 4], disposed: false, dispose: () => (tensor.disposed = true) };
        out[name] = tensor;
      }
      presents.push(out);
      return { logits: hostTensor('float32', new Float32Array(batch * 3), [batch, 1, 3]), ...out };
    },
    dispose: async () => undefined,
  };
  return { session, calls, presents, failNext: () => (failNext = true) };
}

describe('DecoderSession with device tensors', () => {
  const disposedFlags = (tensors: Record<string, FakeDeviceTensor>) => PRESENT.map((name) => tensors[name].disposed);

  it('keeps the presents on the device, feeds them back and disposes each cache once replaced', async () => {
    const decoder = fakeDeviceDecoder();
    const session = new DecoderSession(fakeEmbed(), decoder.session, text);
    await session.prefill(prefillInput());
    expect(decoder.calls[0].keepOnDevice).toEqual(PRESENT);

    await session.step([1, 2]);
    PAST.forEach((name, k) => expect(decoder.calls[1].feeds[name]).toBe(decoder.presents[0][PRESENT[k]]));
    expect(disposedFlags(decoder.presents[0])).toEqual([true, true, true, true]);
    expect(disposedFlags(decoder.presents[1])).toEqual([false, false, false, false]);

    // A new prefill drops the sequence's cache; disposing the session drops the last one.
    await session.prefill(prefillInput());
    expect(disposedFlags(decoder.presents[1])).toEqual([true, true, true, true]);
    await session.dispose();
    expect(disposedFlags(decoder.presents[2])).toEqual([true, true, true, true]);
  });

  it('keeps the cache of a failed step, so the sequence can go on', async () => {
    const decoder = fakeDeviceDecoder();
    const session = new DecoderSession(fakeEmbed(), decoder.session, text);
    await session.prefill(prefillInput());
    decoder.failNext();
    await expect(session.step([1, 2])).rejects.toThrow('run failed');
    expect(disposedFlags(decoder.presents[0])).toEqual([false, false, false, false]);
    expect(session.pastLength).toBe(3);
  });

  it('truncates a device cache by reading it back (download), disposing the device tensors; without download it refuses and keeps the cache', async () => {
    const decoder = fakeDeviceDecoder();
    const session = new DecoderSession(fakeEmbed(), decoder.session, text);
    await session.prefill(prefillInput());
    await expect(session.truncate(2, [0, 0])).rejects.toMatchObject({ code: 'BACKEND_UNAVAILABLE' });
    expect(disposedFlags(decoder.presents[0])).toEqual([false, false, false, false]);
    expect(session.pastLength).toBe(3);

    for (const name of PRESENT) {
      decoder.presents[0][name].download = async () =>
        hostTensor(
          'float32',
          Float32Array.from({ length: 2 * 3 * 4 }, (_, i) => i),
          [2, 1, 3, 4],
        );
    }
    await session.truncate(2, [0, 0]);
    expect(disposedFlags(decoder.presents[0])).toEqual([true, true, true, true]);
    await session.step([1, 2]);
    const fed = decoder.calls[1].feeds[PAST[0]] as HostTensor;
    expect(fed.dims).toEqual([2, 1, 2, 4]);
    expect(numbers(fed)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 12, 13, 14, 15, 16, 17, 18, 19]);
  });

  it("keeps each createSequence sequence its own cache, apart from the session's own, and frees them all on dispose", async () => {
    const decoder = fakeDeviceDecoder();
    const session = new DecoderSession(fakeEmbed(), decoder.session, text);
    const [a, b] = [session.createSequence(), session.createSequence()];
    await session.prefill(prefillInput()); // presents[0]: the session's own sequence
    await session.withSequence(a, () => session.prefill(prefillInput())); // presents[1]
    await session.withSequence(b, async () => {
      expect(session.pastLength).toBe(0);
      await session.prefill({ ...prefillInput(), attentionMask: hostTensor('int32', Int32Array.of(1, 1, 1, 1, 1, 1), [2, 3]) }); // presents[2]
    });
    await session.withSequence(a, () => session.step([1, 2])); // presents[3], over a's cache
    PAST.forEach((name, k) => expect(decoder.calls[3].feeds[name]).toBe(decoder.presents[1][PRESENT[k]]));
    expect(numbers(decoder.calls[3].feeds.attention_mask as HostTensor)).toEqual([0, 1, 1, 1, 1, 1, 1, 1]);
    await session.withSequence(b, () => session.step([3, 4])); // presents[4], over b's cache
    PAST.forEach((name, k) => expect(decoder.calls[4].feeds[name]).toBe(decoder.presents[2][PRESENT[k]]));
    expect(numbers(decoder.calls[4].feeds.attention_mask as HostTensor)).toEqual([1, 1, 1, 1, 1, 1, 1, 1]);
    await session.step([5, 6]); // the session's own sequence goes on over presents[0]
    PAST.forEach((name, k) => expect(decoder.calls[5].feeds[name]).toBe(decoder.presents[0][PRESENT[k]]));
    expect([session.pastLength, a.pastLength, b.pastLength, a.batch]).toEqual([4, 4, 4, 2]);

    // Disposing one sequence frees its cache only; it is refused afterwards.
    b.dispose();
    expect(disposedFlags(decoder.presents[4])).toEqual([true, true, true, true]);
    expect(disposedFlags(decoder.presents[3])).toEqual([false, false, false, false]);
    await expect(session.withSequence(b, async () => undefined)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', source: 'DecoderSession.withSequence sequence' });
    const other = new DecoderSession(fakeEmbed(), fakeDeviceDecoder().session, text);
    await expect(other.withSequence(a, async () => undefined)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('createSequence') });
    await session.dispose();
    expect(disposedFlags(decoder.presents[3])).toEqual([true, true, true, true]);
    expect(disposedFlags(decoder.presents[5])).toEqual([true, true, true, true]);
    expect(a.pastLength).toBe(0);
  });

  it('runs withSequence work one at a time, in call order, a failed one rejecting only its own call', async () => {
    const session = new DecoderSession(fakeEmbed(), fakeDeviceDecoder().session, text);
    const [a, b] = [session.createSequence(), session.createSequence()];
    const log: string[] = [];
    const work =
      (name: string, fail = false) =>
      async () => {
        log.push(`${name} start`);
        await new Promise((resolve) => setTimeout(resolve, 5));
        log.push(`${name} end`);
        if (fail) throw new Error(`${name} failed`);
        return name;
      };
    const results = await Promise.allSettled([session.withSequence(a, work('a1')), session.withSequence(b, work('b1', true)), session.withSequence(a, work('a2'))]);
    expect(log).toEqual(['a1 start', 'a1 end', 'b1 start', 'b1 end', 'a2 start', 'a2 end']);
    expect(results.map((result) => (result.status === 'fulfilled' ? result.value : (result.reason as Error).message))).toEqual(['a1', 'b1 failed', 'a2']);
  });

  it('names the presents as the outputs to keep on the device', () => {
    expect(decoderDeviceOutputs(text)).toEqual(PRESENT);
  });
});
