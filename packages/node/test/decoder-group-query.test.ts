import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DecoderAttention } from '@qwen-vl/builder';
import type { HostTensor, ModelConfig } from '@qwen-vl/core';
import { ContinuousBatch } from '@qwen-vl/decoder';
import type { DecoderSession, GenerationResult } from '@qwen-vl/decoder';
import { GOLDEN_CASES, GOLDEN_STEPS, LOGITS_TOLERANCE, goldenPrompt, goldenSteps, maxAbsDiff } from '@qwen-vl/test-support';
import { embedPrompts, exportTextModels, goldenModel, goldenSearchOptions, greedy, openDecoder } from './decoder-fixtures.js';
import type { TextModelFiles } from './decoder-fixtures.js';
import { newFolder, useTempDir } from './helpers/temp-dir.js';

/**
 * The decoders `qwen-vl build --execution-provider cpu|cuda` writes, whose layers attend with
 * com.microsoft GroupQueryAttention (`group-query`, and CUDA's float16 form
 * `group-query-fp16`), on onnxruntime-node CPU against the float64 reference logits, as
 * decoder-golden.test.ts checks the portable graph. The golden vision features stand in for
 * the vision tower.
 */

/**
 * The CUDA form rounds q, k, v and the cache to float16 (2^-11 relative) around the kernel:
 * measured up to 3.6e-2 off the reference logits here (the float32 forms 1e-4), with the
 * golden tokens. A cache or position mistake moves logits by 0.1 or more.
 */
const FLOAT16_ATTENTION_TOLERANCE = 5e-2;

const dir = useTempDir('qwen-vl-group-query-');
let config: ModelConfig;
const files = new Map<DecoderAttention, TextModelFiles>();
let session: DecoderSession;

beforeAll(async () => {
  const golden = await goldenModel();
  config = golden.config;
  for (const attention of ['plain', 'group-query', 'group-query-fp16'] as const) {
    files.set(attention, await exportTextModels(golden.checkpoint, config.text, await newFolder(dir(), attention), { attention }));
  }
  session = await openDecoder(files.get('group-query')!, config.text);
});
afterAll(async () => {
  await session?.dispose();
});

/** Each row's largest logit difference to its golden logits over the steps of `run`. */
function goldenDiffs(run: { logits: Float32Array[][] }, names: readonly string[]): number[] {
  return names.map((name, b) => Math.max(...run.logits.map((rows, step) => maxAbsDiff(rows[b], goldenSteps(name).logits(step)))));
}

