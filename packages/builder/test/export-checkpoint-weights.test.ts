import { describe, expect, it } from 'vitest';
import { Checkpoint } from '../src/safetensors/checkpoint.js';
import { GraphBuilder } from '../src/onnx/graph-builder.js';
import { concatBytes, encodeSafetensors } from '../src/safetensors/writer.js';
import { isQwenVLError } from '@qwen-vl/core';
import { memoryByteSource } from '../src/safetensors/byte-source.js';
import type { TensorBytesSource } from '../src/onnx/graph-builder.js';
import { CheckpointWeights } from '../src/text/checkpoint-weights.js';

/** One-tensor checkpoint holding `values` as F32 under `name`. */
async function checkpointOf(name: string, values: number[], shape: number[]): Promise<Checkpoint> {
  const bytes = concatBytes(encodeSafetensors([{ name, dtype: 'F32', shape, data: new Uint8Array(Float32Array.from(values).buffer) }]));
  return Checkpoint.open({
    exists: async (file) => file === 'model.safetensors',
    readText: async () => '',
    openBytes: async (file) => memoryByteSource(file, bytes),
  });
}

async function readSource(source: TensorBytesSource): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of source.chunks()) chunks.push(chunk);
  return concatBytes(chunks);
}

describe('CheckpointWeights', () => {
  it('converts to float16 when the initializer is written: 1.5 → 0x3e00, -2 → 0xc000, 65504 → 0x7bff', async () => {
    const checkpoint = await checkpointOf('w', [1.5, -2, 65504, 0], [2, 2]);
    const graph = new GraphBuilder('g');
    const value = new CheckpointWeights(checkpoint, 'fp16').float32(graph, 'w', [2, 2]);
    graph.output(value, 'y', 'float32', [2, 2]);
    const [init] = graph.build({ producer: 'test' }).initializers;
    expect([init.type, init.byteLength]).toEqual(['float16', 8]);
    expect(Array.from(new Uint16Array((await readSource(init.data as TensorBytesSource)).slice().buffer))).toEqual([0x3e00, 0xc000, 0x7bff, 0]);
  });

  it('refuses to store a weight beyond float16 range as fp16, naming the tensor', async () => {
    const checkpoint = await checkpointOf('big', [1, 70000], [2]);
    const graph = new GraphBuilder('g');
    graph.output(new CheckpointWeights(checkpoint, 'fp16').float32(graph, 'big', [2]), 'y', 'float32', [2]);
    const [init] = graph.build({ producer: 'test' }).initializers;
    const error = await readSource(init.data as TensorBytesSource).catch((e: unknown) => e);
    expect(isQwenVLError(error, 'INVALID_WEIGHTS')).toBe(true);
    expect((error as Error).message).toContain('tensor "big"');
    expect((error as Error).message).toContain('70000 at index 1');
  });

  it('rejects an unknown precision', async () => {
    const checkpoint = await checkpointOf('w', [1], [1]);
    expect(() => new CheckpointWeights(checkpoint, 'int4' as never)).toThrow('export option "precision": must be one of fp32, fp16, got "int4"');
  });
});
