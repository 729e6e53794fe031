import { describe, expect, it } from 'vitest';
import { hostTensor } from '@qwen-vl/core';
import type { HostTensor } from '@qwen-vl/core';
import { ContinuousBatch, Generator } from '../src/index.js';
import { EOS, VOCAB, peaked, searchOptions } from './scripted-generation.js';
import type { BatchSession, BatchedRequest, GenerationResult, GenerationSession, GenerationStreamEvent, PreparedPrompt, SearchOptions } from '../src/index.js';

/** The continuous batch's loop against a scripted batch session whose rows are told apart by their request's id. */

/** Token id k decodes to the k-th letter. */
const letters = (ids: readonly number[]): string => ids.map((id) => String.fromCharCode(97 + id)).join('');

/** One prompt row of request `id`: its embeddings hold the id, so the session can tell the row's request. */
function promptOf(id: number, length = 2): PreparedPrompt {
  return {
    inputIds: hostTensor('int32', new Int32Array(length).fill(id % VOCAB), [1, length]),
    attentionMask: hostTensor('int32', new Int32Array(length).fill(1), [1, length]),
    inputsEmbeds: hostTensor('float32', new Float32Array(length).fill(id), [1, length, 1]),
    positions: { positionIds: new Int32Array(3 * length), ropeDeltas: new Int32Array(1) },
  };
}

/**
 * A batch session whose rows' logits come from `script(id, step)` (step 0 = the row's prefill),
 * `id` being the request the row belongs to. It logs every call with the ids of the rows
 * involved, and answers after a macrotask, so that streams' consumers run in between, as
 * they do around a real model run. `fail` makes the next call of that kind throw.
 */
function scriptedBatchSession(script: (id: number, step: number) => number[]) {
  const log: [string, number[]][] = [];
  let rows: { id: number; step: number }[] = [];
  const fail = { join: false, step: false };
  const tick = () => new Promise((resolve) => setImmediate(resolve));
  const logits = (list: { id: number; step: number }[]): HostTensor<'float32'> => hostTensor('float32', Float32Array.from(list.flatMap(({ id, step }) => script(id, step))), [list.length, VOCAB]);
  const session: BatchSession = {
    async join(input) {
      await tick();
      const [batch, length] = input.attentionMask.dims;
      const ids = Array.from({ length: batch }, (_, b) => input.inputsEmbeds.data[(b + 1) * length - 1]);
      log.push(['join', ids]);
      if (fail.join) throw new Error('join failed');
      const joined = ids.map((id) => ({ id, step: 0 }));
      rows = [...rows, ...joined];
      return logits(joined);
    },
    async step(tokenIds) {
      await tick();
      log.push(['step', rows.map(({ id }) => id)]);
      if (fail.step) throw new Error('step failed');
      expect(tokenIds).toHaveLength(rows.length);
      for (const row of rows) row.step++;
      return logits(rows);
    },
    async leave(indices) {
      log.push(['leave', indices.map((i) => rows[i].id)]);
      rows = rows.filter((_, i) => !indices.includes(i));
    },
  };
  return { session, log, fail, rows: () => rows };
}

async function collect(stream: AsyncGenerator<GenerationStreamEvent, GenerationResult>, onEvent?: (event: GenerationStreamEvent, index: number) => void) {
  const events: GenerationStreamEvent[] = [];
  for (;;) {
    const next = await stream.next();
    if (next.done === true) return { events, result: next.value };
    onEvent?.(next.value, events.length);
    events.push(next.value);
  }
}

function request(id: number, options: Partial<SearchOptions> = {}, control: BatchedRequest['control'] = {}): BatchedRequest {
  return { prompt: async () => promptOf(id), options: searchOptions(options), control };
}

