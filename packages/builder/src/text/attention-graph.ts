import type { GraphBuilder } from '../onnx/graph-builder.js';
import type { TextConfig } from '@qwen-vl/core';
import type { GraphWeights } from '../graph/graph-weights.js';
import { applyRotary, linear } from '../graph/layers.js';
import { ELEMENT_TYPES } from '../onnx/proto.js';
import type { RotaryTables } from './rotary-graph.js';

/** Values every layer's attention shares, computed once per run from the graph inputs. */
export interface AttentionContext {
  readonly rotary: RotaryTables;
  /** int64 `[B, S, heads, headDim]` and `[B, S, kvHeads, headDim]`, for Reshape. */
  readonly queryHeadsShape: string;
  readonly keyHeadsShape: string;
  /**
   * float32 `[B, 1, groups·S, total]`: 0 where a query may see a key (causal, and the key
   * is not padding), a large negative number elsewhere. Row `g·S + s` is query `s`, so it
   * lines up with the grouped query rows of every key/value head.
   */
  readonly scoreBias: string;
}

/**
 * Far below any real attention score, so its softmax weight is exactly 0, yet far above
 * -FLT_MAX, so adding a score never overflows to -inf: a padded query row whose keys are all
 * padding then still gets finite (ignored) values, never NaN that the next layer's keys would
 * carry into real rows.
 */
const MASKED_BIAS = -1e30;

/**
 * The attention inputs derived from `attention_mask` `[B, total]` (left padding allowed) and
 * the new tokens' count S: query s sits at cache position `total − S + s` and sees the keys
 * at or before it that are not padding.
 */
export function attentionContext(graph: GraphBuilder, inputsEmbeds: string, attentionMask: string, rotary: RotaryTables, text: TextConfig): AttentionContext {
  const batchAndLength = graph.op('Shape', [inputsEmbeds], { end: 2 }, { name: 'attention/batch_and_length' });
  const length = graph.op('Shape', [inputsEmbeds], { start: 1, end: 2 }, { name: 'attention/length' });
  const total = graph.op('Shape', [attentionMask], { start: 1, end: 2 }, { name: 'attention/total' });
  const shapeWith = (tail: readonly number[], name: string) => graph.op('Concat', [batchAndLength, graph.constInt64(tail)], { axis: 0 }, { name });
  const scalar = (value: string, name: string) => graph.op('Squeeze', [value, graph.constInt64([0])], {}, { name });

  const totalScalar = scalar(total, 'attention/total_scalar');
  const past = graph.op('Sub', [totalScalar, scalar(length, 'attention/length_scalar')], {}, { name: 'attention/past' });
  const keyPositions = graph.op('Range', [graph.constInt64(0), totalScalar, graph.constInt64(1)], {}, { name: 'attention/key_positions' });
  const queryPositions = graph.op('Range', [past, totalScalar, graph.constInt64(1)], {}, { name: 'attention/query_positions' });
  const causal = graph.op(
    'LessOrEqual',
    [
      graph.op('Unsqueeze', [keyPositions, graph.constInt64([0])], {}, { name: 'attention/key_row' }),
      graph.op('Unsqueeze', [queryPositions, graph.constInt64([1])], {}, { name: 'attention/query_column' }),
    ],
    {},
    { name: 'attention/causal' },
  );
  const realKeys = graph.op(
    'Unsqueeze',
    [graph.op('Cast', [attentionMask], { to: ELEMENT_TYPES.bool.code }, { name: 'attention/real_keys' }), graph.constInt64([1])],
    {},
    { name: 'attention/real_keys_b1t' },
  );
  const visible = graph.op('And', [causal, realKeys], {}, { name: 'attention/visible' });
  const bias = graph.op('Where', [visible, graph.constFloat(0), graph.constFloat(MASKED_BIAS)], {}, { name: 'attention/bias_bst' });
  const groups = text.numAttentionHeads / text.numKeyValueHeads;
  const scoreBias = graph.op(
    'Tile',
    [graph.op('Unsqueeze', [bias, graph.constInt64([1])], {}, { name: 'attention/bias_b1st' }), graph.constInt64([1, 1, groups, 1])],
    {},
    { name: 'attention/score_bias' },
  );

  return {
    rotary,
    queryHeadsShape: shapeWith([text.numAttentionHeads, text.headDim], 'attention/query_heads_shape'),
    keyHeadsShape: shapeWith([text.numKeyValueHeads, text.headDim], 'attention/key_heads_shape'),
    scoreBias,
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
 *
 * Attention is written in plain ONNX ops (MatMul, Softmax) rather than onnxruntime's fused
 * GroupQueryAttention, whose WebGPU kernel (onnxruntime 1.30) is wrong once 32 or more
 * tokens are new (0.4 off on its own output). The query heads sharing a key/value head are
 * stacked as `groups·S` rows, so the shared keys are never repeated in memory.
 */
export function selfAttention(graph: GraphBuilder, weights: GraphWeights, x: string, prefix: string, cache: LayerCache, context: AttentionContext, text: TextConfig): string {
  const { numAttentionHeads: heads, numKeyValueHeads: kvHeads, headDim } = text;
  const op = (type: string, inputs: readonly string[], name: string, attributes = {}) => graph.op(type, inputs, attributes, { name: `${prefix}/${name}` });
  const headsFirst = (value: string, name: string) => op('Transpose', [value], name, { perm: [0, 2, 1, 3] });
  const projectHeads = (name: string, shape: string) => op('Reshape', [linear(graph, weights, x, `${prefix}.${name}`), shape], `${name}_heads`);

  const rotary = (projected: string, name: string) => applyRotary(graph, projected, context.rotary.cos, context.rotary.sin, `${prefix}/${name}`);
  const query = rotary(projectHeads('q_proj', context.queryHeadsShape), 'q');
  const key = rotary(projectHeads('k_proj', context.keyHeadsShape), 'k');
  const value = projectHeads('v_proj', context.keyHeadsShape);

  // The cache holds rotated keys, as Hugging Face's does: `[B, kvHeads, total, headDim]`.
  const presentKey = graph.op('Concat', [cache.pastKey, headsFirst(key, 'k_heads_first')], { axis: 2 }, { name: `${prefix}/present_key`, output: cache.presentKey });
  const presentValue = graph.op('Concat', [cache.pastValue, headsFirst(value, 'v_heads_first')], { axis: 2 }, { name: `${prefix}/present_value`, output: cache.presentValue });

  // Scaling the queries is cheaper than scaling the scores whenever total > headDim.
  const scaled = op('Mul', [query, graph.constFloat(1 / Math.sqrt(headDim))], 'q_scaled');
  const groupedQuery = op('Reshape', [headsFirst(scaled, 'q_heads_first'), graph.constInt64([0, kvHeads, -1, headDim])], 'q_grouped');
  const scores = op('MatMul', [groupedQuery, op('Transpose', [presentKey], 'keys_transposed', { perm: [0, 1, 3, 2] })], 'scores');
  const weightsPerKey = op('Softmax', [op('Add', [scores, context.scoreBias], 'masked_scores')], 'attention_weights', { axis: -1 });
  const attended = op('Reshape', [op('MatMul', [weightsPerKey, presentValue], 'attended_grouped'), graph.constInt64([0, heads, -1, headDim])], 'attended_heads');
  const rows = op('Reshape', [headsFirst(attended, 'attended_tokens_first'), graph.constInt64([-1, heads * headDim])], 'attention_rows');
  return linear(graph, weights, rows, `${prefix}.o_proj`);
}
