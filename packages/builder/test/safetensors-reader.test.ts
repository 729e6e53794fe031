import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { QwenVLError, isQwenVLError } from '@qwen-vl/core';
import { memoryByteSource } from '../src/safetensors/byte-source.js';
import type { ByteSource } from '../src/safetensors/byte-source.js';
import { SafetensorsFile } from '../src/safetensors/reader.js';
import { MODEL_DIR, goldenModelConfig } from '@qwen-vl/test-support';

const goldenBytes = new Uint8Array(readFileSync(join(MODEL_DIR, 'model.safetensors')));
const goldenConfig = goldenModelConfig();

/** A safetensors file built by hand: length prefix (possibly lying), header text, zero data. */
function rawFile(header: string, dataBytes: number, declaredLength = header.length): Uint8Array {
  const out = new Uint8Array(8 + header.length + dataBytes);
  const view = new DataView(out.buffer);
  view.setUint32(0, declaredLength % 2 ** 32, true);
  view.setUint32(4, Math.floor(declaredLength / 2 ** 32), true);
  for (let i = 0; i < header.length; i++) out[8 + i] = header.charCodeAt(i);
  return out;
}

async function rejection(promise: Promise<unknown>): Promise<QwenVLError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isQwenVLError(error, 'INVALID_WEIGHTS'), `expected INVALID_WEIGHTS, got ${String(error)}`).toBe(true);
  return error as QwenVLError;
}

function openBytes(name: string, bytes: Uint8Array): Promise<SafetensorsFile> {
  return SafetensorsFile.open(memoryByteSource(name, bytes));
}