/** What `Generator` gives the same request alone, on a session scripted the same way. */
async function alone(id: number, script: (id: number, step: number) => number[], options: Partial<SearchOptions> = {}) {
  let steps = 0;
  const session: GenerationSession = {
    prefill: async () => ((steps = 0), hostTensor('float32', Float32Array.from(script(id, 0)), [1, VOCAB])),
    extend: async () => hostTensor('float32', Float32Array.from(script(id, 0)), [1, VOCAB]),
    step: async () => hostTensor('float32', Float32Array.from(script(id, ++steps)), [1, VOCAB]),
  };
  return (await new Generator(session, letters).generate(promptOf(id), searchOptions(options))).rows[0];
}

// Request 1 counts 1, 2, 3, ...; request 2 says 4, 5, 4, 5, ...; request 3 says 6 then EOS.
const script = (id: number, step: number) => peaked(id === 1 ? (step % 6) + 1 : id === 2 ? 4 + (step % 2) : step === 0 ? 6 : EOS);

describe('ContinuousBatch', () => {
  it('joins a request at the next step while another generates, and frees each row as it ends; each answers what it answers alone', async () => {
    const scripted = scriptedBatchSession(script);
    const { log } = scripted;
    // The others arrive while the first generates: one during each of the first two steps.
    const arrivals = [() => collect(batch.stream(request(2, { maxNewTokens: 4 }))), () => collect(batch.stream(request(3, { maxNewTokens: 5 })))];
    const started: ReturnType<typeof collect>[] = [];
    const session: BatchSession = { ...scripted.session, step: (tokens) => (started.push(...arrivals.splice(0, 1).map((arrive) => arrive())), scripted.session.step(tokens)) };
    const batch = new ContinuousBatch(session, letters, { maxBatch: 4 });
    const first = await collect(batch.stream(request(1, { maxNewTokens: 6 })));
    const results = [first, ...(await Promise.all(started))];

    expect(log).toEqual([
      ['join', [1]],
      ['step', [1]],
      ['join', [2]],
      ['step', [1, 2]],
      ['join', [3]],
      ['step', [1, 2, 3]],
      // Request 3 said EOS: its row leaves before the next step.
      ['leave', [3]],
      ['step', [1, 2]],
      ['leave', [2]],
      ['step', [1]],
      ['leave', [1]],
    ]);
    expect(batch.size).toBe(0);
    const expected = [await alone(1, script, { maxNewTokens: 6 }), await alone(2, script, { maxNewTokens: 4 }), await alone(3, script, { maxNewTokens: 5 })];
    results.forEach(({ events, result }, i) => {
      const { tokens, text, finishReason, promptTokens } = expected[i];
      expect(result.rows[0]).toMatchObject({ tokens, text, finishReason, promptTokens });
      expect(events.map((event) => event.tokenId)).toEqual(tokens);
      expect(events.every((event) => event.row === 0)).toBe(true);
    });
    expect(results.map(({ result }) => result.rows[0].finishReason)).toEqual(['length', 'length', 'eos']);
    // Request 1 ran its prefill and five steps; the timings are its own.
    expect(results[0].result.timings.steps).toBe(5);
    expect(results[2].result.timings.steps).toBe(1);
  });

  it('keeps at most maxBatch rows: a request waits for a row to free, and requests waiting together join in one prefill', async () => {
    const { session, log } = scriptedBatchSession(script);
    const batch = new ContinuousBatch(session, letters, { maxBatch: 2 });
    const results = await Promise.all([1, 3, 2].map((id) => collect(batch.stream(request(id, { maxNewTokens: 3 })))));
    expect(log).toEqual([
      ['join', [1, 3]],
      ['step', [1, 3]],
      ['leave', [3]],
      ['join', [2]],
      ['step', [1, 2]],
      ['leave', [1]],
      ['step', [2]],
      ['leave', [2]],
    ]);
    expect(results.map(({ result }) => result.rows[0].tokens)).toEqual([
      [1, 2, 3],
      [6, EOS],
      [4, 5, 4],
    ]);
  });

  it('applies each row its own search options, and draws each sampled row from its own seeded source', async () => {
    const uniform = () => [0, 0, 0, 0, -Infinity, -Infinity, -Infinity, -Infinity];
    const { session } = scriptedBatchSession((id, step) => (id === 2 ? script(id, step) : uniform()));
    const batch = new ContinuousBatch(session, letters, { maxBatch: 4 });
    const sampled = { doSample: true, randomSeed: 99, maxNewTokens: 5 };
    const [a, b, c] = await Promise.all([
      collect(batch.stream(request(1, sampled))),
      // 'ef' ends request 2 with a stop string after 4, 5.
      collect(batch.stream(request(2, { stopStrings: ['ef'], maxNewTokens: 10 }))),
      collect(batch.stream(request(3, sampled))),
    ]);
    const expected = await alone(1, uniform, sampled);
    expect(a.result.rows[0].tokens).toEqual(expected.tokens);
    expect(c.result.rows[0].tokens).toEqual(expected.tokens);
    expect(b.result.rows[0]).toMatchObject({ tokens: [4, 5], text: '', finishReason: 'stop' });
  });

  it('frees the row of a request whose signal aborts, or whose consumer stops reading, before the next run; a waiting one never runs', async () => {
    const scripted = scriptedBatchSession(script);
    const { log } = scripted;
    const signal = { aborted: false };
    // The signal aborts while a step runs: that step's token is kept, and no run follows.
    const step = scripted.session.step;
    const session: BatchSession = { ...scripted.session, step: (tokens) => ((signal.aborted = true), step(tokens)) };
    const batch = new ContinuousBatch(session, letters, { maxBatch: 1 });
    const waiting = { aborted: false };
    const aborted = collect(batch.stream(request(1, { maxNewTokens: 100 }, { signal })));
    const queued = collect(batch.stream(request(2, {}, { signal: waiting })));
    waiting.aborted = true;
    const [first, second] = await Promise.all([aborted, queued]);
    expect(first.result.rows[0]).toMatchObject({ tokens: [1, 2], text: 'bc', finishReason: 'aborted' });
    expect(second.result.rows[0]).toMatchObject({ tokens: [], finishReason: 'aborted' });
    expect(log).toEqual([
      ['join', [1]],
      ['step', [1]],
      ['leave', [1]],
    ]);

    const left = scriptedBatchSession(script);
    const leftBatch = new ContinuousBatch(left.session, letters, { maxBatch: 1 });
    const stream = leftBatch.stream(request(1, { maxNewTokens: 100 }));
    expect((await stream.next()).value).toMatchObject({ tokenId: 1 });
    await stream.return(undefined as never);
    await leftBatch.idle();
    // At most the run already under way when the consumer left; then its row goes.
    expect(left.log.filter(([call]) => call === 'step').length).toBeLessThanOrEqual(1);
    expect(left.log.at(-1)).toEqual(['leave', [1]]);
  });

  it('fails only the request whose prompt cannot be built, only the joining requests when their prefill fails, and every row when a step fails', async () => {
    const { session, fail, log } = scriptedBatchSession(script);
    const batch = new ContinuousBatch(session, letters, { maxBatch: 4 });
    const broken: BatchedRequest = { ...request(9), prompt: () => Promise.reject(new Error('no such image')) };
    const [good, bad] = await Promise.allSettled([collect(batch.stream(request(3))), collect(batch.stream(broken))]);
    expect(good.status).toBe('fulfilled');
    expect((bad as PromiseRejectedResult).reason).toEqual(new Error('no such image'));

    const running = collect(batch.stream(request(1, { maxNewTokens: 6 })), (_, index) => {
      if (index === 0) {
        fail.join = true;
        void collect(batch.stream(request(2))).catch((error: unknown) => joinFailure.push(error));
      }
      if (index === 2) fail.join = false;
      if (index === 3) fail.step = true;
    });
    const joinFailure: unknown[] = [];
    await expect(running).rejects.toThrow('step failed');
    expect(joinFailure).toEqual([new Error('join failed')]);
    expect(log.slice(-2)).toEqual([
      ['step', [1]],
      ['leave', [1]],
    ]);
    expect(batch.size).toBe(0);
  });
});
