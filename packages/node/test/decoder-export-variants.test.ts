import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { concatBytes, encodeSafetensors, generateTinyCheckpoint } from '@qwen-vl/builder';
import { parseModelConfig } from '@qwen-vl/core';
import type { Checkpoint, SafetensorsTensorInput } from '@qwen-vl/builder';
import type { ModelConfig } from '@qwen-vl/core';
import { argmax } from '@qwen-vl/decoder';
import { LOGITS_TOLERANCE, goldenPrompt, goldenSteps, maxAbsDiff } from '@qwen-vl/test-support';
import { batchInputs, embedPrompts, exportTextModels, folderCheckpoint, goldenModel, openDecoder } from './decoder-fixtures.js';
import { newFolder, useTempDir } from './helpers/temp-dir.js';

/** Export options beyond the golden fp32 run: fp16 weight storage, tied embeddings. */

const dir = useTempDir('qwen-vl-decoder-variants-');

describe('text decoder export variants', () => {
  // The plain-op decoder and the CPU build's GroupQueryAttention one: the attention is independent of how weights are stored.
  it.each(['plain', 'group-query'] as const)('fp16 weight storage reproduces the golden one_image run (the bf16 weights are exact in fp16), %s attention', async (attention) => {
    const { checkpoint, config } = await goldenModel();
    const decoder = await openDecoder(await exportTextModels(checkpoint, config.text, await newFolder(dir(), `fp16-${attention}`), { precision: 'fp16', attention }), config.text);
    try {
      const golden = goldenSteps('one_image');
      const { inputsEmbeds, attentionMask, positions } = await embedPrompts(decoder, [goldenPrompt('one_image')], config);
      let logits = await decoder.prefill({ inputsEmbeds, attentionMask, positions });
      for (let step = 0; step < golden.tokens.length; step++) {
        expect(maxAbsDiff(logits.data, golden.logits(step))).toBeLessThanOrEqual(LOGITS_TOLERANCE);
        const token = argmax(logits.data);
        expect(token).toBe(golden.tokens[step]);
        logits = await decoder.step([token]);
      }
    } finally {
      await decoder.dispose();
    }
  });

  it('a tied checkpoint projects logits with its embedding table: same logits as an untied copy whose lm_head is that table', async () => {
    const tied = generateTinyCheckpoint({ seed: 7, text: { tieWordEmbeddings: true, vocabSize: 1000 } });
    const tiedConfig = parseModelConfig(JSON.parse(tied.files.get('config.json') as string));
    const tiedCheckpoint = await writeCheckpoint('tied', tied.files.get('model.safetensors') as Uint8Array);
    const untiedCheckpoint = await writeCheckpoint('untied', await withLmHead(tiedCheckpoint));
    const untiedConfig: ModelConfig = { ...tiedConfig, text: { ...tiedConfig.text, tieWordEmbeddings: false } };

    const prompt = [[3, 141, 59, 26, 535, 897, 93, 238]];
    const run = async (checkpoint: Checkpoint, config: ModelConfig, name: string) => {
      const decoder = await openDecoder(await exportTextModels(checkpoint, config.text, await newFolder(dir(), name)), config.text);
      try {
        const { inputIds, attentionMask, positions } = batchInputs(prompt, [], config, 0);
        const first = await decoder.prefill({ inputsEmbeds: await decoder.embed(inputIds), attentionMask, positions });
        const second = await decoder.step([argmax(first.data)]);
        return [first.data, second.data];
      } finally {
        await decoder.dispose();
      }
    };
    const fromTied = await run(tiedCheckpoint, tiedConfig, 'tied-onnx');
    const fromUntied = await run(untiedCheckpoint, untiedConfig, 'untied-onnx');
    expect(fromTied[0].length).toBe(1000);
    fromTied.forEach((logits, step) => expect(maxAbsDiff(logits, fromUntied[step])).toBeLessThanOrEqual(1e-6));
  });
});

async function writeCheckpoint(name: string, safetensors: Uint8Array): Promise<Checkpoint> {
  const path = await newFolder(dir(), name);
  await writeFile(join(path, 'model.safetensors'), safetensors);
  return folderCheckpoint(path);
}

/** The checkpoint's tensors plus `lm_head.weight`, a copy of the embedding table. */
async function withLmHead(checkpoint: Checkpoint): Promise<Uint8Array> {
  const tensors: SafetensorsTensorInput[] = [];
  for (const name of checkpoint.names()) {
    const info = checkpoint.info(name);
    tensors.push({ name, dtype: info.dtype, shape: info.shape, data: await checkpoint.readRaw(name) });
  }
  const embed = checkpoint.info('model.embed_tokens.weight');
  tensors.push({ name: 'lm_head.weight', dtype: embed.dtype, shape: embed.shape, data: await checkpoint.readRaw('model.embed_tokens.weight') });
  return concatBytes(encodeSafetensors(tensors));
}
