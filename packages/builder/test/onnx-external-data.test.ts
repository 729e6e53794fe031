import { describe, expect, it } from 'vitest';
import { isQwenVLError } from '@qwen-vl/core';
import { planExternalLayout } from '../src/onnx/external-data.js';
import { GraphBuilder } from '../src/onnx/graph-builder.js';
import type { OnnxModel, TensorBytesSource } from '../src/onnx/graph-builder.js';
import { externalTensorPlacements, serializeModel, streamModel } from '../src/onnx/serialize.js';
import { concatBytes } from '../src/safetensors/writer.js';
import { decodeModel, externalEntries, onnx } from './onnx-proto-decode.js';

const GiB = 2 ** 30;

async function collect(chunks: AsyncIterable<Uint8Array>): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for await (const chunk of chunks) out.push(chunk);
  return out;
}

/** Values that differ per element and per tensor, so a misplaced byte shows. */
function ramp(length: number, seed: number): Float32Array {
  return Float32Array.from({ length }, (_, i) => seed + i * 0.001);
}

/** Sums three weights of 300, 1000 and 10 floats onto the input; the 10-float one stays inline. */
function threeWeightModel(weights: { a: Float32Array | TensorBytesSource; b: Float32Array | TensorBytesSource; c: Float32Array | TensorBytesSource }): OnnxModel {
  const g = new GraphBuilder('weights');
  let x = g.input('x', 'float32', [1]);
  for (const [name, count] of [
    ['a', 300],
    ['b', 1000],
    ['c', 10],
  ] as const) {
    x = g.op('Add', [x, g.op('ReduceSum', [g.initializer(name, 'float32', [count], weights[name])], { keepdims: 0 })]);
  }
  g.output(x, 'y', 'float32', [1]);
  return g.build({ producer: 't' });
}

/** A source whose bytes are `data` delivered in pieces of `chunk` bytes. */
function chunkedSource(data: Float32Array, chunk: number): TensorBytesSource {
  const bytes = new Uint8Array(data.buffer);
  return {
    byteLength: bytes.byteLength,
    *chunks() {
      for (let offset = 0; offset < bytes.byteLength; offset += chunk) yield bytes.subarray(offset, offset + chunk);
    },
  };
}

describe('planExternalLayout', () => {
  it('places each tensor on the next alignment boundary', () => {
    expect(planExternalLayout([1200, 4000, 4096, 1], 4096)).toEqual({
      placements: [
        { padding: 0, offset: 0, length: 1200 },
        { padding: 2896, offset: 4096, length: 4000 },
        { padding: 96, offset: 8192, length: 4096 },
        { padding: 0, offset: 12288, length: 1 },
      ],
      byteLength: 12289,
    });
  });

  it('keeps exact offsets past 4 GiB', () => {
    const layout = planExternalLayout([3 * GiB + 5, 2 * GiB, 7], 65536);
    expect(layout.placements.map((p) => p.offset)).toEqual([0, 3 * GiB + 65536, 5 * GiB + 65536]);
    expect(layout.byteLength).toBe(5 * GiB + 65536 + 7);
  });
});

