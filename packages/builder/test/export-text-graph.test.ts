import { describe, expect, it } from 'vitest';
import { Checkpoint } from '../src/safetensors/checkpoint.js';
import { generateTinyCheckpoint } from '../src/checkpoint/tiny-checkpoint.js';
import { isQwenVLError, parseModelConfig } from '@qwen-vl/core';
import { memoryByteSource } from '../src/safetensors/byte-source.js';
import type { ModelConfig } from '@qwen-vl/core';
import type { OnnxModel } from '../src/onnx/graph-builder.js';
import type { TinyTextOptions } from '../src/checkpoint/tiny-checkpoint.js';
import { buildDecoderModel, buildEmbedModel, computeTypeFor } from '../src/index.js';

/** The exported graphs' structure: public I/O, opsets, attention wiring, weight storage. */

const FLOAT = 1;
const FLOAT16 = 10;
const INT64 = 7;

async function tinyModel(text: Partial<TinyTextOptions> = {}): Promise<{ checkpoint: Checkpoint; config: ModelConfig }> {
  const { files } = generateTinyCheckpoint({ text: { vocabSize: 64, layers: 3, heads: 4, kvHeads: 2, mropeSection: [1, 1, 2], ...text } });
  const config = parseModelConfig(JSON.parse(files.get('config.json') as string));
  const checkpoint = await Checkpoint.open({
    exists: async (name) => files.has(name),
    readText: async (name) => files.get(name) as string,
    openBytes: async (name) => memoryByteSource(name, files.get(name) as Uint8Array),
  });
  return { checkpoint, config };
}

/** Name, element type and dims (numbers or symbolic names) of each graph input or output. */
function signature(values: NonNullable<OnnxModel['proto']['graph']>['input']) {
  return (values ?? []).map((v) => ({
    name: v.name,
    type: v.type?.tensorType?.elemType,
    dims: (v.type?.tensorType?.shape?.dim ?? []).map((d) => d.dimParam ?? Number(d.dimValue)),
  }));
}

function nodes(model: OnnxModel, opType: string) {
  return (model.proto.graph?.node ?? []).filter((n) => n.opType === opType);
}

function intAttribute(node: ReturnType<typeof nodes>[number], name: string): number | undefined {
  const attribute = node.attribute?.find((a) => a.name === name);
  return attribute?.i === undefined || attribute.i === null ? undefined : Number(String(attribute.i));
}

