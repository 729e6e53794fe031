import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROVIDER_ATTENTION } from '@qwen-vl/builder';
import type { Checkpoint, TextExportOptions } from '@qwen-vl/builder';
import type { ModelConfig } from '@qwen-vl/core';
import type { DecoderSession } from '@qwen-vl/decoder';
import { GOLDEN_CASES, goldenPrompt, maxAbsDiff } from '@qwen-vl/test-support';
import { exportTextModels, goldenModel, greedy, openDecoder } from './decoder-fixtures.js';
import { useTempDir } from './helpers/temp-dir.js';

/**
 * Each text precision of the CPU build against fp32 on the golden cases, over 32 greedy
 * tokens: max |Δlogit| with both fed fp32's tokens (teacher forcing, so every step compares
 * the same context), and how many of its own greedy tokens equal fp32's. The golden model's
 * weights are random bf16 (logits spanning ~190), which 4 bits per weight move a long way;
 * the answer accuracy of a trained model per precision is `pnpm eval`'s.
 */
const STEPS = 32;
const PRECISIONS: readonly { label: string; options: TextExportOptions }[] = [
  { label: 'fp16', options: { precision: 'fp16' } },
  { label: 'int4 level 0', options: { precision: 'int4', quantization: { blockSize: 32, accuracyLevel: 0 } } },
  { label: 'int4 level 4', options: { precision: 'int4', quantization: { blockSize: 32, accuracyLevel: 4 } } },
];

const dir = useTempDir('qwen-vl-precision-');
let checkpoint: Checkpoint;
let config: ModelConfig;
const sessions = new Map<string, DecoderSession>();

async function open(label: string, options: TextExportOptions): Promise<DecoderSession> {
  const folder = join(dir(), label.replace(/ /g, '-'));
  await mkdir(folder);
  return openDecoder(await exportTextModels(checkpoint, config.text, folder, { ...options, attention: PROVIDER_ATTENTION.cpu }), config.text);
}

beforeAll(async () => {
  ({ checkpoint, config } = await goldenModel());
  sessions.set('fp32', await open('fp32', { precision: 'fp32' }));
  for (const { label, options } of PRECISIONS) sessions.set(label, await open(label, options));
}, 60_000);
afterAll(async () => {
  for (const session of sessions.values()) await session.dispose();
});

/** Per golden case: max |Δlogit| against fp32 on fp32's path, greedy tokens equal to fp32's, and fp32's logit range. */
async function compare(label: string) {
  const rows = [];
  for (const { name } of GOLDEN_CASES) {
    const prompt = [goldenPrompt(name)];
    const fp32 = await greedy(sessions.get('fp32')!, prompt, config, STEPS);
    const own = await greedy(sessions.get(label)!, prompt, config, STEPS);
    const forced = await greedy(sessions.get(label)!, prompt, config, STEPS, fp32.tokens);
    const maxDiff = Math.max(...forced.logits.map(([row], step) => maxAbsDiff(row, fp32.logits[step][0])));
    const range = Math.max(...fp32.logits.map(([row]) => row.reduce((max, v) => Math.max(max, v), -Infinity) - row.reduce((min, v) => Math.min(min, v), Infinity)));
    const same = own.tokens[0].filter((token, step) => token === fp32.tokens[0][step]).length;
    console.info(`${label} ${name}: max |Δlogit| vs fp32 ${maxDiff.toExponential(2)} (fp32 logit range ${range.toFixed(1)}); ${same}/${STEPS} greedy tokens equal`);
    rows.push({ name, maxDiff, range, same });
  }
  return rows;
}

describe('text precisions against fp32 on the golden cases, 32 greedy tokens', () => {
  // The golden weights are bf16, which float16 holds exactly at their magnitudes, and the CPU
  // computes in float32 either way: fp16 storage changes nothing but float32 rounding order.
  it('fp16 weights: logits within 1e-5 of fp32 (measured 9.5e-7), every greedy token the same', async () => {
    for (const { maxDiff, same } of await compare('fp16')) {
      expect(maxDiff).toBeLessThan(1e-5);
      expect(same).toBe(STEPS);
    }
  });

  it.each(['int4 level 0', 'int4 level 4'])('%s: logits within 40% of the logit range of fp32 on its path (measured 14-26%)', async (label) => {
    for (const { maxDiff, range } of await compare(label)) {
      expect(maxDiff).toBeLessThan(0.4 * range);
    }
  });
});