describe('serializeModel with external data', () => {
  const a = ramp(300, 1);
  const b = ramp(1000, 2);
  const c = ramp(10, 3);

  it('writes location/offset/length entries that point at the exact bytes', () => {
    const files = serializeModel(threeWeightModel({ a, b, c }), { externalData: { location: 'w.onnx.data', threshold: 1024, alignment: 4096 } });
    const graph = decodeModel(files.model).graph;
    const byName = Object.fromEntries(graph.initializer.map((t) => [t.name, t]));
    const EXTERNAL = onnx.TensorProto.DataLocation.EXTERNAL;

    expect(byName.a.dataLocation).toBe(EXTERNAL);
    expect(byName.a.rawData.byteLength).toBe(0);
    expect(externalEntries(byName.a)).toEqual({ location: 'w.onnx.data', offset: '0', length: '1200' });
    expect(externalEntries(byName.b)).toEqual({ location: 'w.onnx.data', offset: '4096', length: '4000' });
    expect(byName.c.dataLocation).toBe(onnx.TensorProto.DataLocation.DEFAULT);
    expect(byName.c.externalData).toEqual([]);
    expect([...byName.c.rawData]).toEqual([...new Uint8Array(c.buffer)]);

    const file = concatBytes(files.externalData);
    expect(file.byteLength).toBe(files.externalDataByteLength);
    expect(file.byteLength).toBe(4096 + 4000);
    expect(new Float32Array(file.slice(0, 1200).buffer)).toEqual(a);
    expect(file.subarray(1200, 4096).every((byte) => byte === 0)).toBe(true);
    expect(new Float32Array(file.slice(4096, 8096).buffer)).toEqual(b);
  });

  it('refers to a weight another model already wrote (StoredTensor) instead of writing it again', () => {
    const options = { externalData: { location: 'first.onnx.data', threshold: 1024, alignment: 4096 } };
    const first = threeWeightModel({ a, b, c });
    const placements = externalTensorPlacements(first, options);
    expect([...placements]).toEqual([
      ['a', { location: 'first.onnx.data', offset: 0 }],
      ['b', { location: 'first.onnx.data', offset: 4096 }],
    ]);
    // A second model holding `b` too: b is referred to, a and c are its own.
    const second = threeWeightModel({ a: ramp(300, 9), b, c });
    const sharing: OnnxModel = { ...second, initializers: second.initializers.map((init) => (init.name === 'b' ? { ...init, data: placements.get('b')! } : init)) };
    const files = serializeModel(sharing, { externalData: { location: 'second.onnx.data' } });
    const byName = Object.fromEntries(decodeModel(files.model).graph.initializer.map((t) => [t.name, t]));
    expect(externalEntries(byName.b)).toEqual({ location: 'first.onnx.data', offset: '4096', length: '4000' });
    expect(externalEntries(byName.a)).toEqual({ location: 'second.onnx.data', offset: '0', length: '1200' });
    expect(files.externalDataByteLength).toBe(1200);
    const outside = { ...sharing, initializers: sharing.initializers.map((init) => (init.name === 'b' ? { ...init, data: { location: '../first.onnx.data', offset: 0 } } : init)) };
    expect(() => serializeModel(outside, { externalData: { location: 'second.onnx.data' } })).toThrow('relative path inside the model');
  });

  it('hands out views of the weights, not copies', () => {
    const files = serializeModel(threeWeightModel({ a, b, c }), { externalData: { location: 'w.data' } });
    expect(files.externalData.map((chunk) => chunk.buffer)).toContain(a.buffer);
    expect(files.externalData.map((chunk) => chunk.buffer)).toContain(b.buffer);
  });

  it('keeps everything inline without external data options', () => {
    const files = serializeModel(threeWeightModel({ a, b, c }));
    expect(files.externalData).toEqual([]);
    const graph = decodeModel(files.model).graph;
    expect(graph.initializer.map((t) => t.rawData.byteLength)).toEqual([1200, 4000, 40]);
  });

  it('refuses lazy sources and locations outside the model folder', () => {
    const lazy = threeWeightModel({ a: chunkedSource(a, 100), b, c });
    expect(() => serializeModel(lazy)).toThrow(/initializer "a".*streamModel/);
    for (const location of ['../w.data', '/abs/w.data', 'C:\\w.data', '']) {
      expect(() => serializeModel(threeWeightModel({ a, b, c }), { externalData: { location } })).toThrow(/externalData.location/);
    }
  });
});

