import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSession, hostTensor, isQwenVLError, toBigInt64 } from '@qwen-vl/core';
import type { ModelConfig } from '@qwen-vl/core';
import { DecoderSession, pastKeyName, pastValueName, rotaryFeeds } from '@qwen-vl/decoder';
import { GOLDEN_CASES, LOGITS_TOLERANCE, goldenPrompt, goldenSteps, maxAbsDiff } from '@qwen-vl/test-support';
import { embedPrompts, greedy, openDecoder, openGoldenDecoder } from './decoder-fixtures.js';
import type { TextModelFiles } from './decoder-fixtures.js';
import { useTempDir } from './helpers/temp-dir.js';

/**
 * The exported text graphs of the golden tiny model, run on onnxruntime-node CPU, against
 * the float64 reference logits. The golden vision features stand in for the vision tower,
 * so these tests depend on the decoder export alone.
 */
const STEPS = 8;
/**
 * Cached decoding against a full recompute: both fp32 on the same runtime, with the same
 * attention ops over different shapes (one query row vs all), measured 0 apart here; the
 * margin is for backends whose MatMul blocks differently by shape. A cache or position
 * mistake moves logits by 0.1 or more.
 */
const RECOMPUTE_TOLERANCE = 2.5e-4;

const dir = useTempDir('qwen-vl-decoder-');
let config: ModelConfig;
let files: TextModelFiles;
let session: DecoderSession;

beforeAll(async () => {
  ({ config, files, session } = await openGoldenDecoder(dir()));
});
afterAll(async () => {
  await session?.dispose();
});

