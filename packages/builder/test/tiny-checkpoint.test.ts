import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseGenerationConfig, parseModelConfig, parsePreprocessorConfig, isQwenVLError, float32ToBf16 } from '@qwen-vl/core';
import { memoryByteSource } from '../src/safetensors/byte-source.js';
import { SafetensorsFile } from '../src/safetensors/reader.js';
import { generateTinyCheckpoint } from '../src/checkpoint/tiny-checkpoint.js';
import type { TinyCheckpointOptions } from '../src/checkpoint/tiny-checkpoint.js';
import { MODEL_DIR } from '@qwen-vl/test-support';

const golden = (name: string) => readFileSync(join(MODEL_DIR, name));

function text(files: Map<string, Uint8Array | string>, name: string): string {
  const value = files.get(name);
  if (typeof value !== 'string') throw new Error(`${name} is not text`);
  return value;
}

function weights(files: Map<string, Uint8Array | string>): Uint8Array {
  const value = files.get('model.safetensors');
  if (!(value instanceof Uint8Array)) throw new Error('model.safetensors is not bytes');
  return value;
}

function open(options: TinyCheckpointOptions = {}) {
  const { files } = generateTinyCheckpoint(options);
  return { files, file: SafetensorsFile.open(memoryByteSource('model.safetensors', weights(files))) };
}

function shapes(file: SafetensorsFile): Record<string, number[]> {
  return Object.fromEntries([...file.tensors.values()].map((t) => [t.name, t.shape]));
}

/** Byte equality without vitest's element-by-element diffing, which cannot cope with megabytes. */
function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

function stats(values: Float32Array): { mean: number; std: number; min: number; max: number } {
  let sum = 0;
  let squares = 0;
  let min = Infinity;
  let max = -Infinity;
  for (const v of values) {
    sum += v;
    squares += v * v;
    min = Math.min(min, v);
    max = Math.max(max, v);
  }
  const mean = sum / values.length;
  return { mean, std: Math.sqrt(squares / values.length - mean * mean), min, max };
}

describe('generateTinyCheckpoint with default sizes', () => {
  it('matches the golden tiny model: configs, tensor names, shapes and dtypes', async () => {
    const { files, file } = open();
    expect([...files.keys()].sort()).toEqual(['config.json', 'generation_config.json', 'model.safetensors', 'preprocessor_config.json']);
    expect(parseModelConfig(JSON.parse(text(files, 'config.json')))).toEqual(parseModelConfig(JSON.parse(golden('config.json').toString())));
    expect(parsePreprocessorConfig(JSON.parse(text(files, 'preprocessor_config.json')))).toEqual(parsePreprocessorConfig(JSON.parse(golden('preprocessor_config.json').toString())));
    expect(parseGenerationConfig(JSON.parse(text(files, 'generation_config.json')))).toEqual(parseGenerationConfig(JSON.parse(golden('generation_config.json').toString())));
    const generated = await file;
    const reference = await SafetensorsFile.open(memoryByteSource('golden', new Uint8Array(golden('model.safetensors'))));
    expect(shapes(generated)).toEqual(shapes(reference));
    expect(new Set([...generated.tensors.values()].map((t) => t.dtype))).toEqual(new Set(['BF16']));
    expect(generated.metadata).toEqual({ format: 'pt' });
  });

  it('initialises weights at the documented scales', async () => {
    const file = await open().file;
    const embed = stats(await file.readFloat32('model.embed_tokens.weight'));
    expect(Math.abs(embed.mean)).toBeLessThan(1e-3);
    expect(embed.std).toBeCloseTo(0.5 / Math.sqrt(32), 3);
    const patch = stats(await file.readFloat32('visual.patch_embed.proj.weight'));
    expect(patch.std / (0.5 / Math.sqrt(3 * 2 * 14 * 14))).toBeGreaterThan(0.97);
    expect(patch.std / (0.5 / Math.sqrt(3 * 2 * 14 * 14))).toBeLessThan(1.03);
    for (const name of ['model.norm.weight', 'visual.merger.ln_q.weight', 'visual.blocks.3.norm2.weight', 'model.layers.1.input_layernorm.weight']) {
      const norm = stats(await file.readFloat32(name));
      expect(norm.min).toBeGreaterThan(1 - 0.05 * 2 * Math.sqrt(3) - 0.01);
      expect(norm.max).toBeLessThan(1 + 0.05 * 2 * Math.sqrt(3) + 0.01);
      expect(norm.std).toBeGreaterThan(0.02);
    }
    const bias = stats(await file.readFloat32('visual.merger.mlp.0.bias'));
    expect(bias.std).toBeGreaterThan(0.01);
    expect(bias.std).toBeLessThan(0.03);
  });
});

