import { describe, expect, it } from 'vitest';
import { Checkpoint } from '../src/safetensors/checkpoint.js';
import { GraphBuilder } from '../src/onnx/graph-builder.js';
import { concatBytes, encodeSafetensors } from '../src/safetensors/writer.js';
import { isQwenVLError } from '@qwen-vl/core';
import { memoryByteSource } from '../src/safetensors/byte-source.js';
import type { TensorBytesSource } from '../src/onnx/graph-builder.js';
import type { TensorSpec } from '../src/checkpoint/layout.js';
import { GraphWeights } from '../src/graph/graph-weights.js';

/** One-tensor checkpoint holding `values` as F32 under `name`. */
async function checkpointOf(name: string, values: number[], shape: number[]): Promise<Checkpoint> {
  const bytes = concatBytes(encodeSafetensors([{ name, dtype: 'F32', shape, data: new Uint8Array(Float32Array.from(values).buffer) }]));
  return Checkpoint.open({
    exists: async (file) => file === 'model.safetensors',
    readText: async () => '',
    openBytes: async (file) => memoryByteSource(file, bytes),
  });
}

const weight = (name: string, ...shape: number[]): TensorSpec => ({ name, shape, kind: 'weight' });

async function readSource(source: TensorBytesSource): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of source.chunks()) chunks.push(chunk);
  return concatBytes(chunks);
}

describe('GraphWeights', () => {
  it('converts to float16 when the initializer is written: 1.5 → 0x3e00, -2 → 0xc000, 65504 → 0x7bff', async () => {
    const checkpoint = await checkpointOf('w', [1.5, -2, 65504, 0], [2, 2]);
    const graph = new GraphBuilder('g');
    const value = new GraphWeights(checkpoint, [weight('w', 2, 2)], 'fp16').float32(graph, 'w');
    graph.output(value, 'y', 'float32', [2, 2]);
    const model = graph.build({ producer: 'test' });
    const [init] = model.initializers;
    expect([init.type, init.byteLength]).toEqual(['float16', 8]);
    expect(model.proto.graph?.node?.map((node) => [node.opType, node.name])).toEqual([
      ['Cast', 'w/cast'],
      ['Identity', 'Identity'],
    ]);
    expect(Array.from(new Uint16Array((await readSource(init.data as TensorBytesSource)).slice().buffer))).toEqual([0x3e00, 0xc000, 0x7bff, 0]);
  });

  it('stores fp32 as read, with no Cast, and views a tensor in another shape of as many elements without moving a value', async () => {
    const checkpoint = await checkpointOf('conv', [1, 2, 3, 4, 5, 6, 7, 8], [2, 1, 2, 2]);
    const graph = new GraphBuilder('g');
    graph.output(new GraphWeights(checkpoint, [weight('conv', 2, 1, 2, 2)], 'fp32').float32(graph, 'conv', [2, 4]), 'y', 'float32', [2, 4]);
    const model = graph.build({ producer: 'test' });
    const [init] = model.initializers;
    expect([init.type, init.dims]).toEqual(['float32', [2, 4]]);
    expect(model.proto.graph?.node?.map((node) => node.opType)).toEqual(['Identity']);
    expect(Array.from(new Float32Array((await readSource(init.data as TensorBytesSource)).slice().buffer))).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(() => new GraphWeights(checkpoint, [weight('conv', 2, 1, 2, 2)], 'fp32').stored(new GraphBuilder('h'), 'conv', [3, 3])).toThrow(
      'tensor "conv": cannot be viewed as [3, 3]: it has shape [2, 1, 2, 2]',
    );
  });

  it('refuses to store a weight beyond float16 range as fp16, naming the tensor', async () => {
    const checkpoint = await checkpointOf('big', [1, 70000], [2]);
    const graph = new GraphBuilder('g');
    graph.output(new GraphWeights(checkpoint, [weight('big', 2)], 'fp16').float32(graph, 'big'), 'y', 'float32', [2]);
    const [init] = graph.build({ producer: 'test' }).initializers;
    const error = await readSource(init.data as TensorBytesSource).catch((e: unknown) => e);
    expect(isQwenVLError(error, 'INVALID_WEIGHTS')).toBe(true);
    expect((error as Error).message).toContain('tensor "big"');
    expect((error as Error).message).toContain('70000 at index 1');
  });

  it('refuses NaN and infinite weights at any precision, naming the tensor (they used to build and answer token 0)', async () => {
    for (const precision of ['fp32', 'fp16'] as const) {
      for (const bad of [NaN, Infinity, -Infinity]) {
        const checkpoint = await checkpointOf('w', [0.5, bad], [2]);
        const graph = new GraphBuilder('g');
        graph.output(new GraphWeights(checkpoint, [weight('w', 2)], precision).float32(graph, 'w'), 'y', 'float32', [2]);
        const [init] = graph.build({ producer: 'test' }).initializers;
        const error = await readSource(init.data as TensorBytesSource).catch((e: unknown) => e);
        expect(isQwenVLError(error, 'INVALID_WEIGHTS')).toBe(true);
        expect((error as Error).message).toBe(`tensor "w": holds ${bad} at index 1; a checkpoint's weights must be finite numbers`);
      }
    }
  });

  it('checks every shape of the layout when made, naming the tensor', async () => {
    const checkpoint = await checkpointOf('w', [1, 2, 3, 4, 5, 6], [2, 3]);
    const error = (() => {
      try {
        return new GraphWeights(checkpoint, [weight('w', 3, 2)], 'fp32');
      } catch (e) {
        return e;
      }
    })();
    expect(isQwenVLError(error, 'INVALID_WEIGHTS')).toBe(true);
    expect((error as Error).message).toBe('tensor "w": has shape [2, 3], but config.json implies [3, 2]');
    expect(() => new GraphWeights(checkpoint, [weight('w', 2, 3), weight('missing', 1)], 'fp32')).toThrow(
      expect.objectContaining({ code: 'INVALID_WEIGHTS', message: expect.stringContaining('missing') }),
    );
    expect(() => new GraphWeights(checkpoint, [weight('w', 2, 3)], 'fp32').shape('other')).toThrow('tensor "other": is not in the layout this part was exported with');
  });

  it('rejects an unknown precision', async () => {
    const checkpoint = await checkpointOf('w', [1], [1]);
    expect(() => new GraphWeights(checkpoint, [], 'int3' as never)).toThrow('export option "precision": must be one of fp32, fp16, int4, int8, got "int3"');
  });
});