describe('buildDecoderModel', () => {
  it('has the decoder inputs and outputs, with symbolic batch and lengths, in the ONNX domain only', async () => {
    const { checkpoint, config } = await tinyModel();
    const model = buildDecoderModel(checkpoint, config.text);
    const kv = (name: string, length: string) => ({ name, type: FLOAT, dims: ['batch_size', 2, length, 8] });
    expect(signature(model.proto.graph?.input)).toEqual([
      { name: 'inputs_embeds', type: FLOAT, dims: ['batch_size', 'sequence_length', 32] },
      { name: 'attention_mask', type: INT64, dims: ['batch_size', 'total_sequence_length'] },
      { name: 'rotary_cos', type: FLOAT, dims: ['batch_size', 'sequence_length', 8] },
      { name: 'rotary_sin', type: FLOAT, dims: ['batch_size', 'sequence_length', 8] },
      ...[0, 1, 2].flatMap((i) => [kv(`past_key_values.${i}.key`, 'past_sequence_length'), kv(`past_key_values.${i}.value`, 'past_sequence_length')]),
      { name: 'num_logits_to_keep', type: INT64, dims: [] },
    ]);
    expect(signature(model.proto.graph?.output)).toEqual([
      { name: 'logits', type: FLOAT, dims: ['batch_size', 'logits_length', 64] },
      ...[0, 1, 2].flatMap((i) => [kv(`present.${i}.key`, 'total_sequence_length'), kv(`present.${i}.value`, 'total_sequence_length')]),
    ]);
    expect(model.proto.opsetImport).toEqual([{ domain: '', version: 21 }]);
  });

  it('attends with plain MatMul and Softmax: grouped queries against the concatenated cache, one mask for all layers', async () => {
    const { checkpoint, config } = await tinyModel();
    const model = buildDecoderModel(checkpoint, config.text);
    const graphNodes = model.proto.graph?.node ?? [];
    const softmax = nodes(model, 'Softmax');
    expect(softmax).toHaveLength(3);
    const maskAdds = softmax.map((node) => graphNodes.find((n) => n.output?.includes(node.input?.[0] ?? ''))!);
    // Every layer adds the same causal + padding bias before its softmax.
    expect(new Set(maskAdds.map((node) => node.input?.[1])).size).toBe(1);
    for (let i = 0; i < 3; i++) {
      for (const [part, past] of [
        ['key', `past_key_values.${i}.key`],
        ['value', `past_key_values.${i}.value`],
      ]) {
        const concat = graphNodes.find((n) => n.output?.includes(`present.${i}.${part}`));
        expect(concat?.opType).toBe('Concat');
        expect(intAttribute(concat!, 'axis')).toBe(2);
        expect(concat?.input?.[0]).toBe(past);
      }
    }
    expect(graphNodes.some((n) => n.domain !== '' && n.domain !== undefined && n.domain !== null)).toBe(false);
    expect(nodes(model, 'SimplifiedLayerNormalization')).toHaveLength(2 * 3 + 1);
  });

  it.each(['group-query', 'group-query-fp16'] as const)(
    '%s: the same inputs and outputs; each layer one If between a com.microsoft GroupQueryAttention (no rotary of its own) and the plain ops, on one condition',
    async (attention) => {
      const { checkpoint, config } = await tinyModel();
      const plain = buildDecoderModel(checkpoint, config.text);
      const model = buildDecoderModel(checkpoint, config.text, { attention });
      expect(signature(model.proto.graph?.input)).toEqual(signature(plain.proto.graph?.input));
      expect(signature(model.proto.graph?.output)).toEqual(signature(plain.proto.graph?.output));
      expect(model.proto.opsetImport).toEqual([
        { domain: '', version: 21 },
        { domain: 'com.microsoft', version: 1 },
      ]);
      const ifs = nodes(model, 'If');
      expect(ifs.map((node) => node.output?.slice(1))).toEqual([0, 1, 2].map((i) => [`present.${i}.key`, `present.${i}.value`]));
      expect(new Set(ifs.map((node) => node.input?.[0])).size).toBe(1);
      const halves = attention === 'group-query-fp16';
      ifs.forEach((node, i) => {
        const branch = (name: string) => node.attribute?.find((a) => a.name === name)?.g?.node ?? [];
        const [gqa, ...others] = branch('then_branch').filter((n) => n.opType === 'GroupQueryAttention');
        expect(others).toEqual([]);
        expect(gqa.domain).toBe('com.microsoft');
        expect([intAttribute(gqa, 'num_heads'), intAttribute(gqa, 'kv_num_heads'), intAttribute(gqa, 'do_rotary')]).toEqual([4, 2, 0]);
        expect(gqa.attribute?.find((a) => a.name === 'scale')?.f).toBeCloseTo(1 / Math.sqrt(8), 7);
        // The CPU form masks the padding with the bias (input 10); CUDA's kernel takes none, and float16.
        expect(gqa.input).toHaveLength(halves ? 7 : 11);
        const pastKey = branch('then_branch').find((n) => n.output?.includes(gqa.input![3]));
        expect(halves ? [pastKey?.opType, pastKey?.input?.[0]] : gqa.input?.[3]).toEqual(halves ? ['Cast', `past_key_values.${i}.key`] : `past_key_values.${i}.key`);
        expect(branch('else_branch').filter((n) => n.opType === 'Softmax')).toHaveLength(1);
        expect(branch('else_branch').some((n) => n.opType === 'Concat' && n.input?.[0] === `past_key_values.${i}.value`)).toBe(true);
      });
      expect(nodes(model, 'Softmax')).toEqual([]);
    },
  );

  it('projects logits with lm_head.weight, or with the embedding table when the embeddings are tied', async () => {
    const head = (model: OnnxModel) => nodes(model, 'Gemm').find((n) => n.name === 'lm_head' || n.name === 'model.embed_tokens');
    const untied = await tinyModel();
    const untiedModel = buildDecoderModel(untied.checkpoint, untied.config.text);
    expect(head(untiedModel)?.input?.[1]).toBe('lm_head.weight');
    expect(untiedModel.initializers.some((i) => i.name === 'model.embed_tokens.weight')).toBe(false);

    const tied = await tinyModel({ tieWordEmbeddings: true });
    const tiedModel = buildDecoderModel(tied.checkpoint, tied.config.text);
    expect(head(tiedModel)?.input?.[1]).toBe('model.embed_tokens.weight');
    expect(tiedModel.initializers.some((i) => i.name === 'lm_head.weight')).toBe(false);
  });

  it('stores every text weight of the checkpoint once, as float32 or as float16 widened by a Cast', async () => {
    const { checkpoint, config } = await tinyModel();
    const textWeights = checkpoint.names().filter((n) => n.startsWith('model.layers.') || n === 'model.norm.weight' || n === 'lm_head.weight');
    for (const precision of ['fp32', 'fp16'] as const) {
      const model = buildDecoderModel(checkpoint, config.text, { precision });
      const weights = model.initializers.filter((i) => checkpoint.has(i.name));
      expect(weights.map((w) => w.name).sort()).toEqual([...textWeights].sort());
      for (const weight of weights) {
        expect(weight.dims).toEqual(checkpoint.info(weight.name).shape);
        expect(weight.type).toBe(precision === 'fp32' ? 'float32' : 'float16');
        const consumers = (model.proto.graph?.node ?? []).filter((n) => n.input?.includes(weight.name));
        expect(consumers.map((n) => n.opType)).toEqual(precision === 'fp32' ? [expect.not.stringMatching(/^Cast$/)] : ['Cast']);
      }
    }
  });

  it('names the tensor when a checkpoint shape disagrees with config.json', async () => {
    const { checkpoint, config } = await tinyModel();
    const error = (() => {
      try {
        buildDecoderModel(checkpoint, { ...config.text, intermediateSize: 48 });
      } catch (e) {
        return e;
      }
    })();
    expect(isQwenVLError(error, 'INVALID_WEIGHTS')).toBe(true);
    expect((error as Error).message).toBe('tensor "model.layers.0.mlp.gate_proj.weight": has shape [64, 32], but config.json implies [48, 32]');
  });
});