describe('generateTinyCheckpoint determinism', () => {
  it('gives identical bytes for the same seed and different weights for another seed', async () => {
    const a = generateTinyCheckpoint({ seed: 7 }).files;
    const b = generateTinyCheckpoint({ seed: 7 }).files;
    const c = generateTinyCheckpoint({ seed: 8 }).files;
    expect(sameBytes(weights(a), weights(b))).toBe(true);
    expect(text(a, 'config.json')).toBe(text(b, 'config.json'));
    expect(weights(a).length).toBe(weights(c).length);
    const fileA = await SafetensorsFile.open(memoryByteSource('a', weights(a)));
    const fileC = await SafetensorsFile.open(memoryByteSource('c', weights(c)));
    for (const name of fileA.tensors.keys()) {
      expect(sameBytes(await fileA.readRaw(name), await fileC.readRaw(name)), name).toBe(false);
    }
  });

  it('keeps each tensor independent of the other sizes, and bf16 equal to the rounded f32 weights', async () => {
    const small = await open({ text: { vocabSize: 1000 } }).file;
    const full = await open().file;
    const f32 = await open({ dtype: 'f32', text: { vocabSize: 1000 } }).file;
    expect(sameBytes(await small.readRaw('visual.blocks.0.attn.qkv.weight'), await full.readRaw('visual.blocks.0.attn.qkv.weight'))).toBe(true);
    expect(f32.tensors.get('model.norm.weight')?.dtype).toBe('F32');
    for (const name of ['model.embed_tokens.weight', 'visual.merger.mlp.2.bias']) {
      const rounded = float32ToBf16(await f32.readFloat32(name));
      expect(sameBytes(new Uint8Array(rounded.buffer), await small.readRaw(name)), name).toBe(true);
    }
  });
});

describe('generateTinyCheckpoint with other sizes', () => {
  it('shapes every tensor by the config it writes', async () => {
    const { files, file } = open({
      seed: 3,
      text: { hiddenSize: 64, layers: 1, heads: 4, kvHeads: 2, intermediateSize: 96, vocabSize: 500, tieWordEmbeddings: true },
      vision: { hiddenSize: 48, depth: 3, heads: 3, intermediateSize: 80, windowSize: 56, fullAttBlockIndexes: [0, 2] },
    });
    const config = parseModelConfig(JSON.parse(text(files, 'config.json')));
    expect(config.vision).toMatchObject({ hiddenSize: 48, depth: 3, numHeads: 3, intermediateSize: 80, windowSize: 56, fullAttBlockIndexes: [0, 2], outHiddenSize: 64 });
    expect(config.text).toMatchObject({ hiddenSize: 64, numHiddenLayers: 1, numAttentionHeads: 4, numKeyValueHeads: 2, headDim: 16, vocabSize: 500, tieWordEmbeddings: true });
    const expected: Record<string, number[]> = {
      'visual.patch_embed.proj.weight': [48, 3, 2, 14, 14],
      'visual.merger.ln_q.weight': [48],
      'visual.merger.mlp.0.weight': [192, 192],
      'visual.merger.mlp.0.bias': [192],
      'visual.merger.mlp.2.weight': [64, 192],
      'visual.merger.mlp.2.bias': [64],
      'model.embed_tokens.weight': [500, 64],
      'model.norm.weight': [64],
      'model.layers.0.input_layernorm.weight': [64],
      'model.layers.0.post_attention_layernorm.weight': [64],
      'model.layers.0.self_attn.q_proj.weight': [64, 64],
      'model.layers.0.self_attn.q_proj.bias': [64],
      'model.layers.0.self_attn.k_proj.weight': [32, 64],
      'model.layers.0.self_attn.k_proj.bias': [32],
      'model.layers.0.self_attn.v_proj.weight': [32, 64],
      'model.layers.0.self_attn.v_proj.bias': [32],
      'model.layers.0.self_attn.o_proj.weight': [64, 64],
      'model.layers.0.mlp.gate_proj.weight': [96, 64],
      'model.layers.0.mlp.up_proj.weight': [96, 64],
      'model.layers.0.mlp.down_proj.weight': [64, 96],
    };
    for (let i = 0; i < 3; i++) {
      Object.assign(expected, {
        [`visual.blocks.${i}.norm1.weight`]: [48],
        [`visual.blocks.${i}.norm2.weight`]: [48],
        [`visual.blocks.${i}.attn.qkv.weight`]: [144, 48],
        [`visual.blocks.${i}.attn.qkv.bias`]: [144],
        [`visual.blocks.${i}.attn.proj.weight`]: [48, 48],
        [`visual.blocks.${i}.attn.proj.bias`]: [48],
        [`visual.blocks.${i}.mlp.gate_proj.weight`]: [80, 48],
        [`visual.blocks.${i}.mlp.gate_proj.bias`]: [80],
        [`visual.blocks.${i}.mlp.up_proj.weight`]: [80, 48],
        [`visual.blocks.${i}.mlp.up_proj.bias`]: [80],
        [`visual.blocks.${i}.mlp.down_proj.weight`]: [48, 80],
        [`visual.blocks.${i}.mlp.down_proj.bias`]: [48],
      });
    }
    expect(shapes(await file)).toEqual(expected); // tied embeddings: no lm_head.weight
  });

  it('rejects options that make an invalid model', () => {
    const reason = (options: TinyCheckpointOptions) => {
      try {
        generateTinyCheckpoint(options);
      } catch (error) {
        return isQwenVLError(error) ? `${error.code} ${error.message}` : String(error);
      }
      return 'no error';
    };
    expect(reason({ text: { mropeSection: [2, 2, 2] } })).toBe('INVALID_CONFIG generated config.json: mrope_section [2,2,2] must sum to head_dim/2 = 8');
    expect(reason({ vision: { hiddenSize: 50, heads: 3 } })).toBe('INVALID_CONFIG generated config.json: vision hidden_size 50 is not a multiple of num_heads 3');
    expect(reason({ seed: -1 })).toBe('INVALID_ARGUMENT seed: must be an integer in [0, 2^32), got -1');
  });
});