describe('text decoder export against the golden cases', () => {
  it.each(GOLDEN_CASES)('$name: 8 greedy steps through the KV cache give the golden tokens, logits within 1e-3', async ({ name }) => {
    const golden = goldenSteps(name);
    const run = await greedy(session, [goldenPrompt(name)], config, STEPS);
    const diffs = run.logits.map(([row], step) => maxAbsDiff(row, golden.logits(step)));
    console.info(`${name}: max |logit diff| per step ${diffs.map((d) => d.toExponential(2)).join(' ')}`);
    expect(run.tokens[0]).toEqual(golden.tokens);
    for (const diff of diffs) expect(diff).toBeLessThanOrEqual(LOGITS_TOLERANCE);
  });

  it.each(GOLDEN_CASES)('$name: each cached step equals a full recompute over the prompt and the tokens so far', async ({ name }) => {
    const prompt = goldenPrompt(name);
    const cached = await greedy(session, [prompt], config, STEPS);
    const diffs: number[] = [];
    for (let step = 1; step < STEPS; step++) {
      const extended = { ...prompt, ids: [...prompt.ids, ...cached.tokens[0].slice(0, step)] };
      const recomputed = await greedy(session, [extended], config, 1);
      diffs.push(maxAbsDiff(recomputed.logits[0][0], cached.logits[step][0]));
    }
    console.info(`${name}: cached vs recomputed max |logit diff| ${Math.max(...diffs).toExponential(2)}`);
    for (const diff of diffs) expect(diff).toBeLessThanOrEqual(RECOMPUTE_TOLERANCE);
  });

  it('steps write their logits into two host buffers that take turns, not into fresh arrays, and give the golden logits', async () => {
    const prompt = goldenPrompt('one_image');
    const golden = goldenSteps('one_image');
    const logits = [await session.prefill(await embedPrompts(session, [prompt], config))];
    for (let step = 1; step < 5; step++) logits.push(await session.step([golden.tokens[step - 1]]));
    const buffers = logits.map((tensor) => tensor.data.buffer);
    // The first run of a session allocates (the outputs' shapes are not known yet); from the second on, two buffers alternate.
    expect(buffers[2]).toBe(buffers[4]);
    expect(buffers[3]).not.toBe(buffers[2]);
    expect(buffers[3]).toBe(buffers[1]);
    // The logits of a run stay valid through the next run: compare only the last two.
    expect(maxAbsDiff(logits[3].data, golden.logits(3))).toBeLessThanOrEqual(LOGITS_TOLERANCE);
    expect(maxAbsDiff(logits[4].data, golden.logits(4))).toBeLessThanOrEqual(LOGITS_TOLERANCE);
  });

  it('a prompt prefilled in chunks (of 7 and of 50 tokens) gives the golden tokens and the logits of a single run', async () => {
    const names = ['text_only', 'two_images'];
    for (const chunk of [7, 50]) {
      const chunked = await openDecoder(files, config.text, { prefillChunkTokens: chunk });
      try {
        const run = await greedy(chunked, names.map(goldenPrompt), config, STEPS);
        const whole = await greedy(session, names.map(goldenPrompt), config, STEPS);
        names.forEach((name, b) => {
          const diff = Math.max(...run.logits.map((rows, step) => maxAbsDiff(rows[b], whole.logits[step][b])));
          console.info(`chunks of ${chunk}, ${name} (${goldenPrompt(name).ids.length} tokens): max |logit diff| vs one run ${diff.toExponential(2)}`);
          expect(run.tokens[b]).toEqual(goldenSteps(name).tokens);
          expect(diff).toBeLessThanOrEqual(RECOMPUTE_TOLERANCE);
        });
      } finally {
        await chunked.dispose();
      }
    }
  });

  it('a left-padded batch of prompts of different lengths gives each prompt its own golden logits and tokens', async () => {
    const names = ['text_only', 'one_image', 'two_images'];
    const run = await greedy(session, names.map(goldenPrompt), config, STEPS);
    names.forEach((name, b) => {
      const golden = goldenSteps(name);
      const diff = Math.max(...run.logits.map((rows, step) => maxAbsDiff(rows[b], golden.logits(step))));
      console.info(`batch row ${b} (${name}, ${goldenPrompt(name).ids.length} tokens): max |logit diff| ${diff.toExponential(2)}`);
      expect(run.tokens[b]).toEqual(golden.tokens);
      expect(diff).toBeLessThanOrEqual(LOGITS_TOLERANCE);
    });
  });

  it('num_logits_to_keep selects trailing positions: 0 gives all, whose last 8 are the golden steps; 3 gives the last 3', async () => {
    const prompt = goldenPrompt('two_images');
    const golden = goldenSteps('two_images');
    const ids = [...prompt.ids, ...golden.tokens.slice(0, STEPS - 1)];
    const { inputsEmbeds, attentionMask, positions } = await embedPrompts(session, [{ ...prompt, ids }], config);
    const decoder = await createSession({ model: files.decoder }, { device: 'cpu' });
    const { numKeyValueHeads, headDim, vocabSize } = config.text;
    const emptyPast = hostTensor('float32', new Float32Array(0), [1, numKeyValueHeads, 0, headDim]);
    const forward = async (keep: number) => {
      const feeds = {
        inputs_embeds: inputsEmbeds,
        attention_mask: hostTensor('int64', toBigInt64(attentionMask.data), attentionMask.dims),
        ...rotaryFeeds(positions.positionIds, 1, ids.length, config.text),
        num_logits_to_keep: hostTensor('int64', BigInt64Array.of(BigInt(keep)), []),
        ...Object.fromEntries(
          Array.from({ length: config.text.numHiddenLayers }, (_, i) => [
            [pastKeyName(i), emptyPast],
            [pastValueName(i), emptyPast],
          ]).flat(),
        ),
      };
      return (await decoder.run(feeds, ['logits'])).logits;
    };
    try {
      const all = await forward(0);
      expect(all.dims).toEqual([1, ids.length, vocabSize]);
      const position = (logits: typeof all, p: number) => (logits.data as Float32Array).subarray(p * vocabSize, (p + 1) * vocabSize);
      for (let step = 0; step < STEPS; step++) {
        expect(maxAbsDiff(position(all, ids.length - STEPS + step), golden.logits(step))).toBeLessThanOrEqual(LOGITS_TOLERANCE);
      }
      const lastThree = await forward(3);
      expect(lastThree.dims).toEqual([1, 3, vocabSize]);
      for (let k = 0; k < 3; k++) expect(maxAbsDiff(position(lastThree, k), position(all, ids.length - 3 + k))).toBeLessThanOrEqual(1e-6);
    } finally {
      await decoder.dispose();
    }
  });

  it('rejects a prompt longer than max_position_embeddings with PROMPT_TOO_LONG, and a step past it', async () => {
    const prompt = goldenPrompt('text_only');
    const short = await openDecoder(files, { ...config.text, maxPositionEmbeddings: prompt.ids.length - 1 });
    const exact = await openDecoder(files, { ...config.text, maxPositionEmbeddings: prompt.ids.length });
    try {
      const tooLong = await greedy(short, [prompt], config, 1).catch((e: unknown) => e);
      expect(isQwenVLError(tooLong, 'PROMPT_TOO_LONG')).toBe(true);
      expect((tooLong as Error).message).toContain(`${prompt.ids.length} tokens`);
      expect((tooLong as Error).message).toContain(`max_position_embeddings (${prompt.ids.length - 1}`);

      const stepPast = await greedy(exact, [prompt], config, 2).catch((e: unknown) => e);
      expect(isQwenVLError(stepPast, 'PROMPT_TOO_LONG')).toBe(true);
    } finally {
      await Promise.all([short.dispose(), exact.dispose()]);
    }
  });
});
