import { describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import { parseModelConfig } from '@qwen-vl/core';
import { generateTinyCheckpoint } from '../src/checkpoint/tiny-checkpoint.js';
import { shareWrittenWeights } from '../src/folder/shared-weights.js';
import { GraphBuilder, isStoredTensor } from '../src/onnx/graph-builder.js';
import { serializeModel, streamModel } from '../src/onnx/serialize.js';
import { Checkpoint } from '../src/safetensors/checkpoint.js';
import { memoryByteSource } from '../src/safetensors/byte-source.js';
import { buildDecoderModel, buildEmbedModel } from '../src/index.js';
import { BLOCK_SIZES, dequantizeBlockwise, quantizeBlockwise } from '../src/quantize/block-quantize.js';

function randomMatrix(rows: number, cols: number, seed: number): Float32Array {
  let state = seed;
  return Float32Array.from({ length: rows * cols }, () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32 - 0.5;
  });
}

async function run(graph: GraphBuilder, feeds: Record<string, ort.Tensor>): Promise<Float32Array> {
  const { model } = serializeModel(graph.build({ producer: 'test' }));
  const session = await ort.InferenceSession.create(model);
  const out = await session.run(feeds);
  return out[session.outputNames[0]].data as Float32Array;
}

describe('quantizeBlockwise', () => {
  it('maps each block extreme to −2^(bits−1), keeps zero blocks zero, and quantizes a shorter last block on its own', () => {
    const values = new Float32Array(40);
    values[3] = -2; // block 0's extreme, negative
    values[5] = 1;
    values[20] = 0.999; // block 1 (columns 16..31) is otherwise zero
    values[33] = 0.5; // block 2 has 8 columns
    const q = quantizeBlockwise(values, 1, 40, 4, 16);
    expect(q.blocksPerRow).toBe(3);
    expect(Array.from(q.scales)).toEqual([Math.fround(2 / 8), Math.fround(-0.999 / 8), Math.fround(-0.5 / 8)]);
    const back = dequantizeBlockwise(q);
    expect(back[3]).toBeCloseTo(-2, 6);
    expect(back[5]).toBeCloseTo(1, 6);
    expect(back[20]).toBeCloseTo(0.999, 6);
    expect(back[33]).toBeCloseTo(0.5, 6);
    expect(back[0]).toBe(0);
    const zero = quantizeBlockwise(new Float32Array(16), 1, 16, 4, 16);
    expect(zero.scales[0]).toBe(0);
    expect(Array.from(dequantizeBlockwise(zero))).toEqual(new Array(16).fill(0));
  });
});

