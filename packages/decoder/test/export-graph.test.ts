import { describe, expect, it } from 'vitest';
import { Checkpoint, generateTinyCheckpoint, isQwenVLError, memoryByteSource, parseModelConfig } from '@qwen-vl/core';
import type { ModelConfig, OnnxModel, TinyTextOptions } from '@qwen-vl/core';
import { buildDecoderModel, buildEmbedModel } from '../src/index.js';

/** The exported graphs' structure: public I/O, opsets, attention wiring, weight storage. */

const FLOAT = 1;
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
  it('has the genai / transformers.js decoder inputs and outputs, with symbolic batch and lengths', async () => {
    const { checkpoint, config } = await tinyModel();
    const model = buildDecoderModel(checkpoint, config.text);
    const kv = (name: string, length: string) => ({ name, type: FLOAT, dims: ['batch_size', 2, length, 8] });
    expect(signature(model.proto.graph?.input)).toEqual([
      { name: 'inputs_embeds', type: FLOAT, dims: ['batch_size', 'sequence_length', 32] },
      { name: 'attention_mask', type: INT64, dims: ['batch_size', 'total_sequence_length'] },
      { name: 'position_ids', type: INT64, dims: [3, 'batch_size', 'sequence_length'] },
      ...[0, 1, 2].flatMap((i) => [kv(`past_key_values.${i}.key`, 'past_sequence_length'), kv(`past_key_values.${i}.value`, 'past_sequence_length')]),
      { name: 'num_logits_to_keep', type: INT64, dims: [] },
    ]);
    expect(signature(model.proto.graph?.output)).toEqual([
      { name: 'logits', type: FLOAT, dims: ['batch_size', 'logits_length', 64] },
      ...[0, 1, 2].flatMap((i) => [kv(`present.${i}.key`, 'total_sequence_length'), kv(`present.${i}.value`, 'total_sequence_length')]),
    ]);
    expect(model.proto.opsetImport).toEqual([
      { domain: '', version: 21 },
      { domain: 'com.microsoft', version: 1 },
    ]);
  });

  it('runs one GroupQueryAttention per layer, rotary outside it, padding through attention_bias', async () => {
    const { checkpoint, config } = await tinyModel();
    const model = buildDecoderModel(checkpoint, config.text);
    const attention = nodes(model, 'GroupQueryAttention');
    expect(attention).toHaveLength(3);
    attention.forEach((node, i) => {
      expect(node.domain).toBe('com.microsoft');
      expect(intAttribute(node, 'num_heads')).toBe(4);
      expect(intAttribute(node, 'kv_num_heads')).toBe(2);
      // MRoPE is applied before the op, which must not rotate again.
      expect(intAttribute(node, 'do_rotary') ?? 0).toBe(0);
      expect(node.input?.[3]).toBe(`past_key_values.${i}.key`);
      expect(node.input?.[4]).toBe(`past_key_values.${i}.value`);
      // cos_cache, sin_cache and position_ids left out; attention_bias (input 10) given.
      expect(node.input?.slice(7, 10)).toEqual(['', '', '']);
      expect(node.input?.[10]).toBe(attention[0].input?.[10]);
      expect(node.output?.slice(1)).toEqual([`present.${i}.key`, `present.${i}.value`]);
    });
    expect(nodes(model, 'SimplifiedLayerNormalization')).toHaveLength(2 * 3 + 1);
  });

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
    expect((error as Error).message).toBe('tensor "model.layers.0.mlp.gate_proj.weight": has shape [64, 32], config.json implies [48, 32]');
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
