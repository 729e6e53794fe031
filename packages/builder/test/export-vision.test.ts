import { describe, expect, it } from 'vitest';
import { Checkpoint } from '../src/safetensors/checkpoint.js';
import { float16ToFloat32, parseModelConfig, isQwenVLError } from '@qwen-vl/core';
import { generateTinyCheckpoint } from '../src/checkpoint/tiny-checkpoint.js';
import { memoryByteSource } from '../src/safetensors/byte-source.js';
import { streamModel } from '../src/onnx/serialize.js';
import type { OnnxModel, TensorBytesSource } from '../src/onnx/graph-builder.js';
import type { VisionConfig } from '@qwen-vl/core';
import { buildVisionGraph } from '../src/vision/export-vision.js';
import { FULL_ATTENTION_QUERY_CHUNKS, visionInputNames } from '@qwen-vl/vision';
import { visionTensors } from '../src/checkpoint/layout.js';
import type { WeightSource } from '../src/graph/graph-weights.js';

const tiny = generateTinyCheckpoint({ seed: 7, dtype: 'f32', vision: { hiddenSize: 16, depth: 2, heads: 2, intermediateSize: 24, fullAttBlockIndexes: [1], outHiddenSize: 12 } });
const config: VisionConfig = parseModelConfig(JSON.parse(tiny.files.get('config.json') as string)).vision;
const checkpoint = await Checkpoint.open({
  exists: async (name) => tiny.files.has(name),
  readText: async (name) => tiny.files.get(name) as string,
  openBytes: async (name) => memoryByteSource(name, tiny.files.get(name) as Uint8Array),
});

/** The checkpoint, counting how often each tensor is read. */
function countingSource(): { source: WeightSource; reads: Map<string, number> } {
  const reads = new Map<string, number>();
  const source: WeightSource = {
    info: (name) => checkpoint.info(name),
    readFloat32: (name) => {
      reads.set(name, (reads.get(name) ?? 0) + 1);
      return checkpoint.readFloat32(name);
    },
  };
  return { source, reads };
}

async function initializerValues(model: OnnxModel, name: string): Promise<Uint8Array> {
  const init = model.initializers.find((i) => i.name === name);
  if (init === undefined) throw new Error(`no initializer ${name}`);
  const parts: Uint8Array[] = [];
  for await (const chunk of (init.data as TensorBytesSource).chunks()) parts.push(chunk);
  const out = new Uint8Array(init.byteLength);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.byteLength;
  }
  return out;
}

/** Serializes `model` with its weights in external data, as writing it to a file does. */
async function writeAll(model: OnnxModel): Promise<number> {
  const streamed = await streamModel(model, { externalData: { location: 'vision.onnx.data' } });
  let written = 0;
  for await (const chunk of streamed.externalData) written += chunk.byteLength;
  expect(written).toBe(streamed.externalDataByteLength);
  return written;
}

const graphInputs = (model: OnnxModel) => (model.proto.graph?.input ?? []).map((input) => input.name);

