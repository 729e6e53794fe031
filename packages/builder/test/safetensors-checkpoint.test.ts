import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { QwenVLError, isQwenVLError } from '@qwen-vl/core';
import type { QwenVLErrorCode } from '@qwen-vl/core';
import { memoryByteSource } from '../src/safetensors/byte-source.js';
import { Checkpoint } from '../src/safetensors/checkpoint.js';
import type { CheckpointFolder } from '../src/safetensors/checkpoint.js';
import { SafetensorsFile } from '../src/safetensors/reader.js';
import { concatBytes, encodeSafetensors } from '../src/safetensors/writer.js';
import { MODEL_DIR } from '@qwen-vl/test-support';

const goldenBytes = new Uint8Array(readFileSync(join(MODEL_DIR, 'model.safetensors')));

function memoryFolder(files: Record<string, Uint8Array | string>): CheckpointFolder {
  return {
    location: 'mem',
    exists: async (name) => name in files,
    readText: async (name) => files[name] as string,
    openBytes: async (name) => memoryByteSource(name, files[name] as Uint8Array),
  };
}

/** A safetensors file whose tensor `k` holds the float32 values `[k.length, i]` for its index i. */
function fileWith(...names: string[]): Uint8Array {
  return concatBytes(encodeSafetensors(names.map((name, i) => ({ name, dtype: 'F32', shape: [2], data: new Uint8Array(new Float32Array([name.length, i]).buffer) }))));
}

async function rejection(promise: Promise<unknown>, code: QwenVLErrorCode): Promise<string> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isQwenVLError(error, code), `expected ${code}, got ${String(error)}`).toBe(true);
  return (error as QwenVLError).message;
}

