import { describe, expect, it } from 'vitest';
import { parseModelConfig } from '@qwen-vl/core';
import type { ModelConfig } from '@qwen-vl/core';
import { KEY_NAMINGS, canonicalTensorName, checkpointKey, checkpointTensors, textTensors, visionTensors } from '../src/checkpoint/layout.js';
import { generateTinyCheckpoint } from '../src/checkpoint/tiny-checkpoint.js';
import type { TinyCheckpointOptions } from '../src/checkpoint/tiny-checkpoint.js';
import { Checkpoint } from '../src/safetensors/checkpoint.js';
import { memoryByteSource } from '../src/safetensors/byte-source.js';
import { SafetensorsFile } from '../src/safetensors/reader.js';

function tiny(options: TinyCheckpointOptions): { config: ModelConfig; bytes: Uint8Array } {
  const { files } = generateTinyCheckpoint(options);
  return { config: parseModelConfig(JSON.parse(files.get('config.json') as string)), bytes: files.get('model.safetensors') as Uint8Array };
}

const openCheckpoint = (bytes: Uint8Array) =>
  Checkpoint.open({ exists: async (name) => name === 'model.safetensors', readText: async () => '', openBytes: async (name) => memoryByteSource(name, bytes) });

/** Qwen2.5-VL-3B's config.json sizes (Hub), for counts independent of the tiny generator. */
const CONFIG_3B = parseModelConfig({
  hidden_size: 2048,
  num_attention_heads: 16,
  num_key_value_heads: 2,
  num_hidden_layers: 36,
  intermediate_size: 11008,
  vocab_size: 151936,
  tie_word_embeddings: true,
  rope_scaling: { type: 'mrope', mrope_section: [16, 24, 24] },
  vision_config: { depth: 32, hidden_size: 1280, num_heads: 16, intermediate_size: 3420, out_hidden_size: 2048, fullatt_block_indexes: [7, 15, 23, 31], window_size: 112 },
});

describe('checkpoint layout', () => {
  it('gives the 3B checkpoint its tensors: 12 per vision block, 12 per text layer, no lm_head when tied', () => {
    const vision = visionTensors(CONFIG_3B.vision);
    const text = textTensors(CONFIG_3B.text);
    expect(vision).toHaveLength(1 + 32 * 12 + 5);
    expect(text).toHaveLength(1 + 36 * 12 + 1);
    expect(checkpointTensors(CONFIG_3B)).toEqual([...vision, ...text]);
    const shape = (name: string) => checkpointTensors(CONFIG_3B).find((spec) => spec.name === name)?.shape;
    expect(shape('visual.patch_embed.proj.weight')).toEqual([1280, 3, 2, 14, 14]);
    expect(shape('visual.merger.mlp.0.weight')).toEqual([5120, 5120]);
    expect(shape('visual.merger.mlp.2.weight')).toEqual([2048, 5120]);
    expect(shape('model.layers.35.self_attn.k_proj.weight')).toEqual([256, 2048]);
    expect(shape('model.layers.35.self_attn.o_proj.bias')).toBeUndefined();
    expect(shape('lm_head.weight')).toBeUndefined();
    expect(textTensors({ ...CONFIG_3B.text, tieWordEmbeddings: false }).at(-1)).toEqual({ name: 'lm_head.weight', shape: [151936, 2048], kind: 'weight' });
    const kinds = new Map(checkpointTensors(CONFIG_3B).map((spec) => [spec.name, spec.kind]));
    expect([
      kinds.get('visual.blocks.0.norm1.weight'),
      kinds.get('visual.merger.ln_q.weight'),
      kinds.get('model.norm.weight'),
      kinds.get('visual.blocks.0.attn.qkv.bias'),
      kinds.get('model.embed_tokens.weight'),
    ]).toEqual(['norm', 'norm', 'norm', 'bias', 'weight']);
  });

  it('spells every canonical name in both key namings and reads either back to it', () => {
    expect(KEY_NAMINGS.map((naming) => checkpointKey('visual.blocks.0.attn.qkv.weight', naming))).toEqual(['visual.blocks.0.attn.qkv.weight', 'model.visual.blocks.0.attn.qkv.weight']);
    expect(KEY_NAMINGS.map((naming) => checkpointKey('model.layers.3.mlp.up_proj.weight', naming))).toEqual(['model.layers.3.mlp.up_proj.weight', 'model.language_model.layers.3.mlp.up_proj.weight']);
    expect(checkpointKey('model.embed_tokens.weight', 'nested')).toBe('model.language_model.embed_tokens.weight');
    expect(checkpointKey('model.norm.weight', 'nested')).toBe('model.language_model.norm.weight');
    expect(checkpointKey('lm_head.weight', 'nested')).toBe('lm_head.weight');
    const names = checkpointTensors({ ...CONFIG_3B, text: { ...CONFIG_3B.text, tieWordEmbeddings: false } }).map((spec) => spec.name);
    for (const naming of KEY_NAMINGS) expect(names.map((name) => canonicalTensorName(checkpointKey(name, naming)))).toEqual(names);
  });

  it('is exactly what the tiny checkpoint generator writes, in order, for several configs', async () => {
    for (const options of [{}, { text: { tieWordEmbeddings: true, vocabSize: 500 }, vision: { depth: 3, fullAttBlockIndexes: [0] } }] as TinyCheckpointOptions[]) {
      const { config, bytes } = tiny(options);
      const file = await SafetensorsFile.open(memoryByteSource('model.safetensors', bytes));
      expect([...file.tensors.values()].map((t) => ({ name: t.name, shape: t.shape }))).toEqual(checkpointTensors(config).map(({ name, shape }) => ({ name, shape })));
    }
  });

  it('a tiny checkpoint with nested keys holds the same tensors, and opens to the canonical names', async () => {
    const original = tiny({ seed: 5, text: { vocabSize: 300 } });
    const nested = tiny({ seed: 5, text: { vocabSize: 300 }, keyNaming: 'nested' });
    const nestedFile = await SafetensorsFile.open(memoryByteSource('nested', nested.bytes));
    expect([...nestedFile.tensors.keys()]).toContain('model.visual.merger.ln_q.weight');
    expect([...nestedFile.tensors.keys()]).toContain('model.language_model.layers.0.self_attn.q_proj.bias');
    const [a, b] = await Promise.all([openCheckpoint(original.bytes), openCheckpoint(nested.bytes)]);
    expect(b.names()).toEqual(checkpointTensors(nested.config).map((spec) => spec.name));
    for (const name of a.names()) expect(Buffer.from(await b.readRaw(name)).equals(Buffer.from(await a.readRaw(name))), name).toBe(true);
  });
});