describe('buildVisionGraph', () => {
  it('declares the inputs the feeds provide, for each layout and attention mix', () => {
    for (const attention of ['segmented', 'dense-mask'] as const) {
      for (const fullAttBlockIndexes of [[1], [0, 1], []]) {
        const variant = { ...config, fullAttBlockIndexes };
        expect(graphInputs(buildVisionGraph(checkpoint, variant, { attention }))).toEqual(visionInputNames(variant, attention));
      }
    }
    expect(visionInputNames(config, 'segmented')).toEqual([
      'pixel_values',
      'window_index',
      'reverse_index',
      'rotary_cos',
      'rotary_sin',
      'window_gather',
      'window_mask',
      'window_scatter',
      'full_gather',
      'full_mask',
      'full_scatter',
    ]);
    const output = buildVisionGraph(checkpoint, config).proto.graph?.output?.[0];
    expect(output?.name).toBe('image_features');
    expect(output?.type?.tensorType?.shape?.dim?.map((d) => d.dimParam || d.dimValue)).toEqual(['tokens', 12]);
  });

  it("scores a full block's queries in FULL_ATTENTION_QUERY_CHUNKS chunks and a windowed block's at once", () => {
    const softmaxes = (model: OnnxModel) => (model.proto.graph?.node ?? []).filter((node) => node.opType === 'Softmax').length;
    // Block 0 windowed, block 1 full.
    expect(softmaxes(buildVisionGraph(checkpoint, config))).toBe(1 + FULL_ATTENTION_QUERY_CHUNKS);
    expect(softmaxes(buildVisionGraph(checkpoint, { ...config, fullAttBlockIndexes: [] }))).toBe(2);
    expect(softmaxes(buildVisionGraph(checkpoint, config, { attention: 'dense-mask' }))).toBe(2);
  });

  it('leaves no initializer unused (onnxruntime warns about each on load)', () => {
    for (const attention of ['segmented', 'dense-mask'] as const) {
      const model = buildVisionGraph(checkpoint, config, { attention });
      const consumed = new Set((model.proto.graph?.node ?? []).flatMap((node) => node.input ?? []));
      expect(model.initializers.map((init) => init.name).filter((name) => !consumed.has(name))).toEqual([]);
    }
  });

  it('reads no weight while building and each weight once while writing', async () => {
    const { source, reads } = countingSource();
    const model = buildVisionGraph(source, config);
    expect(reads.size).toBe(0);
    await writeAll(model);
    expect([...reads.keys()].sort()).toEqual(
      visionTensors(config)
        .map((spec) => spec.name)
        .sort(),
    );
    expect([...reads.values()].every((count) => count === 1)).toBe(true);
  });

  it('keeps every weight as the checkpoint stores it, read by Gemm with transB = 1', async () => {
    const model = buildVisionGraph(checkpoint, config);
    for (const name of ['visual.blocks.0.mlp.gate_proj.weight', 'visual.merger.mlp.2.bias']) {
      expect(model.initializers.find((i) => i.name === name)?.dims).toEqual(checkpoint.info(name).shape);
      const bytes = await initializerValues(model, name);
      expect(new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4)).toEqual(await checkpoint.readFloat32(name));
    }
    const nodes = model.proto.graph?.node ?? [];
    expect(nodes.filter((node) => node.opType === 'MatMul').every((node) => !(node.input ?? []).some((input) => input.startsWith('visual.')))).toBe(true);
    const gemms = nodes.filter((node) => node.opType === 'Gemm');
    // Per block qkv, proj, gate, up, down; the patch embedding; the merger's two.
    expect(gemms).toHaveLength(5 * config.depth + 3);
    expect(gemms.every((node) => node.attribute?.some((a) => a.name === 'transB' && Number(a.i) === 1))).toBe(true);
  });

  it('embeds patches with a Gemm on the Conv3d weight viewed as [hidden, C·T·P·P], without bias', () => {
    const model = buildVisionGraph(checkpoint, config);
    const name = 'visual.patch_embed.proj.weight'; // torch [16, 3, 2, 14, 14]
    expect(model.initializers.find((i) => i.name === name)?.dims).toEqual([16, 3 * 2 * 14 * 14]);
    const embed = model.proto.graph?.node?.find((node) => node.name === 'visual.patch_embed.proj');
    expect([embed?.opType, embed?.input]).toEqual(['Gemm', ['pixel_values', name]]);
  });

  it('stores fp16 weights as float16 and casts them back to float32 in the graph', async () => {
    const name = 'visual.merger.mlp.2.weight'; // torch [12, 64]
    const model = buildVisionGraph(checkpoint, config, { precision: 'fp16' });
    const init = model.initializers.find((i) => i.name === name);
    expect([init?.type, init?.dims, init?.byteLength]).toEqual(['float16', [12, 64], 64 * 12 * 2]);
    const names = new Set(visionTensors(config).map((spec) => spec.name));
    const weightTypes = model.initializers.filter((i) => names.has(i.name)).map((i) => i.type);
    expect(new Set(weightTypes)).toEqual(new Set(['float16']));
    const casts = model.proto.graph?.node?.filter((node) => node.opType === 'Cast' && node.input?.[0] === name) ?? [];
    expect(casts).toHaveLength(1);
    const bytes = await initializerValues(model, name);
    const stored = float16ToFloat32(new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 2));
    const original = await checkpoint.readFloat32(name);
    expect(Math.abs(stored[3 * 64 + 5] - original[3 * 64 + 5])).toBeLessThanOrEqual(Math.abs(original[3 * 64 + 5]) * 2 ** -11);
  });

  it('with float16 activations, computes the linear layers on the float16 weights as stored (int8: float16 scales), its inputs and features float32', () => {
    const declared = (model: OnnxModel) => [...(model.proto.graph?.input ?? []), ...(model.proto.graph?.output ?? [])].map((value) => [value.name, value.type?.tensorType?.elemType]);
    const float32 = buildVisionGraph(checkpoint, config, { precision: 'fp16' });
    const model = buildVisionGraph(checkpoint, config, { precision: 'fp16', activations: 'float16' });
    expect(declared(model)).toEqual(declared(float32));
    const nodes = model.proto.graph?.node ?? [];
    const stored = new Map(model.initializers.map((i) => [i.name, i.type]));
    const gemms = nodes.filter((node) => node.opType === 'Gemm');
    expect(gemms.length).toBeGreaterThan(0);
    for (const gemm of gemms) expect(stored.get(gemm.input![1])).toBe('float16');
    // Only the norm weights are cast (to float32: the norms compute in float32).
    const castWeights = nodes.filter((node) => node.opType === 'Cast' && stored.has(node.input![0])).map((node) => node.input![0]);
    expect(castWeights.every((name) => name.includes('norm') || name.includes('ln_q'))).toBe(true);
    const int8 = buildVisionGraph(checkpoint, config, { precision: 'int8', activations: 'float16' });
    const int8Stored = new Map(int8.initializers.map((i) => [i.name, i.type]));
    const matmuls = (int8.proto.graph?.node ?? []).filter((node) => node.opType === 'MatMulNBits');
    expect(matmuls.length).toBeGreaterThan(0);
    for (const matmul of matmuls) expect(int8Stored.get(matmul.input![2])).toBe('float16');
    expect(() => buildVisionGraph(checkpoint, config, { activations: 'float16' })).toThrow('VisionExportOptions activations: float16 activations need fp16, int8 or int4 weights, got fp32');
  });

  it('refuses a weight beyond float16 range when writing fp16, naming the tensor, instead of storing infinity', async () => {
    const name = 'visual.blocks.1.attn.proj.weight';
    const source: WeightSource = {
      info: (tensor) => checkpoint.info(tensor),
      readFloat32: async (tensor) => {
        const values = await checkpoint.readFloat32(tensor);
        if (tensor === name) values[17] = -1e5;
        return values;
      },
    };
    const error = await writeAll(buildVisionGraph(source, config, { precision: 'fp16' })).catch((e: unknown) => e);
    expect(isQwenVLError(error, 'INVALID_WEIGHTS')).toBe(true);
    expect((error as Error).message).toBe(`tensor "${name}": holds -100000 at index 17, beyond float16's range (±65504); export with precision "fp32"`);
    await writeAll(buildVisionGraph(source, config)); // fp32 keeps the value
  });

  it('rejects a checkpoint whose shapes disagree with the config, naming the tensor', () => {
    expect(() => buildVisionGraph(checkpoint, { ...config, intermediateSize: 32 })).toThrow('tensor "visual.blocks.0.mlp.gate_proj.weight": has shape [24, 16], but config.json implies [32, 16]');
    expect(() => buildVisionGraph(checkpoint, { ...config, depth: 3 })).toThrow(expect.objectContaining({ code: 'INVALID_WEIGHTS', message: expect.stringContaining('visual.blocks.2.norm1.weight') }));
  });
});
