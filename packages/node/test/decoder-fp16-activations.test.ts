import { beforeAll, describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import type { DecoderAttention } from '@qwen-vl/builder';
import type { ModelConfig } from '@qwen-vl/core';
import { GOLDEN_CASES, GOLDEN_STEPS, goldenPrompt, goldenSteps, maxAbsDiff } from '@qwen-vl/test-support';
import { exportTextModels, goldenModel, greedy, openDecoder } from './decoder-fixtures.js';
import type { TextModelFiles } from './decoder-fixtures.js';
import { newFolder, useTempDir } from './helpers/temp-dir.js';

/**
 * The decoders of fp16 and int4 builds for CUDA (`group-query-fp16`) and DirectML (`plain`),
 * which compute in float16 (`activations: 'float16'`: fp16 and q4f16), run on
 * onnxruntime-node's CPU float16 kernels against the float64 reference (fp16) and against the
 * int4 build on float32 activations (q4f16): no GPU here, so this checks the graphs, not the
 * providers.
 */

/**
 * The logits are float16 values widened (what the lm_head computes), 1/32 apart at the golden
 * logits' magnitudes, and every layer rounds its activations to float16: measured up to
 * 6.9e-2 off the reference, with the golden tokens. The float32 graphs are within 1e-4; a
 * cache, position or mask mistake moves logits by 0.1 or more.
 */
const FLOAT16_ACTIVATIONS_TOLERANCE = 0.1;

/**
 * q4f16 against q4 on the same 4-bit weights (accuracy level 0: float arithmetic on the
 * dequantized blocks), its scales rounded to float16 and its activations float16: measured up
 * to 0.16 apart, in logits ranging over 184-218, with the same greedy tokens.
 */
const Q4F16_TOLERANCE = 0.3;

const dir = useTempDir('qwen-vl-fp16-activations-');
let config: ModelConfig;
const files = new Map<DecoderAttention, TextModelFiles>();

beforeAll(async () => {
  const golden = await goldenModel();
  config = golden.config;
  for (const attention of ['plain', 'group-query-fp16'] as const) {
    files.set(attention, await exportTextModels(golden.checkpoint, config.text, await newFolder(dir(), attention), { precision: 'fp16', attention, activations: 'float16' }));
  }
});

describe.each(['plain', 'group-query-fp16'] as const)('float16 activations, %s attention', (attention) => {
  it('keeps the cache in float16', async () => {
    const session = await ort.InferenceSession.create(files.get(attention)!.decoder);
    try {
      const types = (metadata: readonly ort.InferenceSession.ValueMetadata[]) => Object.fromEntries(metadata.map((value) => [value.name, value.isTensor ? value.type : undefined]));
      expect(types(session.inputMetadata)).toMatchObject({ inputs_embeds: 'float32', 'past_key_values.0.key': 'float16', 'past_key_values.1.value': 'float16' });
      expect(types(session.outputMetadata)).toMatchObject({ logits: 'float32', 'present.0.key': 'float16', 'present.1.value': 'float16' });
    } finally {
      await session.release();
    }
  });

  it('gives every golden case its golden tokens, alone and in a left-padded batch, logits within the float16 tolerance', async () => {
    const session = await openDecoder(files.get(attention)!, config.text);
    try {
      const diffs: number[] = [];
      for (const { name } of GOLDEN_CASES) {
        const run = await greedy(session, [goldenPrompt(name)], config, GOLDEN_STEPS);
        expect(run.tokens[0]).toEqual(goldenSteps(name).tokens);
        diffs.push(Math.max(...run.logits.map((rows, step) => maxAbsDiff(rows[0], goldenSteps(name).logits(step)))));
      }
      // Left padding: the CUDA form's kernel cannot mask it, so these runs take the plain ops inside its If.
      const names = ['text_only', 'one_image', 'two_images'];
      const batch = await greedy(session, names.map(goldenPrompt), config, GOLDEN_STEPS);
      names.forEach((name, b) => {
        expect(batch.tokens[b]).toEqual(goldenSteps(name).tokens);
        diffs.push(Math.max(...batch.logits.map((rows, step) => maxAbsDiff(rows[b], goldenSteps(name).logits(step)))));
      });
      console.info(`float16 activations, ${attention}: max |logit diff| per case ${diffs.map((d) => d.toExponential(2)).join(' ')}`);
      for (const diff of diffs) expect(diff).toBeLessThanOrEqual(FLOAT16_ACTIVATIONS_TOLERANCE);
    } finally {
      await session.dispose();
    }
  });
});

describe.each(['plain', 'group-query-fp16'] as const)('q4f16 (int4 weights, float16 activations), %s attention', (attention) => {
  it("gives the int4 build's greedy tokens on every golden case, logits within the q4f16 tolerance of it", async () => {
    const { checkpoint } = await goldenModel();
    const quantization = { blockSize: 32, accuracyLevel: 0 } as const;
    const folder = await newFolder(dir(), `q4-${attention}`);
    const q4 = await openDecoder(await exportTextModels(checkpoint, config.text, await newFolder(folder, 'q4'), { precision: 'int4', quantization, attention }), config.text);
    const q4f16Files = await exportTextModels(checkpoint, config.text, await newFolder(folder, 'q4f16'), { precision: 'int4', quantization, attention, activations: 'float16' });
    const q4f16 = await openDecoder(q4f16Files, config.text);
    try {
      const diffs: number[] = [];
      for (const { name } of GOLDEN_CASES) {
        const reference = await greedy(q4, [goldenPrompt(name)], config, GOLDEN_STEPS);
        const run = await greedy(q4f16, [goldenPrompt(name)], config, GOLDEN_STEPS, reference.tokens);
        expect(run.tokens).toEqual(reference.tokens);
        diffs.push(Math.max(...run.logits.map((rows, step) => maxAbsDiff(rows[0], reference.logits[step][0]))));
      }
      console.info(`q4f16, ${attention}: max |logit diff| to q4 per case ${diffs.map((d) => d.toExponential(2)).join(' ')}`);
      for (const diff of diffs) expect(diff).toBeLessThanOrEqual(Q4F16_TOLERANCE);
    } finally {
      await Promise.all([q4.dispose(), q4f16.dispose()]);
    }
  });
});