describe('the CPU build: GroupQueryAttention in float32', () => {
  it.each(GOLDEN_CASES)('$name: 8 greedy steps through the KV cache give the golden tokens, logits within 1e-3', async ({ name }) => {
    const run = await greedy(session, [goldenPrompt(name)], config, GOLDEN_STEPS);
    const [diff] = goldenDiffs(run, [name]);
    console.info(`group-query, ${name}: max |logit diff| ${diff.toExponential(2)}`);
    expect(run.tokens[0]).toEqual(goldenSteps(name).tokens);
    expect(diff).toBeLessThanOrEqual(LOGITS_TOLERANCE);
  });

  it('a left-padded batch of prompts of different lengths gives each prompt its golden tokens and logits', async () => {
    const names = ['text_only', 'one_image', 'two_images'];
    const run = await greedy(session, names.map(goldenPrompt), config, GOLDEN_STEPS);
    const diffs = goldenDiffs(run, names);
    console.info(`group-query, left-padded batch: max |logit diff| per row ${diffs.map((d) => d.toExponential(2)).join(' ')}`);
    names.forEach((name, b) => expect(run.tokens[b]).toEqual(goldenSteps(name).tokens));
    for (const diff of diffs) expect(diff).toBeLessThanOrEqual(LOGITS_TOLERANCE);
  });

  it('a prompt prefilled in chunks of 7 tokens, alone and in a left-padded batch (the plain-op fallback), gives the golden tokens and logits', async () => {
    const chunked = await openDecoder(files.get('group-query')!, config.text, { prefillChunkTokens: 7 });
    try {
      for (const names of [['two_images'], ['text_only', 'two_images']]) {
        const run = await greedy(chunked, names.map(goldenPrompt), config, GOLDEN_STEPS);
        const diffs = goldenDiffs(run, names);
        console.info(`group-query, chunks of 7, ${names.join(' + ')}: max |logit diff| per row ${diffs.map((d) => d.toExponential(2)).join(' ')}`);
        names.forEach((name, b) => expect(run.tokens[b]).toEqual(goldenSteps(name).tokens));
        for (const diff of diffs) expect(diff).toBeLessThanOrEqual(LOGITS_TOLERANCE);
      }
    } finally {
      await chunked.dispose();
    }
  });

  it('continuous batching: a prompt joining a running one of another length gets, like it, its golden tokens and logits', async () => {
    const batched = await openDecoder(files.get('group-query')!, config.text);
    const batch = new ContinuousBatch(batched, () => '', { maxBatch: 2 });
    const stepLogits = new Map<string, Float32Array[]>();
    const sizes: number[] = [];
    let joining: Promise<GenerationResult> | undefined;
    const generate = (name: string, onStep?: (step: number) => void) => {
      const steps: Float32Array[] = [];
      stepLogits.set(name, steps);
      const onStepLogits = (step: number, logits: HostTensor<'float32'>) => {
        steps.push(logits.data);
        onStep?.(step);
      };
      return resultOf(batch.stream({ prompt: () => embedPrompts(batched, [goldenPrompt(name)], config), options: goldenSearchOptions(), control: { onStepLogits } }));
    };
    let results: Map<string, GenerationResult>;
    try {
      // The second joins at the first's third step (queued from inside the batch's loop, so
      // admitted at its next round): its 109 positions then left-pad the first row's shorter cache.
      const first = generate('text_only', (step) => {
        sizes.push(batch.size);
        if (step === 2) joining = generate('two_images');
      });
      results = new Map([
        ['text_only', await first],
        ['two_images', await joining!],
      ]);
    } finally {
      await batched.dispose();
    }
    expect(Math.max(...sizes)).toBe(2);
    for (const [name, result] of results) {
      const golden = goldenSteps(name);
      const diff = Math.max(...stepLogits.get(name)!.map((row, step) => maxAbsDiff(row, golden.logits(step))));
      console.info(`group-query, continuous batch, ${name}: max |logit diff| ${diff.toExponential(2)}`);
      expect(result.rows[0].tokens).toEqual(golden.tokens);
      expect(diff).toBeLessThanOrEqual(LOGITS_TOLERANCE);
    }
  });
});

describe("the CUDA build's float16 form, on the CPU's kernel", () => {
  it.each(GOLDEN_CASES)('$name: the golden tokens, logits within the float16 tolerance', async ({ name }) => {
    const fp16 = await openDecoder(files.get('group-query-fp16')!, config.text);
    try {
      const run = await greedy(fp16, [goldenPrompt(name)], config, GOLDEN_STEPS);
      const [diff] = goldenDiffs(run, [name]);
      console.info(`group-query-fp16, ${name}: max |logit diff| ${diff.toExponential(2)}`);
      expect(run.tokens[0]).toEqual(goldenSteps(name).tokens);
      expect(diff).toBeLessThanOrEqual(FLOAT16_ATTENTION_TOLERANCE);
    } finally {
      await fp16.dispose();
    }
  });

  it('a left-padded batch, which its kernel cannot mask, attends with the plain ops: golden logits within 1e-3', async () => {
    const fp16 = await openDecoder(files.get('group-query-fp16')!, config.text);
    try {
      const names = ['text_only', 'one_image'];
      const run = await greedy(fp16, names.map(goldenPrompt), config, GOLDEN_STEPS);
      names.forEach((name, b) => expect(run.tokens[b]).toEqual(goldenSteps(name).tokens));
      for (const diff of goldenDiffs(run, names)) expect(diff).toBeLessThanOrEqual(LOGITS_TOLERANCE);
    } finally {
      await fp16.dispose();
    }
  });
});

/**
 * Which attention each layer ran for one decoder run of `rows` × `tokens` new tokens after
 * `past` cached ones (`padded`: the first row's first position is padding), read from
 * onnxruntime's profile: GroupQueryAttention, or the plain ops' Softmax (the portable graph's, or the group-query forms' fallback branch).
 */