describe('onnxruntime reads the layout', () => {
  for (const bits of [4, 8] as const) {
    it(`MatMulNBits ${bits}-bit at accuracy level 0 computes x · dequant(W)ᵀ`, async () => {
      const [n, k, block] = [24, 48, 32];
      const w = randomMatrix(n, k, 1);
      const q = quantizeBlockwise(w, n, k, bits, block);
      const graph = new GraphBuilder('probe');
      const x = graph.input('x', 'float32', [3, k]);
      const b = graph.initializer('w', 'uint8', [n, q.blocksPerRow, (block * bits) / 8], q.data);
      const s = graph.initializer('s', 'float32', [n * q.blocksPerRow], q.scales);
      const z = graph.initializer('z', 'uint8', [q.zeroPoints.length], q.zeroPoints);
      graph.output(graph.op('MatMulNBits', [x, b, s, z], { K: k, N: n, bits, block_size: block, accuracy_level: 0 }, { domain: 'com.microsoft' }), 'y', 'float32', [3, n]);
      const xs = randomMatrix(3, k, 2);
      const y = await run(graph, { x: new ort.Tensor('float32', xs, [3, k]) });
      const dq = dequantizeBlockwise(q);
      for (let r = 0; r < 3; r++)
        for (let c = 0; c < n; c++) {
          let sum = 0;
          for (let i = 0; i < k; i++) sum += xs[r * k + i] * dq[c * k + i];
          expect(Math.abs(y[r * n + c] - sum)).toBeLessThan(1e-5);
        }
    });
  }

  it('BLOCK_SIZES are the block sizes MatMulNBits loads, of the powers of two 16-1024; quantizeBlockwise refuses the others', async () => {
    const [n, k] = [2, 1024];
    const loads: number[] = [];
    for (const block of [16, 32, 64, 128, 256, 512, 1024]) {
      const blocksPerRow = k / block;
      const graph = new GraphBuilder('probe');
      const x = graph.input('x', 'float32', [1, k]);
      const b = graph.initializer('w', 'uint8', [n, blocksPerRow, block / 2], new Uint8Array((n * k) / 2));
      const scales = graph.initializer('s', 'float32', [n * blocksPerRow], new Float32Array(n * blocksPerRow));
      graph.output(graph.op('MatMulNBits', [x, b, scales], { K: k, N: n, bits: 4, block_size: block, accuracy_level: 4 }, { domain: 'com.microsoft' }), 'y', 'float32', [1, n]);
      const loaded = await ort.InferenceSession.create(serializeModel(graph.build({ producer: 'test' })).model).then(
        async (session) => (await session.release(), true),
        () => false,
      );
      if (loaded) loads.push(block);
      if (!BLOCK_SIZES.includes(block)) expect(() => quantizeBlockwise(new Float32Array(n * k), n, k, 4, block)).toThrow(`got ${block}`);
    }
    expect(loads).toEqual(BLOCK_SIZES);
  });

  it('GatherBlockQuantized 4-bit on the same bytes gives dequantized rows', async () => {
    const [vocab, hidden, block] = [10, 64, 32];
    const w = randomMatrix(vocab, hidden, 3);
    const q = quantizeBlockwise(w, vocab, hidden, 4, block);
    const graph = new GraphBuilder('probe');
    const ids = graph.input('ids', 'int64', [2]);
    const data = graph.initializer('w', 'uint8', [vocab, (q.blocksPerRow * block) / 2], q.data);
    const s = graph.initializer('s', 'float32', [vocab, q.blocksPerRow], q.scales);
    const z = graph.initializer('z', 'uint8', [vocab, q.zeroPoints.length / vocab], q.zeroPoints);
    graph.output(graph.op('GatherBlockQuantized', [data, ids, s, z], { gather_axis: 0, quantize_axis: 1, block_size: block, bits: 4 }, { domain: 'com.microsoft' }), 'y', 'float32', [2, hidden]);
    const y = await run(graph, { ids: new ort.Tensor('int64', BigInt64Array.from([7n, 2n]), [2]) });
    const dq = dequantizeBlockwise(q);
    expect(Array.from(y.slice(0, hidden))).toEqual(Array.from(dq.slice(7 * hidden, 8 * hidden)));
  });
});

describe('an int4 build of a tied model whose width is not a multiple of the block size', () => {
  it('stores the quantized table once, gathers rows of the true width, and the lm_head reads the same bytes', async () => {
    const { files } = generateTinyCheckpoint({ text: { hiddenSize: 48, heads: 3, kvHeads: 1, vocabSize: 96, tieWordEmbeddings: true, mropeSection: [2, 3, 3] } });
    const config = parseModelConfig(JSON.parse(files.get('config.json') as string));
    const checkpoint = await Checkpoint.open({
      exists: async (name) => files.has(name),
      readText: async (name) => files.get(name) as string,
      openBytes: async (name) => memoryByteSource(name, files.get(name) as Uint8Array),
    });
    const options = { precision: 'int4' as const, quantization: { blockSize: 32, accuracyLevel: 0 as const } };
    const [embed, decoder] = shareWrittenWeights([
      { file: 'embed.onnx', model: buildEmbedModel(checkpoint, config.text, options) },
      { file: 'decoder.onnx', model: buildDecoderModel(checkpoint, config.text, options) },
    ]);
    // The decoder's MatMulNBits reads the table from embed.onnx.data (scales and zero points this small stay inline in each model).
    const shared = decoder.model.initializers.filter((init) => isStoredTensor(init.data)).map((init) => init.name);
    expect(shared).toEqual(['model.embed_tokens.weight']);
    expect(decoder.model.proto.graph?.node?.filter((node) => node.opType === 'MatMulNBits')).toHaveLength(7 * 2 + 1);

    const { model } = await streamModel(embed.model);
    const session = await ort.InferenceSession.create(model);
    const rows = (await session.run({ input_ids: new ort.Tensor('int64', BigInt64Array.from([5n, 77n]), [1, 2]) })).inputs_embeds;
    expect(rows.dims).toEqual([1, 2, 48]);
    const table = await checkpoint.readFloat32('model.embed_tokens.weight');
    const expected = dequantizeBlockwise(quantizeBlockwise(table, 96, 48, 4, 32));
    expect(Array.from(rows.data as Float32Array)).toEqual([...expected.subarray(5 * 48, 6 * 48), ...expected.subarray(77 * 48, 78 * 48)]);
  });
});
