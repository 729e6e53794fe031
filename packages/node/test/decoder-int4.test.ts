import { mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dequantizeBlockwise, quantizeBlockwise } from '@qwen-vl/builder';
import type { Checkpoint, DecoderAttention } from '@qwen-vl/builder';
import type { AccuracyLevel } from '@qwen-vl/pipeline';
import type { ModelConfig, TextConfig } from '@qwen-vl/core';
import type { DecoderSession } from '@qwen-vl/decoder';
import { GOLDEN_CASES, LOGITS_TOLERANCE, goldenPrompt, goldenSteps, maxAbsDiff } from '@qwen-vl/test-support';
import type { GoldenPrompt } from '@qwen-vl/test-support';
import { batchInputs, exportTextModels, goldenModel, greedy, openDecoder } from './decoder-fixtures.js';
import { useTempDir } from './helpers/temp-dir.js';

/**
 * The float64 text reference of the builder's tests. Imported by a computed path: it lies
 * outside this package's TypeScript root, so its types are restated here.
 */
interface ReferencePrompt {
  readonly embeds: Float64Array;
  readonly positions: Int32Array;
  readonly ropeDelta: number;
}
type GreedyReference = (prompt: ReferencePrompt, steps: number, weight: (name: string) => Float32Array, text: TextConfig) => { logits: Float64Array[]; tokens: number[] };
const referencePath = fileURLToPath(new URL('../../builder/test/reference/text-decoder.ts', import.meta.url));
const { greedyReference } = (await import(referencePath)) as { greedyReference: GreedyReference };

/**
 * int4 text graphs (MatMulNBits for every linear layer and the lm_head, GatherBlockQuantized
 * for the embedding table) of the golden tiny model. At accuracy level 0 onnxruntime computes
 * in float32 on the dequantized weights, so the graphs must match a float64 reference run on
 * those same dequantized weights as closely as fp32 graphs match the golden reference.
 */
const STEPS = 8;
const BLOCK_SIZE = 32;

const dir = useTempDir('qwen-vl-int4-');
let checkpoint: Checkpoint;
let config: ModelConfig;
const weights = new Map<string, Float32Array>();
const dequantized = new Map<string, Float32Array>();
/** By attention and accuracy level: `plain 0`, `plain 4`, `group-query 0` (the CPU build's decoder). */
const sessions = new Map<`${DecoderAttention} ${AccuracyLevel}`, DecoderSession>();

beforeAll(async () => {
  ({ checkpoint, config } = await goldenModel());
  for (const name of checkpoint.names()) {
    if (name.startsWith('visual.')) continue;
    const values = await checkpoint.readFloat32(name);
    const shape = checkpoint.info(name).shape;
    weights.set(name, values);
    // Every 2-D text tensor is quantized: the linear layers, the embedding table, the lm_head.
    dequantized.set(name, shape.length === 2 ? dequantizeBlockwise(quantizeBlockwise(values, shape[0], shape[1], 4, BLOCK_SIZE)) : values);
  }
  for (const [attention, accuracyLevel] of [
    ['plain', 0],
    ['plain', 4],
    ['group-query', 0],
  ] as const) {
    const folder = join(dir(), `${attention}-level-${accuracyLevel}`);
    await mkdir(folder);
    const files = await exportTextModels(checkpoint, config.text, folder, { precision: 'int4', quantization: { blockSize: BLOCK_SIZE, accuracyLevel }, attention });
    sessions.set(`${attention} ${accuracyLevel}`, await openDecoder(files, config.text));
  }
}, 60_000);
afterAll(async () => {
  for (const session of sessions.values()) await session.dispose();
});

/** The prompt as the reference takes it: embedding rows of `table` with the golden vision features in place of the pad tokens. */
function referencePrompt(prompt: GoldenPrompt, table: Float32Array): ReferencePrompt {
  const hidden = config.text.hiddenSize;
  const { positions } = batchInputs([prompt.ids], prompt.grids, config, 0);
  const embeds = new Float64Array(prompt.ids.length * hidden);
  let feature = 0;
  prompt.ids.forEach((id, i) => {
    const isVision = id === config.imageTokenId || id === config.videoTokenId;
    const row = isVision ? prompt.imageFeatures!.data.subarray(feature * hidden, (feature + 1) * hidden) : table.subarray(id * hidden, (id + 1) * hidden);
    if (isVision) feature++;
    embeds.set(row, i * hidden);
  });
  return { embeds, positions: positions.positionIds, ropeDelta: positions.ropeDeltas[0] };
}

function reference(name: string, tensors: ReadonlyMap<string, Float32Array>) {
  return greedyReference(referencePrompt(goldenPrompt(name), tensors.get('model.embed_tokens.weight')!), STEPS, (tensor) => tensors.get(tensor)!, config.text);
}

describe('int4 text graphs', () => {
  it('the float64 reference reproduces the golden logits from the checkpoint weights (the oracle is sound)', () => {
    for (const { name } of GOLDEN_CASES) {
      const run = reference(name, weights);
      const golden = goldenSteps(name);
      const diff = Math.max(...run.logits.map((row, step) => maxAbsDiff(row, golden.logits(step))));
      console.info(`reference ${name}: max |Δlogit| vs golden ${diff.toExponential(2)}`);
      expect(run.tokens).toEqual(golden.tokens);
      expect(diff).toBeLessThanOrEqual(1e-4);
    }
  });

  // The plain-op decoder, and the CPU build's, whose GroupQueryAttention is independent of the MatMulNBits layers.
  it.each(GOLDEN_CASES.flatMap(({ name }) => (['plain', 'group-query'] as const).map((attention) => ({ name, attention }))))(
    '$name: accuracy level 0 matches the float64 reference on the dequantized weights within 1e-3, token for token ($attention attention)',
    async ({ name, attention }) => {
      const expected = reference(name, dequantized);
      const run = await greedy(sessions.get(`${attention} 0`)!, [goldenPrompt(name)], config, STEPS);
      const diff = Math.max(...run.logits.map(([row], step) => maxAbsDiff(row, expected.logits[step])));
      const golden = goldenSteps(name);
      const vsFp32 = Math.max(...run.logits.map(([row], step) => maxAbsDiff(row, golden.logits(step))));
      const sameAsFp32 = run.tokens[0].filter((token, step) => token === golden.tokens[step]).length;
      console.info(`int4 level 0 ${attention} ${name}: max |Δlogit| vs reference ${diff.toExponential(2)}; vs fp32 golden ${vsFp32.toExponential(2)}, ${sameAsFp32}/${STEPS} greedy tokens equal`);
      expect(run.tokens[0]).toEqual(expected.tokens);
      expect(diff).toBeLessThanOrEqual(LOGITS_TOLERANCE);
    },
  );

  it('accuracy level 4 (int8 arithmetic on the CPU) stays within 2% of the logit range of level 0 (measured 0.7–1.2% on this random model)', async () => {
    for (const { name } of GOLDEN_CASES) {
      const prompt = [goldenPrompt(name)];
      const [exact] = (await greedy(sessions.get('plain 0')!, prompt, config, 1)).logits[0];
      const [fast] = (await greedy(sessions.get('plain 4')!, prompt, config, 1)).logits[0];
      const range = exact.reduce((max, v) => Math.max(max, v), -Infinity) - exact.reduce((min, v) => Math.min(min, v), Infinity);
      const diff = maxAbsDiff(fast, exact);
      console.info(`int4 level 4 ${name}: prefill max |Δlogit| vs level 0 ${diff.toExponential(2)} (logit range ${range.toFixed(1)})`);
      expect(diff / range).toBeLessThan(0.02);
    }
  });
});