describe('Checkpoint', () => {
  it('opens a single model.safetensors and reads it like the file itself', async () => {
    const checkpoint = await Checkpoint.open(memoryFolder({ 'model.safetensors': goldenBytes }));
    const file = await SafetensorsFile.open(memoryByteSource('model.safetensors', goldenBytes));
    expect(checkpoint.names().sort()).toEqual([...file.tensors.keys()].sort());
    expect(checkpoint.names()).toHaveLength(81);
    expect(checkpoint.info('visual.merger.mlp.0.weight').shape).toEqual([128, 128]);
    expect(await checkpoint.readFloat32('model.layers.1.self_attn.k_proj.bias')).toEqual(await file.readFloat32('model.layers.1.self_attn.k_proj.bias'));
  });

  it('exposes newer key names under the canonical ones', async () => {
    const bytes = fileWith('model.visual.blocks.0.norm1.weight', 'model.language_model.layers.0.input_layernorm.weight', 'model.language_model.norm.weight', 'lm_head.weight');
    const checkpoint = await Checkpoint.open(memoryFolder({ 'model.safetensors': bytes }));
    expect(checkpoint.names()).toEqual(['visual.blocks.0.norm1.weight', 'model.layers.0.input_layernorm.weight', 'model.norm.weight', 'lm_head.weight']);
    expect(checkpoint.has('visual.blocks.0.norm1.weight')).toBe(true);
    expect(checkpoint.has('model.visual.blocks.0.norm1.weight')).toBe(false);
    expect(checkpoint.info('model.norm.weight').name).toBe('model.language_model.norm.weight');
    expect([...(await checkpoint.readFloat32('model.norm.weight'))]).toEqual(['model.language_model.norm.weight'.length, 2]);
    expect([...(await checkpoint.readFloat32('visual.blocks.0.norm1.weight'))]).toEqual(['model.visual.blocks.0.norm1.weight'.length, 0]);
  });

  it('rejects a file holding one weight under both namings', async () => {
    const bytes = fileWith('visual.merger.ln_q.weight', 'model.visual.merger.ln_q.weight');
    const message = await rejection(Checkpoint.open(memoryFolder({ 'model.safetensors': bytes })), 'INVALID_WEIGHTS');
    expect(message).toBe(
      'model.safetensors tensor "model.visual.merger.ln_q.weight": holds the same weight as tensor "visual.merger.ln_q.weight" in model.safetensors (both are "visual.merger.ln_q.weight")',
    );
  });

  it('names a missing tensor and the checkpoint', async () => {
    const checkpoint = await Checkpoint.open(memoryFolder({ 'model.safetensors': fileWith('a', 'b') }));
    expect(() => checkpoint.info('lm_head.weight')).toThrow('mem tensor "lm_head.weight": is not in the checkpoint (2 tensors in model.safetensors)');
    await rejection(checkpoint.readFloat32('lm_head.weight'), 'INVALID_WEIGHTS');
  });

  it('reports a folder without weights', async () => {
    const message = await rejection(Checkpoint.open(memoryFolder({})), 'MISSING_FILE');
    expect(message).toBe('mem: has neither model.safetensors nor model.safetensors.index.json');
  });

  describe('sharded through model.safetensors.index.json', () => {
    const shard1 = 'model-00001-of-00002.safetensors';
    const shard2 = 'model-00002-of-00002.safetensors';
    const index = (weightMap: Record<string, string>) => JSON.stringify({ metadata: { total_size: 48 }, weight_map: weightMap });
    const shards = {
      [shard1]: fileWith('model.language_model.embed_tokens.weight', 'model.visual.patch_embed.proj.weight'),
      [shard2]: fileWith('model.language_model.norm.weight', 'lm_head.weight'),
    };
    const fullMap = {
      'model.language_model.embed_tokens.weight': shard1,
      'model.visual.patch_embed.proj.weight': shard1,
      'model.language_model.norm.weight': shard2,
      'lm_head.weight': shard2,
    };

    it('reads every tensor from the shard the index names', async () => {
      // A stale single file next to the index must be ignored, as transformers does.
      const folder = memoryFolder({ ...shards, 'model.safetensors.index.json': index(fullMap), 'model.safetensors': fileWith('stale') });
      const checkpoint = await Checkpoint.open(folder);
      expect(checkpoint.names().sort()).toEqual(['lm_head.weight', 'model.embed_tokens.weight', 'model.norm.weight', 'visual.patch_embed.proj.weight']);
      expect(checkpoint.info('model.norm.weight').file).toBe(shard2);
      expect(checkpoint.info('visual.patch_embed.proj.weight').file).toBe(shard1);
      expect([...(await checkpoint.readFloat32('lm_head.weight'))]).toEqual(['lm_head.weight'.length, 1]);
      expect([...(await checkpoint.readFloat32('model.embed_tokens.weight'))]).toEqual(['model.language_model.embed_tokens.weight'.length, 0]);
    });

    it('rejects an index entry whose shard lacks the tensor', async () => {
      const folder = memoryFolder({ ...shards, 'model.safetensors.index.json': index({ ...fullMap, 'lm_head.weight': shard1 }) });
      const message = await rejection(Checkpoint.open(folder), 'INVALID_WEIGHTS');
      expect(message).toBe(`${shard1} tensor "lm_head.weight": is listed in model.safetensors.index.json but missing from this shard`);
    });

    it('rejects a missing shard, a malformed index and shard paths', async () => {
      const missing = memoryFolder({ [shard1]: shards[shard1], 'model.safetensors.index.json': index(fullMap) });
      expect(await rejection(Checkpoint.open(missing), 'MISSING_FILE')).toBe(`mem/model.safetensors.index.json: lists shard "${shard2}", which is not in the folder`);
      const notJson = memoryFolder({ 'model.safetensors.index.json': '{"weight_map": ' });
      expect(await rejection(Checkpoint.open(notJson), 'INVALID_WEIGHTS')).toMatch(/^mem\/model\.safetensors\.index\.json: is not valid JSON/);
      const noMap = memoryFolder({ 'model.safetensors.index.json': '{"metadata": {}}' });
      expect(await rejection(Checkpoint.open(noMap), 'INVALID_WEIGHTS')).toBe('mem/model.safetensors.index.json: must hold a "weight_map" object');
      const escaping = memoryFolder({ 'model.safetensors.index.json': index({ w: '../secret.safetensors' }) });
      expect(await rejection(Checkpoint.open(escaping), 'INVALID_WEIGHTS')).toContain('maps tensor "w" to "../secret.safetensors", which is not a file name');
    });
  });
});