describe('streamModel', () => {
  const a = ramp(300, 1);
  const b = ramp(1000, 2);
  const c = ramp(10, 3);
  const options = { externalData: { location: 'w.onnx.data', threshold: 1024, alignment: 256 } };

  it('writes the same files from lazy sources as serializeModel does from arrays', async () => {
    const eager = serializeModel(threeWeightModel({ a, b, c }), options);
    const streamed = await streamModel(threeWeightModel({ a: chunkedSource(a, 7), b: chunkedSource(b, 1024), c: chunkedSource(c, 3) }), options);
    expect(streamed.model).toEqual(eager.model);
    expect(streamed.externalDataByteLength).toBe(eager.externalDataByteLength);
    expect(concatBytes(await collect(streamed.externalData))).toEqual(concatBytes(eager.externalData));
    // Iterating again starts over.
    expect(concatBytes(await collect(streamed.externalData))).toEqual(concatBytes(eager.externalData));
  });

  it('reads a lazy source only when the iteration reaches it', async () => {
    const reads: string[] = [];
    const tracked = (name: string, data: Float32Array): TensorBytesSource => ({
      byteLength: data.byteLength,
      async *chunks() {
        reads.push(name);
        yield new Uint8Array(data.buffer);
      },
    });
    const streamed = await streamModel(threeWeightModel({ a: tracked('a', a), b: tracked('b', b), c: tracked('c', c) }), options);
    expect(reads).toEqual(['c']); // the inline one, needed for the protobuf
    const iterator = streamed.externalData[Symbol.asyncIterator]();
    await iterator.next();
    expect(reads).toEqual(['c', 'a']);
  });

  it('fails when a source produces more or fewer bytes than it declares', async () => {
    const short: TensorBytesSource = { byteLength: 1200, chunks: () => [new Uint8Array(1000)] };
    const long: TensorBytesSource = { byteLength: 1200, chunks: () => [new Uint8Array(1000), new Uint8Array(1000)] };
    for (const [source, produced] of [
      [short, '1000'],
      [long, 'more than 1200'],
    ] as const) {
      const streamed = await streamModel(threeWeightModel({ a: source, b, c }), options);
      const error = await collect(streamed.externalData).catch((e: unknown) => e);
      expect(isQwenVLError(error, 'INVALID_WEIGHTS')).toBe(true);
      expect((error as Error).message).toContain(`initializer "a": declares 1200 bytes but its source produced ${produced}`);
    }
  });
});

describe('models past the 2 GiB protobuf limit', () => {
  /** A float16 weight of `byteLength` bytes whose chunks all share one zero buffer: nothing big is allocated. */
  function hugeSource(byteLength: number): TensorBytesSource {
    const piece = new Uint8Array(64 * 2 ** 20);
    return {
      byteLength,
      *chunks() {
        for (let left = byteLength; left > 0; left -= piece.byteLength) yield left >= piece.byteLength ? piece : piece.subarray(0, left);
      },
    };
  }

  function embeddingModel(vocab: number, hidden: number): OnnxModel {
    const g = new GraphBuilder('embed');
    const ids = g.input('ids', 'int64', ['n']);
    const table = g.initializer('embed_tokens', 'float16', [vocab, hidden], hugeSource(vocab * hidden * 2));
    const norm = g.initializer('norm', 'float16', [hidden], new Uint16Array(hidden).fill(0x3c00));
    g.output(g.op('Mul', [g.op('Gather', [table, ids]), norm]), 'h', 'float16', ['n', hidden]);
    return g.build({ producer: 't' });
  }

  it('describes a 3.4 GiB weight with exact offsets, in a protobuf that does not grow with it', async () => {
    const small = await streamModel(embeddingModel(16, 3584), { externalData: { location: 'm.data' } });
    const huge = await streamModel(embeddingModel(152064, 3584 * 3), { externalData: { location: 'm.data' } });
    const tableBytes = 152064 * 3584 * 3 * 2;
    expect(tableBytes).toBeGreaterThan(3 * GiB);

    const graph = decodeModel(huge.model).graph;
    const [table, norm] = graph.initializer;
    expect(externalEntries(table)).toEqual({ location: 'm.data', offset: '0', length: String(tableBytes) });
    const normOffset = Math.ceil(tableBytes / 4096) * 4096;
    expect(externalEntries(norm)).toEqual({ location: 'm.data', offset: String(normOffset), length: String(3584 * 3 * 2) });
    expect(huge.externalDataByteLength).toBe(normOffset + 3584 * 3 * 2);
    // Only the digits of dims, offsets and lengths differ.
    expect(huge.model.byteLength).toBeLessThan(small.model.byteLength + 64);
    expect(huge.model.byteLength).toBeLessThan(1024);

    let total = 0;
    for await (const chunk of huge.externalData) total += chunk.byteLength;
    expect(total).toBe(huge.externalDataByteLength);
  });

  it('refuses to put more than 2 GiB inline, before reading anything', async () => {
    await expect(streamModel(embeddingModel(152064, 3584 * 3))).rejects.toThrow(/graph "embed".*past protobuf's 2 GiB limit/);
  });
});
