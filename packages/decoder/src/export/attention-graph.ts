import { float } from '@qwen-vl/core';
import type { GraphBuilder, TextConfig } from '@qwen-vl/core';
import type { CheckpointWeights } from './checkpoint-weights.js';
import { ONNX_FLOAT, ONNX_INT32 } from './onnx-types.js';
import { linear } from './layer-ops.js';
import { applyRotary } from './mrope-graph.js';
import type { RotaryTables } from './mrope-graph.js';

/** Values every layer's attention shares, computed once per run from the graph inputs. */
export interface AttentionContext {
  readonly rotary: RotaryTables;
  /** int64 `[B, S, heads, headDim]` and `[B, S, kvHeads, headDim]`, for Reshape. */
  readonly queryHeadsShape: string;
  readonly keyHeadsShape: string;
  /** int64 `[B, S, -1]`: back to GroupQueryAttention's packed heads. */
  readonly packedShape: string;
  /** GroupQueryAttention's `seqlens_k` (int32 `[B]`) and `total_sequence_length` (int32 scalar). */
  readonly seqlensK: string;
  readonly totalLength: string;
  /** float32 `[B, 1, S, total]`: 0 on real keys, a large negative number on padding. */
  readonly paddingBias: string;
}

/**
 * Far below any real attention score, so its softmax weight is exactly 0, yet far above
 * -FLT_MAX, so adding a score never overflows to -inf: a padded query row whose keys are all
 * padding then still gets finite (ignored) values, never NaN that the next layer's keys would
 * carry into real rows.
 */
const PADDING_BIAS = -1e30;

/**
 * The attention inputs derived from `attention_mask` `[B, total]`. GroupQueryAttention reads
 * `seqlens_k` as if padding were on the right; with left padding that would cut off the
 * newest keys. So every row is declared full length (causality then comes out right for all
 * rows) and the padded keys are removed through `attention_bias` instead.
 */
export function attentionContext(graph: GraphBuilder, inputsEmbeds: string, attentionMask: string, rotary: RotaryTables, text: TextConfig): AttentionContext {
  const batchAndLength = graph.op('Shape', [inputsEmbeds], { end: 2 }, { name: 'attention/batch_and_length' });
  const batch = graph.op('Shape', [inputsEmbeds], { end: 1 }, { name: 'attention/batch' });
  const length = graph.op('Shape', [inputsEmbeds], { start: 1, end: 2 }, { name: 'attention/length' });
  const total = graph.op('Shape', [attentionMask], { start: 1, end: 2 }, { name: 'attention/total' });
  const shapeWith = (tail: readonly number[], name: string) => graph.op('Concat', [batchAndLength, graph.constInt64(tail)], { axis: 0 }, { name });

  const lastIndex = graph.op('Sub', [total, graph.constInt64([1])], {}, { name: 'attention/last_index' });
  const seqlensK = graph.op('Cast', [graph.op('Expand', [lastIndex, batch], {}, { name: 'attention/last_index_per_row' })], { to: ONNX_INT32 }, { name: 'attention/seqlens_k' });
  const totalLength = graph.op('Cast', [graph.op('Squeeze', [total, graph.constInt64([0])], {}, { name: 'attention/total_scalar' })], { to: ONNX_INT32 }, { name: 'attention/total_sequence_length' });

  const keep = graph.op('Cast', [attentionMask], { to: ONNX_FLOAT }, { name: 'attention/keep' });
  const bias = graph.op('Mul', [graph.op('Sub', [keep, graph.constFloat(1)], {}, { name: 'attention/drop' }), graph.constFloat(-PADDING_BIAS)], {}, { name: 'attention/key_bias' });
  const biasShape = graph.op('Concat', [batch, graph.constInt64([1]), length, total], { axis: 0 }, { name: 'attention/bias_shape' });
  const paddingBias = graph.op('Expand', [graph.op('Unsqueeze', [bias, graph.constInt64([1, 2])], {}, { name: 'attention/key_bias_b11t' }), biasShape], {}, { name: 'attention/padding_bias' });

  return {
    rotary,
    queryHeadsShape: shapeWith([text.numAttentionHeads, text.headDim], 'attention/query_heads_shape'),
    keyHeadsShape: shapeWith([text.numKeyValueHeads, text.headDim], 'attention/key_heads_shape'),
    packedShape: shapeWith([-1], 'attention/packed_shape'),
    seqlensK,
    totalLength,
    paddingBias,
  };
}

export interface LayerCache {
  readonly pastKey: string;
  readonly pastValue: string;
  readonly presentKey: string;
  readonly presentValue: string;
}

/**
 * One layer's self-attention on `x` `[B·S, hidden]` (already normed): biased q/k/v
 * projections, MRoPE on q and k, grouped-query attention over the cache, o_proj.
 * Returns `[B·S, hidden]`; the present key/value come out under `cache`'s names.
 */
export function selfAttention(graph: GraphBuilder, weights: CheckpointWeights, x: string, prefix: string, cache: LayerCache, context: AttentionContext, text: TextConfig): string {
  const { hiddenSize, numAttentionHeads: heads, numKeyValueHeads: kvHeads, headDim } = text;
  const projectHeads = (name: string, count: number, shape: string) =>
    graph.op('Reshape', [linear(graph, weights, x, `${prefix}.${name}`, count * headDim, hiddenSize, true), shape], {}, { name: `${prefix}/${name}_heads` });
  const pack = (value: string, name: string) => graph.op('Reshape', [value, context.packedShape], {}, { name: `${prefix}/${name}_packed` });

  const query = applyRotary(graph, projectHeads('q_proj', heads, context.queryHeadsShape), context.rotary, `${prefix}/q`);
  const key = applyRotary(graph, projectHeads('k_proj', kvHeads, context.keyHeadsShape), context.rotary, `${prefix}/k`);
  const value = linear(graph, weights, x, `${prefix}.v_proj`, kvHeads * headDim, hiddenSize, true);

  const [attended] = graph.opMulti(
    'GroupQueryAttention',
    [pack(query, 'q'), pack(key, 'k'), pack(value, 'v'), cache.pastKey, cache.pastValue, context.seqlensK, context.totalLength, '', '', '', context.paddingBias],
    [`${prefix}/attention_output`, cache.presentKey, cache.presentValue],
    { num_heads: heads, kv_num_heads: kvHeads, scale: float(1 / Math.sqrt(headDim)) },
    { domain: 'com.microsoft', name: `${prefix}/attention` },
  );
  const flat = graph.op('Reshape', [attended, graph.constInt64([-1, heads * headDim])], {}, { name: `${prefix}/attention_rows` });
  return linear(graph, weights, flat, `${prefix}.o_proj`, hiddenSize, heads * headDim, false);
}