describe('SafetensorsFile on the golden tiny checkpoint', () => {
  it('lists every tensor the config implies, with its shape', async () => {
    const file = await openBytes('model.safetensors', goldenBytes);
    const { text, vision } = goldenConfig;
    const h = text.hiddenSize;
    const kv = text.numKeyValueHeads * text.headDim;
    const vh = vision.hiddenSize;
    const expected: Record<string, number[]> = {
      'visual.patch_embed.proj.weight': [vh, 3, 2, 14, 14],
      'visual.merger.ln_q.weight': [vh],
      'visual.merger.mlp.0.weight': [4 * vh, 4 * vh],
      'visual.merger.mlp.0.bias': [4 * vh],
      'visual.merger.mlp.2.weight': [vision.outHiddenSize, 4 * vh],
      'visual.merger.mlp.2.bias': [vision.outHiddenSize],
      'model.embed_tokens.weight': [text.vocabSize, h],
      'model.norm.weight': [h],
      'lm_head.weight': [text.vocabSize, h],
    };
    for (let i = 0; i < vision.depth; i++) {
      Object.assign(expected, {
        [`visual.blocks.${i}.norm1.weight`]: [vh],
        [`visual.blocks.${i}.norm2.weight`]: [vh],
        [`visual.blocks.${i}.attn.qkv.weight`]: [3 * vh, vh],
        [`visual.blocks.${i}.attn.qkv.bias`]: [3 * vh],
        [`visual.blocks.${i}.attn.proj.weight`]: [vh, vh],
        [`visual.blocks.${i}.attn.proj.bias`]: [vh],
        [`visual.blocks.${i}.mlp.gate_proj.weight`]: [vision.intermediateSize, vh],
        [`visual.blocks.${i}.mlp.gate_proj.bias`]: [vision.intermediateSize],
        [`visual.blocks.${i}.mlp.up_proj.weight`]: [vision.intermediateSize, vh],
        [`visual.blocks.${i}.mlp.up_proj.bias`]: [vision.intermediateSize],
        [`visual.blocks.${i}.mlp.down_proj.weight`]: [vh, vision.intermediateSize],
        [`visual.blocks.${i}.mlp.down_proj.bias`]: [vh],
      });
    }
    for (let i = 0; i < text.numHiddenLayers; i++) {
      Object.assign(expected, {
        [`model.layers.${i}.input_layernorm.weight`]: [h],
        [`model.layers.${i}.post_attention_layernorm.weight`]: [h],
        [`model.layers.${i}.self_attn.q_proj.weight`]: [h, h],
        [`model.layers.${i}.self_attn.q_proj.bias`]: [h],
        [`model.layers.${i}.self_attn.k_proj.weight`]: [kv, h],
        [`model.layers.${i}.self_attn.k_proj.bias`]: [kv],
        [`model.layers.${i}.self_attn.v_proj.weight`]: [kv, h],
        [`model.layers.${i}.self_attn.v_proj.bias`]: [kv],
        [`model.layers.${i}.self_attn.o_proj.weight`]: [h, h],
        [`model.layers.${i}.mlp.gate_proj.weight`]: [text.intermediateSize, h],
        [`model.layers.${i}.mlp.up_proj.weight`]: [text.intermediateSize, h],
        [`model.layers.${i}.mlp.down_proj.weight`]: [h, text.intermediateSize],
      });
    }
    const actual = Object.fromEntries([...file.tensors.values()].map((t) => [t.name, t.shape]));
    expect(actual).toEqual(expected);
    expect([...file.tensors.values()].every((t) => t.dtype === 'BF16')).toBe(true);
    expect(file.metadata).toEqual({ format: 'pt' });
  });

  it('widens bf16 values to what the bits mean, read straight from the file bytes', async () => {
    const file = await openBytes('model.safetensors', goldenBytes);
    // Locate the tensor independently with Node's Buffer API.
    const buffer = Buffer.from(goldenBytes);
    const headerLength = Number(buffer.readBigUInt64LE(0));
    const header = JSON.parse(buffer.subarray(8, 8 + headerLength).toString('utf8'));
    for (const name of ['model.norm.weight', 'visual.blocks.2.attn.qkv.bias']) {
      const [begin, end] = header[name].data_offsets as [number, number];
      const expected: number[] = [];
      for (let p = 8 + headerLength + begin; p < 8 + headerLength + end; p += 2) {
        const bits = buffer.readUInt16LE(p);
        const exponent = (bits >> 7) & 0xff;
        expect(exponent > 0 && exponent < 0xff).toBe(true); // normal numbers: the formula below applies
        expected.push((bits & 0x8000 ? -1 : 1) * 2 ** (exponent - 127) * (1 + (bits & 0x7f) / 128));
      }
      expect([...(await file.readFloat32(name))]).toEqual(expected);
    }
  });

  it('reads the header, then only the bytes of the tensor asked for', async () => {
    const reads: Array<[number, number]> = [];
    const inner = memoryByteSource('model.safetensors', goldenBytes);
    const counting: ByteSource = {
      name: inner.name,
      size: inner.size,
      read: (offset, length) => {
        reads.push([offset, length]);
        return inner.read(offset, length);
      },
    };
    const file = await SafetensorsFile.open(counting);
    const headerLength = Number(Buffer.from(goldenBytes).readBigUInt64LE(0));
    expect(reads).toEqual([
      [0, 8],
      [8, headerLength],
    ]);
    reads.length = 0;
    const info = file.tensors.get('model.norm.weight');
    await file.readFloat32('model.norm.weight');
    expect(reads).toEqual([[info?.offset, 64]]);
  });

  it('rejects a tensor that is not there, naming it and the file', async () => {
    const file = await openBytes('model.safetensors', goldenBytes);
    const error = await rejection(file.readFloat32('visual.blocks.9.norm1.weight'));
    expect(error.message).toContain('model.safetensors tensor "visual.blocks.9.norm1.weight"');
  });
});