describe('float16 activations (an fp16 build for CUDA or DirectML)', () => {
  it.each(['plain', 'group-query-fp16'] as const)(
    '%s: the cache in and out float16, the other inputs and the logits float32; linear layers on float16 weights, norms and softmax on float32',
    async (attention) => {
      const { checkpoint, config } = await tinyModel();
      const float32 = buildDecoderModel(checkpoint, config.text, { precision: 'fp16', attention });
      const model = buildDecoderModel(checkpoint, config.text, { precision: 'fp16', attention, activations: 'float16' });
      const cache = (name: string | null | undefined) => /^(past_key_values|present)\./.test(name ?? '');
      for (const side of ['input', 'output'] as const) {
        const expected = signature(float32.proto.graph?.[side]).map((value) => (cache(value.name) ? { ...value, type: FLOAT16 } : value));
        expect(signature(model.proto.graph?.[side])).toEqual(expected);
      }
      // No weight is widened: every Gemm takes its float16 initializer as it is stored.
      const stored = new Map(model.initializers.map((i) => [i.name, i.type]));
      const gemms = nodes(model, 'Gemm');
      expect(gemms.length).toBe(3 * 7 + 1);
      for (const gemm of gemms) expect(stored.get(gemm.input![1])).toBe('float16');
      // Norm weights stay float32 (the norms compute in float32), widened from their float16 storage.
      const castOutputs = new Set(nodes(model, 'Cast').flatMap((node) => node.output ?? []));
      expect(nodes(model, 'SimplifiedLayerNormalization').every((node) => castOutputs.has(node.input![1]))).toBe(true);
      const castTo = (type: number) => nodes(model, 'Cast').filter((node) => intAttribute(node, 'to') === type).length;
      // Per layer: both norms' outputs to float16 and both branches' results back to float32; then the final norm and the logits.
      expect(castTo(FLOAT16)).toBeGreaterThanOrEqual(2 * 3 + 1);
      expect(castTo(FLOAT)).toBeGreaterThanOrEqual(2 * 3 + 1);
    },
  );

  it('refuses float16 activations on fp32 weights or with the CPU GroupQueryAttention, naming the option', async () => {
    const { checkpoint, config } = await tinyModel();
    for (const [options, message] of [
      [{ precision: 'fp32', activations: 'float16' }, 'decoder export option "activations": float16 activations need fp16 or int4 weights, got fp32'],
      [{ precision: 'fp16', activations: 'float16', attention: 'group-query' }, 'decoder export option "attention": cannot attend in float16'],
    ] as const) {
      expect(() => buildDecoderModel(checkpoint, config.text, options)).toThrow(message);
    }
  });

  it('is what an fp16 or int4 build gets for cuda and dml only', () => {
    const providers = ['cpu', 'cuda', 'dml', 'webgpu'] as const;
    for (const text of ['fp16', 'int4'] as const) {
      expect(providers.map((executionProvider) => computeTypeFor(text, executionProvider))).toEqual(['float32', 'float16', 'float16', 'float32']);
    }
    expect(providers.map((executionProvider) => computeTypeFor('fp32', executionProvider))).toEqual(['float32', 'float32', 'float32', 'float32']);
  });

  it('q4f16: MatMulNBits on float16 activations with float16 scales, which the embedding shares for a tied lm_head', async () => {
    const { checkpoint, config } = await tinyModel({ tieWordEmbeddings: true });
    const options = { precision: 'int4', activations: 'float16' } as const;
    const decoder = buildDecoderModel(checkpoint, config.text, { ...options, attention: 'group-query-fp16' });
    const embed = buildEmbedModel(checkpoint, config.text, options);
    const types = (model: OnnxModel) => new Map(model.initializers.map((i) => [i.name, i.type]));
    const matmuls = nodes(decoder, 'MatMulNBits');
    expect(matmuls).toHaveLength(3 * 7 + 1);
    for (const matmul of matmuls) expect(types(decoder).get(matmul.input![2])).toBe('float16');
    const head = matmuls.find((node) => node.input?.[1] === 'model.embed_tokens.weight');
    const [gather] = nodes(embed, 'GatherBlockQuantized');
    expect(head?.input?.[2]).toBe(gather.input?.[2]);
    expect(types(embed).get(gather.input![2])).toBe('float16');
    // The embedding's output and the decoder's logits stay float32.
    expect(signature(embed.proto.graph?.output)[0].type).toBe(FLOAT);
    expect(signature(decoder.proto.graph?.output).find((value) => value.name === 'logits')?.type).toBe(FLOAT);
  });
});

