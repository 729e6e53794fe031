import { describe, expect, it } from 'vitest';
import { hostTensor, isQwenVLError } from '@qwen-vl/core';
import type { HostTensor } from '@qwen-vl/core';
import { Generator, Xoshiro128 } from '../src/index.js';
import { EOS, VOCAB, peaked, searchOptions } from './scripted-generation.js';
import type { GenerationResult, GenerationSession, GenerationStreamEvent, PrefillInput, PreparedPrompt } from '../src/index.js';

/** The generation loop's bookkeeping against a scripted decoder session. */

const PAD = 6;

/**
 * A decoder session whose logits come from `script(step, row)` (step 0 = prefill). It records
 * the prefill input and the ids each step feeds, and advances `clock` by 100 ms per prefill
 * and 10 ms per step, so timings can be checked exactly.
 */
function scriptedSession(script: (step: number, row: number) => number[], clock?: { t: number }) {
  const fed: number[][] = [];
  const prefills: PrefillInput[] = [];
  const extensions: PrefillInput[] = [];
  let batch = 0;
  const logits = (step: number): HostTensor<'float32'> => hostTensor('float32', Float32Array.from(Array.from({ length: batch }, (_, row) => script(step, row)).flat()), [batch, VOCAB]);
  const session: GenerationSession = {
    async prefill(input) {
      prefills.push(input);
      batch = input.attentionMask.dims[0];
      fed.length = 0;
      if (clock) clock.t += 100;
      return logits(0);
    },
    async extend(input) {
      extensions.push(input);
      batch = input.attentionMask.dims[0];
      fed.length = 0;
      return logits(0);
    },
    async step(tokenIds) {
      fed.push(Array.from(tokenIds));
      if (clock) clock.t += 10;
      return logits(fed.length);
    },
  };
  return { session, fed, prefills, extensions };
}

/** `rows` of prompt ids, left-padded with PAD into one batch; embeddings and positions are placeholders the fake ignores. */
function prompt(rows: number[][]): PreparedPrompt {
  const length = Math.max(...rows.map((row) => row.length));
  const ids = new Int32Array(rows.length * length).fill(PAD);
  const mask = new Int32Array(rows.length * length);
  rows.forEach((row, b) => {
    ids.set(row, (b + 1) * length - row.length);
    mask.fill(1, (b + 1) * length - row.length, (b + 1) * length);
  });
  return {
    inputIds: hostTensor('int32', ids, [rows.length, length]),
    inputsEmbeds: hostTensor('float32', new Float32Array(rows.length * length), [rows.length, length, 1]),
    attentionMask: hostTensor('int32', mask, [rows.length, length]),
    positions: { positionIds: new Int32Array(3 * rows.length * length), ropeDeltas: new Int32Array(rows.length) },
  };
}

/** Token id k decodes to the k-th letter. */
const letters = (ids: readonly number[]): string => ids.map((id) => String.fromCharCode(97 + id)).join('');

async function collect(stream: AsyncGenerator<GenerationStreamEvent, GenerationResult>, onEvent?: (event: GenerationStreamEvent) => void) {
  const events: GenerationStreamEvent[] = [];
  for (;;) {
    const next = await stream.next();
    if (next.done === true) return { events, result: next.value };
    events.push(next.value);
    onEvent?.(next.value);
  }
}