describe('SafetensorsFile rejects malformed files', () => {
  const f32 = (shape: number[], begin: number, end: number) => ({ dtype: 'F32', shape, data_offsets: [begin, end] });

  it('a file too short to hold the header length', async () => {
    const error = await rejection(openBytes('tiny.safetensors', new Uint8Array(5)));
    expect(error.message).toMatch(/^tiny\.safetensors: is 5 bytes, too short/);
  });

  it('a header length past the end of the file', async () => {
    const error = await rejection(openBytes('w.safetensors', rawFile('{}', 16, 1000)));
    expect(error.message).toBe('w.safetensors: declares a 1000-byte header but the file is only 26 bytes: truncated or not a safetensors file');
  });

  it('an absurd header length', async () => {
    const error = await rejection(openBytes('w.safetensors', rawFile('{}', 0, 2 ** 40)));
    expect(error.message).toContain('w.safetensors: declares a 1099511627776-byte header, over the 100000000-byte limit');
  });

  it('a header that is not JSON, or not UTF-8', async () => {
    expect((await rejection(openBytes('w.safetensors', rawFile('{"a": ', 0)))).message).toMatch(/^w\.safetensors: header is not valid JSON/);
    expect((await rejection(openBytes('w.safetensors', rawFile('{"\xff": 1}', 0)))).message).toBe('w.safetensors: header is not UTF-8 text');
    expect((await rejection(openBytes('w.safetensors', rawFile('[1, 2]', 0)))).message).toBe('w.safetensors: header must be a JSON object');
  });

  it('data offsets past the end of the file', async () => {
    const header = JSON.stringify({ a: f32([2], 0, 8), b: f32([4], 8, 24) });
    const error = await rejection(openBytes('w.safetensors', rawFile(header, 16)));
    expect(error.message).toContain('w.safetensors tensor "b": data ends at byte 24 of the data section, past the end of the file');
  });

  it('overlapping and out-of-order offsets', async () => {
    const overlap = JSON.stringify({ a: f32([4], 0, 16), b: f32([4], 8, 24) });
    expect((await rejection(openBytes('w.safetensors', rawFile(overlap, 24)))).message).toBe('w.safetensors tensor "b": data overlaps tensor "a"');
    const reversed = JSON.stringify({ a: f32([2], 8, 0) });
    expect((await rejection(openBytes('w.safetensors', rawFile(reversed, 8)))).message).toBe('w.safetensors tensor "a": data_offsets [8, 0] are out of order');
  });

  it('an unknown dtype', async () => {
    const header = JSON.stringify({ w: { dtype: 'F7', shape: [2], data_offsets: [0, 2] } });
    const error = await rejection(openBytes('w.safetensors', rawFile(header, 2)));
    expect(error.message).toMatch(/^w\.safetensors tensor "w": unknown dtype "F7"/);
  });

  it('a shape that does not match the byte range', async () => {
    const header = JSON.stringify({ w: f32([3], 0, 16) });
    const error = await rejection(openBytes('w.safetensors', rawFile(header, 16)));
    expect(error.message).toBe('w.safetensors tensor "w": shape [3] of F32 needs 12 bytes but data_offsets [0, 16] span 16');
  });

  it('malformed entries and metadata', async () => {
    const badShape = JSON.stringify({ w: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } });
    expect((await rejection(openBytes('w.safetensors', rawFile(badShape, 4)))).message).toContain('tensor "w": shape must be');
    const badMeta = JSON.stringify({ __metadata__: { format: 1 } });
    expect((await rejection(openBytes('w.safetensors', rawFile(badMeta, 0)))).message).toBe('w.safetensors: __metadata__ must map strings to strings');
  });

  it('a truncated checkpoint, naming the first tensor that no longer fits', async () => {
    const truncated = goldenBytes.subarray(0, goldenBytes.length - 1000);
    const error = await rejection(openBytes('model.safetensors', truncated));
    expect(error.message).toContain('model.safetensors tensor "visual.patch_embed.proj.weight": data ends at byte');
    expect(error.message).toContain('past the end of the file');
  });

  it('a source that returns fewer bytes than its size promised', async () => {
    const header = JSON.stringify({ w: f32([2], 0, 8) });
    const bytes = rawFile(header, 8);
    const lying: ByteSource = { name: 'w.safetensors', size: bytes.length, read: async (o, n) => bytes.subarray(o, Math.min(o + n, bytes.length - 4)) };
    const file = await SafetensorsFile.open(lying);
    const error = await rejection(file.readRaw('w'));
    expect(error.message).toContain('w.safetensors tensor "w": wanted 8 bytes');
  });

  it('a non-float tensor read as float32', async () => {
    const header = JSON.stringify({ ids: { dtype: 'I64', shape: [1], data_offsets: [0, 8] } });
    const file = await openBytes('w.safetensors', rawFile(header, 8));
    expect((await file.readRaw('ids')).length).toBe(8);
    const error = await rejection(file.readFloat32('ids'));
    expect(error.message).toMatch(/^w\.safetensors tensor "ids": has dtype I64, which cannot be read as float32/);
  });
});