async function attentionRun(attention: DecoderAttention, rows: number, tokens: number, past: number, padded: boolean): Promise<string> {
  const { hiddenSize, headDim, numKeyValueHeads, numHiddenLayers } = config.text;
  const folder = await newFolder(dir(), `profile-${attention}-${rows}-${tokens}-${past}-${padded}`);
  const decoder = await ort.InferenceSession.create(files.get(attention)!.decoder, { enableProfiling: true, profileFilePrefix: join(folder, 'profile') });
  const total = past + tokens;
  const mask = new BigInt64Array(rows * total).fill(1n);
  if (padded) mask[0] = 0n;
  const feeds: Record<string, ort.Tensor> = {
    inputs_embeds: new ort.Tensor('float32', new Float32Array(rows * tokens * hiddenSize).fill(0.5), [rows, tokens, hiddenSize]),
    attention_mask: new ort.Tensor('int64', mask, [rows, total]),
    rotary_cos: new ort.Tensor('float32', new Float32Array(rows * tokens * headDim).fill(1), [rows, tokens, headDim]),
    rotary_sin: new ort.Tensor('float32', new Float32Array(rows * tokens * headDim), [rows, tokens, headDim]),
    num_logits_to_keep: new ort.Tensor('int64', BigInt64Array.of(1n), []),
  };
  for (let layer = 0; layer < numHiddenLayers; layer++) {
    for (const part of ['key', 'value']) {
      feeds[`past_key_values.${layer}.${part}`] = new ort.Tensor('float32', new Float32Array(rows * numKeyValueHeads * past * headDim).fill(0.25), [rows, numKeyValueHeads, past, headDim]);
    }
  }
  try {
    await decoder.run(feeds);
    decoder.endProfiling();
  } finally {
    await decoder.release();
  }
  const [profile] = await readdir(folder);
  const events = JSON.parse(await readFile(join(folder, profile), 'utf8')) as { cat: string; name: string; args?: { op_name?: string } }[];
  const kinds = new Set(
    events
      .filter((event) => event.cat === 'Node' && /^model\.layers\.\d+\.self_attn\//.test(event.name))
      .map((event) => (event.args?.op_name === 'GroupQueryAttention' ? 'group-query' : event.args?.op_name === 'Softmax' ? 'plain' : undefined))
      .filter((kind) => kind !== undefined),
  );
  return [...kinds].sort().join(' + ');
}

describe('which runs the group-query forms give GroupQueryAttention', () => {
  // [rows, new tokens, cached, padded]: prompt, decode step, a cached conversation's next turn, padded batches, a batch's later prompt chunk.
  const runs: [number, number, number, boolean, string, string][] = [
    [1, 5, 0, false, 'group-query', 'group-query'],
    [1, 1, 4, false, 'group-query', 'group-query'],
    [1, 3, 2, false, 'group-query', 'group-query'],
    [2, 3, 0, false, 'group-query', 'group-query'],
    [2, 1, 4, false, 'group-query', 'group-query'],
    [2, 3, 0, true, 'group-query', 'plain'],
    [2, 1, 4, true, 'group-query', 'plain'],
    // The kernel refuses several rows each adding several tokens to a cache.
    [2, 3, 2, false, 'plain', 'plain'],
  ];
  it.each(runs)('%i rows × %i new tokens after %i cached (padded: %s): the CPU form runs %s, the CUDA form %s', async (rows, tokens, past, padded, cpu, cuda) => {
    expect(await attentionRun('group-query', rows, tokens, past, padded)).toBe(cpu);
    expect(await attentionRun('group-query-fp16', rows, tokens, past, padded)).toBe(cuda);
  });

  it('the portable graph attends with the plain ops only', async () => {
    expect(await attentionRun('plain', 1, 5, 0, false)).toBe('plain');
  });
});

async function resultOf(stream: AsyncGenerator<unknown, GenerationResult>): Promise<GenerationResult> {
  for (;;) {
    const next = await stream.next();
    if (next.done === true) return next.value;
  }
}