describe('Generator', () => {
  it('feeds a finished row the pad token, emits nothing more for it, and stops when every row is done', async () => {
    // Row 0 says 1, 2, EOS; row 1 says 3, 4, 5, 3, ... until maxNewTokens.
    const { session, fed, prefills } = scriptedSession((step, row) => peaked(row === 0 ? [1, 2, EOS][Math.min(step, 2)] : [3, 4, 5][step % 3]));
    const generator = new Generator(session, letters, { padTokenId: PAD });
    const input = prompt([
      [0, 1],
      [2, 3, 4],
    ]);
    const { events, result } = await collect(generator.stream(input, searchOptions({ maxNewTokens: 5 })));

    expect(prefills[0].inputsEmbeds).toBe(input.inputsEmbeds);
    expect(prefills[0].positions).toEqual(input.positions);
    expect(prefills[0].positions.positionIds).toBe(input.positions.positionIds);
    // 5 tokens for row 1: prefill + 4 steps; row 0 feeds its tokens until EOS ends it, then the pad.
    expect(fed).toEqual([
      [1, 3],
      [2, 4],
      [PAD, 5],
      [PAD, 3],
    ]);
    expect(events.map((e) => [e.row, e.tokenId, e.text])).toEqual([
      [0, 1, 'b'],
      [1, 3, 'd'],
      [0, 2, 'c'],
      [1, 4, 'e'],
      [0, EOS, ''],
      [1, 5, 'f'],
      [1, 3, 'd'],
      [1, 4, 'e'],
    ]);
    expect(result.rows.map(({ tokens, text, finishReason, promptTokens, generatedTokens }) => ({ tokens, text, finishReason, promptTokens, generatedTokens }))).toEqual([
      { tokens: [1, 2, EOS], text: 'bc', finishReason: 'eos', promptTokens: 2, generatedTokens: 3 },
      { tokens: [3, 4, 5, 3, 4], text: 'defde', finishReason: 'length', promptTokens: 3, generatedTokens: 5 },
    ]);
  });

  it('extends the cached sequence when the prompt says its first tokens are cached, penalising them all the same', async () => {
    // Token 2 has the best raw logit but sits in the cached part of the prompt: penalty 4 takes it to 0.75 < token 5's 1.
    const { session, prefills, extensions } = scriptedSession(() => [0, 0, 3, 0, 0, 1, 0, 0]);
    const generator = new Generator(session, letters);
    const full = prompt([[2, 3, 6]]);
    // Positions of the whole row (t, h, w rows of 3 tokens); the extension gets column 2 of each.
    const input: PreparedPrompt = {
      ...full,
      positions: { positionIds: Int32Array.of(0, 1, 2, 10, 11, 12, 20, 21, 22), ropeDeltas: [5] },
      cachedTokens: 2,
      inputsEmbeds: hostTensor('float32', new Float32Array(1), [1, 1, 1]),
    };
    const { result } = await collect(generator.stream(input, searchOptions({ maxNewTokens: 1, repetitionPenalty: 4 })));
    expect(prefills).toHaveLength(0);
    expect(extensions).toHaveLength(1);
    expect(extensions[0].inputsEmbeds).toBe(input.inputsEmbeds);
    expect(Array.from(extensions[0].attentionMask.data)).toEqual([1]);
    expect(extensions[0].attentionMask.dims).toEqual([1, 1]);
    expect(Array.from(extensions[0].positions.positionIds)).toEqual([2, 12, 22]);
    expect(extensions[0].positions.ropeDeltas).toEqual([5]);
    expect(result.rows[0]).toMatchObject({ tokens: [5], promptTokens: 3 });
    await expect(collect(generator.stream({ ...input, cachedTokens: 3 }, searchOptions({ maxNewTokens: 1 })))).rejects.toThrow('prompt cachedTokens: must be an integer from 0 to 2');
  });

  it('reports, when asked, the logprob of each chosen token under the raw logits, before the repetition penalty', async () => {
    // The prompt holds token 2, the best raw logit (3); penalty 2 halves it to 1.5, below token 4's 2.
    const raw = [0, 0, 3, 0, 2, 0, 0, -1];
    const { session } = scriptedSession(() => raw);
    const generator = new Generator(session, letters);
    const { events, result } = await collect(generator.stream(prompt([[2]]), searchOptions({ maxNewTokens: 2, repetitionPenalty: 2 }), { logprobs: true }));
    const logSum = Math.log(raw.reduce((sum, x) => sum + Math.exp(x), 0));
    // Step 0 picks 4; step 1 penalises 2 and 4 (now 1.5 and 1), so 2 still wins there at 1.5.
    expect(result.rows[0].tokens).toEqual([4, 2]);
    expect(result.rows[0].logprobs).toHaveLength(2);
    expect(result.rows[0].logprobs[0]).toBeCloseTo(2 - logSum, 6);
    expect(result.rows[0].logprobs[1]).toBeCloseTo(3 - logSum, 6);
    expect(events.map((e) => e.logprob)).toEqual(result.rows[0].logprobs);
  });

  it('leaves logprobs out unless asked: NaN in the events, none in the rows', async () => {
    const { session } = scriptedSession(() => peaked(1));
    const { events, result } = await collect(new Generator(session, letters).stream(prompt([[0]]), searchOptions({ maxNewTokens: 2 })));
    expect(events.map((e) => e.tokenId)).toEqual([1, 1]);
    expect(events.every((e) => Number.isNaN(e.logprob))).toBe(true);
    expect(result.rows[0].logprobs).toEqual([]);
  });

  it("processes each row on its own, leaving the session's logits untouched", async () => {
    // Row 0's prompt holds token 3: penalty 4 takes its 4 down to 1, under token 2's 2. Row 1 has
    // no 3 in its prompt and keeps it. If the rows shared processed logits, or the penalty wrote
    // into the session's array, one of them would pick the other's token.
    const raw = [0, 0, 2, 4, 0, 0, 0, 0];
    const { session } = scriptedSession(() => raw);
    const seen: Float32Array[] = [];
    const result = await new Generator(session, letters).generate(prompt([[3], [1]]), searchOptions({ maxNewTokens: 1, repetitionPenalty: 4 }), {
      onStepLogits: (_, logits) => seen.push(logits.data),
    });
    expect(result.rows.map((row) => row.tokens)).toEqual([[2], [3]]);
    expect(Array.from(seen[0])).toEqual([...raw, ...raw]);
  });

  it('counts the prompt against maxLength and feeds the prompt and generated ids to min length', async () => {
    const { session } = scriptedSession(() => peaked(EOS));
    const generator = new Generator(session, letters);
    // EOS is forbidden while prompt (3) + generated < 5, so two non-EOS tokens come first.
    const withMin = await generator.generate(prompt([[0, 1, 2]]), searchOptions({ maxNewTokens: 10, minLength: 5 }));
    expect(withMin.rows[0]).toMatchObject({ tokens: [0, 0, EOS], finishReason: 'eos' });

    const { session: chatty } = scriptedSession(() => peaked(1));
    const capped = await new Generator(chatty, letters).generate(prompt([[0, 1, 2]]), searchOptions({ maxNewTokens: undefined, maxLength: 5 }));
    expect(capped.rows[0]).toMatchObject({ tokens: [1, 1], finishReason: 'length', promptTokens: 3 });
  });

  it('ends a row at a stop string spread over tokens, emitting none of it, and keeps going through EOS with ignoreEos', async () => {
    // Tokens b, EOS, c, d, e: "cd" is the stop string; EOS is ignored and decodes to 'h'.
    const tokens = [1, EOS, 2, 3, 4];
    const { session } = scriptedSession((step) => peaked(tokens[step]));
    const generator = new Generator(session, letters);
    const { events, result } = await collect(generator.stream(prompt([[0]]), searchOptions({ maxNewTokens: 10, ignoreEos: true, stopStrings: ['cd'] })));
    expect(events.map((e) => e.text)).toEqual(['b', 'h', '', '']);
    expect(result.rows[0]).toMatchObject({ tokens: [1, EOS, 2, 3], text: 'bh', finishReason: 'stop' });
  });

  it('streams text that never splits a UTF-8 character and concatenates to the final text', async () => {
    // Byte tokens: 0 'a', 1..4 the four bytes of 😀.
    const bytes = [[0x61], [0xf0], [0x9f], [0x98], [0x80]];
    const utf8 = new TextDecoder();
    const decode = (ids: readonly number[]) => utf8.decode(Uint8Array.from(ids.flatMap((id) => bytes[id])));
    const order = [0, 1, 2, 3, 4, 0, 1, 2];
    const { session } = scriptedSession((step) => peaked(order[step]));
    const { events, result } = await collect(new Generator(session, decode).stream(prompt([[0]]), searchOptions({ maxNewTokens: order.length })));
    expect(events.map((e) => e.text)).toEqual(['a', '', '', '', '😀', 'a', '', '\uFFFD']);
    expect(events.map((e) => e.text).join('')).toBe(result.rows[0].text);
    expect(result.rows[0].text).toBe(decode(order));
  });

  it('draws from one seeded source per generation, rows in row order', async () => {
    // Uniform logits over 4 tokens (the rest -Infinity): a draw u picks token floor(4u).
    const uniform = [0, 0, 0, 0, -Infinity, -Infinity, -Infinity, -Infinity];
    const { session } = scriptedSession(() => uniform);
    const generator = new Generator(session, letters);
    const options = searchOptions({ doSample: true, maxNewTokens: 3, randomSeed: 1234 });
    const result = await generator.generate(prompt([[0], [0]]), options);
    const rng = Xoshiro128.fromSeed(1234);
    const draws = Array.from({ length: 6 }, () => Math.floor(rng.nextFloat() * 4));
    expect(result.rows[0].tokens).toEqual([draws[0], draws[2], draws[4]]);
    expect(result.rows[1].tokens).toEqual([draws[1], draws[3], draws[5]]);
    const again = await generator.generate(prompt([[0], [0]]), options);
    expect(again.rows.map((row) => row.tokens)).toEqual(result.rows.map((row) => row.tokens));
  });

  it('samples after temperature and top-k, every row and step from its own logits', async () => {
    // Row 0 keeps ids 0 and 1 under top-k 2, row 1 ids 4 and 5, each with logits ln 3 and 0:
    // at temperature 0.5 that is 9 : 1, so a draw u picks the first below 0.9. Min length 4
    // forbids EOS (7, the best logit of both rows) while prompt + generated < 4.
    const rowLogits = [
      [Math.log(3), 0, -1, -2, -3, -4, -5, 9],
      [-5, -4, -3, -2, Math.log(3), 0, -1, 9],
    ];
    const { session } = scriptedSession((_, row) => rowLogits[row]);
    const options = searchOptions({ doSample: true, temperature: 0.5, topK: 2, minLength: 4, maxNewTokens: 3, randomSeed: 3 });
    const result = await new Generator(session, letters).generate(prompt([[2], [2]]), options);
    const rng = Xoshiro128.fromSeed(3);
    const draws = Array.from({ length: 6 }, () => rng.nextFloat());
    // Prompt length 1: EOS is forbidden for all 3 tokens, and top-k then keeps only the two.
    expect(result.rows[0].tokens).toEqual([0, 2, 4].map((d) => (draws[d] < 0.9 ? 0 : 1)));
    expect(result.rows[1].tokens).toEqual([1, 3, 5].map((d) => (draws[d] < 0.9 ? 4 : 5)));
    // The seed draws a second choice, and a draw in [0.75, 0.9): the first at 9 : 1, the second at temperature 1's 3 : 1.
    expect(draws.some((u) => u >= 0.9)).toBe(true);
    expect(draws.some((u) => u >= 0.75 && u < 0.9)).toBe(true);
  });

  it('ends every unfinished row as aborted before the next run, keeping only the text already streamed', async () => {
    const { session, fed } = scriptedSession(() => peaked(1));
    const generator = new Generator(session, letters);
    const signal = { aborted: false };
    // 'b' could begin the stop string 'bx', so it is held back; the abort drops it.
    const options = searchOptions({ maxNewTokens: 10, stopStrings: ['bx'] });
    const { events, result } = await collect(generator.stream(prompt([[0], [0]]), options, { signal }), () => (signal.aborted = true));
    expect(fed).toHaveLength(0);
    expect(events.map((e) => [e.row, e.tokenId, e.text])).toEqual([
      [0, 1, ''],
      [1, 1, ''],
    ]);
    expect(result.rows.map(({ tokens, text, finishReason }) => ({ tokens, text, finishReason }))).toEqual([
      { tokens: [1], text: '', finishReason: 'aborted' },
      { tokens: [1], text: '', finishReason: 'aborted' },
    ]);

    const idle = scriptedSession(() => peaked(1));
    const early = await new Generator(idle.session, letters).generate(prompt([[0]]), searchOptions(), { signal: { aborted: true } });
    expect(idle.prefills).toHaveLength(0);
    expect(early.rows[0]).toMatchObject({ tokens: [], text: '', finishReason: 'aborted', generatedTokens: 0 });
  });

  it("hands each step's raw logits to onStepLogits, step 0 being the prefill", async () => {
    const { session } = scriptedSession((step) => peaked(step + 1));
    const seen: [number, number[], number[]][] = [];
    await new Generator(session, letters).generate(prompt([[0]]), searchOptions({ maxNewTokens: 3 }), {
      onStepLogits: (step, logits) => seen.push([step, [...logits.dims], Array.from(logits.data)]),
    });
    expect(seen).toEqual([
      [0, [1, VOCAB], peaked(1)],
      [1, [1, VOCAB], peaked(2)],
      [2, [1, VOCAB], peaked(3)],
    ]);
  });

  it("times its own work: prefill and steps inside the session, the consumer's time left out", async () => {
    const clock = { t: 0 };
    const { session } = scriptedSession(() => peaked(1), clock);
    const generator = new Generator(session, letters, { now: () => clock.t });
    // The consumer takes 1000 ms per event; none of it is the generator's.
    const { result } = await collect(generator.stream(prompt([[0], [0]]), searchOptions({ maxNewTokens: 4 })), () => (clock.t += 1000));
    expect(result).toMatchObject({
      timings: { prefillMs: 100, firstTokenMs: 100, decodeMs: 30, steps: 3, runMs: 130, overheadMsPerToken: 0 },
    });
    // 3 steps × 2 rows in 30 ms.
    expect(result.timings.tokensPerSecond).toBeCloseTo(200, 9);
  });

  it('makes an unfinished stream throw when a newer one has started on the same session', async () => {
    const { session } = scriptedSession(() => peaked(1));
    const generator = new Generator(session, letters);
    const older = generator.stream(prompt([[0]]), searchOptions({ maxNewTokens: 5 }));
    await older.next();
    await generator.generate(prompt([[0]]), searchOptions({ maxNewTokens: 2 }));
    const error = await older.next().catch((e: unknown) => e);
    expect(isQwenVLError(error, 'INVALID_ARGUMENT')).toBe(true);
    expect((error as Error).message).toContain('a later stream() on the same session replaced this generation');
  });

  it('rejects input ids whose shape differs from the attention mask', async () => {
    const { session } = scriptedSession(() => peaked(1));
    const bad = { ...prompt([[0, 1]]), inputIds: hostTensor('int32', Int32Array.of(0, 1, 2), [1, 3]) };
    await expect(new Generator(session, letters).generate(bad, searchOptions())).rejects.toThrow('prompt inputIds: must be [B, L] like attentionMask [1, 2], got [1, 3]');
  });

  it('rejects positions that are not [3, B, L] of the whole prompt', async () => {
    const { session } = scriptedSession(() => peaked(1));
    const bad = {
      ...prompt([
        [0, 1],
        [2, 3],
      ]),
      positions: { positionIds: new Int32Array(6), ropeDeltas: [0, 0] },
    };
    await expect(new Generator(session, letters).generate(bad, searchOptions())).rejects.toThrow("prompt positions.positionIds: holds 6 values; the prompt's [3, 2, 2] needs 12");
  });
});