describe('buildEmbedModel', () => {
  it('maps input_ids [B, S] to float32 inputs_embeds [B, S, hidden] by a Gather on the embedding table', async () => {
    const { checkpoint, config } = await tinyModel();
    for (const precision of ['fp32', 'fp16'] as const) {
      const model = buildEmbedModel(checkpoint, config.text, { precision });
      expect(signature(model.proto.graph?.input)).toEqual([{ name: 'input_ids', type: INT64, dims: ['batch_size', 'sequence_length'] }]);
      expect(signature(model.proto.graph?.output)).toEqual([{ name: 'inputs_embeds', type: FLOAT, dims: ['batch_size', 'sequence_length', 32] }]);
      expect(model.initializers.map((i) => [i.name, i.type, i.dims])).toEqual([['model.embed_tokens.weight', precision === 'fp32' ? 'float32' : 'float16', [64, 32]]]);
      const [gather] = nodes(model, 'Gather');
      expect(gather.input).toEqual(['model.embed_tokens.weight', 'input_ids']);
      // fp16 rows are widened after the Gather, never the whole table.
      expect(nodes(model, 'Cast').map((n) => n.input?.[0])).toEqual(precision === 'fp32' ? [] : [gather.output?.[0]]);
      expect(model.proto.opsetImport).toEqual([{ domain: '', version: 21 }]);
    }
  });
});
