import type { GraphBuilder } from '../onnx/graph-builder.js';
import { QwenVLError } from '@qwen-vl/core';
import type { TextConfig } from '@qwen-vl/core';
import type { ComputeType, GraphWeights } from '../graph/graph-weights.js';
import { applyRotary, converted, linear, scalar } from '../graph/layers.js';
import { float } from '../onnx/attributes.js';
import { ELEMENT_TYPES } from '../onnx/proto.js';
import type { RotaryTables } from './rotary-graph.js';

/**
 * How the decoder's layers attend, which `qwen-vl build --execution-provider` picks:
 * - `plain`: ONNX ops (MatMul, Softmax), which every execution provider runs alike (the
 *   WebGPU and DirectML builds: onnxruntime's WebGPU GroupQueryAttention is wrong once 32 or
 *   more tokens are new).
 * - `group-query`: one com.microsoft GroupQueryAttention per layer, float32, the padding
 *   masked by its `attention_bias` (the CPU build).
 * - `group-query-fp16`: the same in float16 and without `attention_bias`, the form CUDA's
 *   kernel takes (it has no float32 kernel and refuses the bias) (the CUDA build).
 * Either group-query form falls back to the plain ops, inside the graph (an If), for the
 * runs its kernel cannot take (`GroupQueryInputs.fits`), so every run stays exact.
 */
export type DecoderAttention = 'plain' | 'group-query' | 'group-query-fp16';

/** GroupQueryAttention's inputs beyond q, k, v and the cache, computed once per run. */
interface GroupQueryInputs {
  /**
   * int32 `[B]`: every row's `total − 1`. The cache is laid out the same for every row
   * (left padding included), so each row's keys are all `total` positions; the padding is
   * masked by the bias, or absent where the kernel takes no bias.
   */
  readonly seqlensK: string;
  /** int32 scalar: `total`. */
  readonly totalLength: string;
  /**
   * bool scalar: whether GroupQueryAttention computes this run exactly. It refuses several
   * rows that each add several tokens to a cache ("batch_size must be 1 when sequence_length
   * > 1 and past context is given": a batched prompt past its first chunk, or a batched
   * extend); without `attention_bias` it also cannot see left padding. Those runs attend
   * with the plain ops.
   */
  readonly fits: string;
}

/** Values every layer's attention shares, computed once per run from the graph inputs. */
export interface AttentionContext {
  readonly attention: DecoderAttention;
  /**
   * The element type of the activations, q, k, v and the cache (the rotary tables are cast to
   * it): float32, or float16 in an fp16 build for a GPU provider. The scores are softmaxed in
   * float32 either way.
   */
  readonly type: ComputeType;
  readonly rotary: RotaryTables;
  /** int64 `[B, S, heads, headDim]` and `[B, S, kvHeads, headDim]`, for Reshape. */
  readonly queryHeadsShape: string;
  readonly keyHeadsShape: string;
  /**
   * float32 `[B, 1, S, total]`: 0 where a query may see a key (causal, and the key is not
   * padding), a large negative number elsewhere.
   */
  readonly bias: string;
  /**
   * `bias` tiled to `[B, 1, groups·S, total]`, whose row `g·S + s` is query `s`, so it lines
   * up with the grouped query rows of every key/value head; for `plain` attention only (the
   * group-query forms tile it in their rarely taken fallback).
   */
  readonly scoreBias: string | undefined;
  /** For the group-query forms. */
  readonly groupQuery: GroupQueryInputs | undefined;
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
export function attentionContext(
  graph: GraphBuilder,
  inputsEmbeds: string,
  attentionMask: string,
  rotary: RotaryTables,
  text: TextConfig,
  attention: DecoderAttention,
  type: ComputeType = 'float32',
): AttentionContext {
  if (type === 'float16' && attention === 'group-query') {
    throw new QwenVLError('INVALID_ARGUMENT', "cannot attend in float16 with the CPU's GroupQueryAttention, which is float32 only", { source: 'decoder export option "attention"' });
  }
  const batchAndLength = graph.op('Shape', [inputsEmbeds], { end: 2 }, { name: 'attention/batch_and_length' });
  const length = graph.op('Shape', [inputsEmbeds], { start: 1, end: 2 }, { name: 'attention/length' });
  const total = graph.op('Shape', [attentionMask], { start: 1, end: 2 }, { name: 'attention/total' });
  const shapeWith = (tail: readonly number[], name: string) => graph.op('Concat', [batchAndLength, graph.constInt64(tail)], { axis: 0 }, { name });
  const scalar = (value: string, name: string) => graph.op('Squeeze', [value, graph.constInt64([0])], {}, { name });

  const totalScalar = scalar(total, 'attention/total_scalar');
  const lengthScalar = scalar(length, 'attention/length_scalar');
  const past = graph.op('Sub', [totalScalar, lengthScalar], {}, { name: 'attention/past' });
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
  const biasBst = graph.op('Where', [visible, graph.constFloat(0), graph.constFloat(MASKED_BIAS)], {}, { name: 'attention/bias_bst' });
  const bias = graph.op('Unsqueeze', [biasBst, graph.constInt64([1])], {}, { name: 'attention/bias' });
  const batch = graph.op('Shape', [inputsEmbeds], { end: 1 }, { name: 'attention/batch' });

  return {
    attention,
    type,
    rotary: { cos: converted(graph, rotary.cos, 'float32', type, 'rope/cos_typed'), sin: converted(graph, rotary.sin, 'float32', type, 'rope/sin_typed') },
    queryHeadsShape: shapeWith([text.numAttentionHeads, text.headDim], 'attention/query_heads_shape'),
    keyHeadsShape: shapeWith([text.numKeyValueHeads, text.headDim], 'attention/key_heads_shape'),
    bias,
    scoreBias: attention === 'plain' ? groupedScoreBias(graph, bias, text, 'attention') : undefined,
    groupQuery: attention === 'plain' ? undefined : groupQueryInputs(graph, { batch, batchScalar: scalar(batch, 'attention/batch_scalar'), lengthScalar, totalScalar, past, attentionMask }, attention),
  };
}

/** `bias` repeated for the `heads / kvHeads` query heads stacked on each key/value head. */
function groupedScoreBias(graph: GraphBuilder, bias: string, text: TextConfig, prefix: string): string {
  const groups = text.numAttentionHeads / text.numKeyValueHeads;
  return graph.op('Tile', [bias, graph.constInt64([1, 1, groups, 1])], {}, { name: `${prefix}/score_bias` });
}

interface RunShape {
  /** int64 `[1]` and scalar: B. */
  readonly batch: string;
  readonly batchScalar: string;
  /** int64 scalars: S, total, total − S. */
  readonly lengthScalar: string;
  readonly totalScalar: string;
  readonly past: string;
  readonly attentionMask: string;
}

function groupQueryInputs(graph: GraphBuilder, run: RunShape, attention: Exclude<DecoderAttention, 'plain'>): GroupQueryInputs {
  const int32 = (value: string, name: string) => graph.op('Cast', [value], { to: ELEMENT_TYPES.int32.code }, { name });
  const lastPosition = graph.op('Sub', [run.totalScalar, graph.constInt64(1)], {}, { name: 'group_query/last_position' });
  const seqlensK = int32(graph.op('Expand', [lastPosition, run.batch], {}, { name: 'group_query/last_positions' }), 'group_query/seqlens_k');
  const moreThan = (value: string, bound: number, name: string) => graph.op('Greater', [value, graph.constInt64(bound)], {}, { name });
  const batchedAppend = graph.op(
    'And',
    [
      graph.op('And', [moreThan(run.batchScalar, 1, 'group_query/several_rows'), moreThan(run.lengthScalar, 1, 'group_query/several_tokens')], {}, { name: 'group_query/several_rows_and_tokens' }),
      moreThan(run.past, 0, 'group_query/has_past'),
    ],
    {},
    { name: 'group_query/batched_append' },
  );
  const accepted = graph.op('Not', [batchedAppend], {}, { name: 'group_query/accepted' });
  // Without attention_bias the kernel sees every position as a key: only a mask without padding is exact.
  const fits =
    attention === 'group-query'
      ? accepted
      : graph.op(
          'And',
          [accepted, graph.op('Equal', [graph.op('ReduceMin', [run.attentionMask], { keepdims: 0 }, { name: 'group_query/least_mask' }), graph.constInt64(1)], {}, { name: 'group_query/no_padding' })],
          {},
          { name: 'group_query/fits' },
        );
  return { seqlensK, totalLength: int32(run.totalScalar, 'group_query/total_sequence_length'), fits };
}

export interface LayerCache {
  readonly pastKey: string;
  readonly pastValue: string;
  readonly presentKey: string;
  readonly presentValue: string;
}

/** A layer's q, k and v after the projections and MRoPE: `[B, S, heads, headDim]`, `[B, S, kvHeads, headDim]` twice. */
interface ProjectedHeads {
  readonly query: string;
  readonly key: string;
  readonly value: string;
}

/** The names an attention core gives its results. */
interface AttentionOutputs {
  /** `[B·S, heads·headDim]`, for o_proj. */
  readonly rows: string;
  readonly presentKey: string;
  readonly presentValue: string;
}

/**
 * One layer's self-attention on `x` `[B·S, hidden]` (already normed): biased q/k/v
 * projections, MRoPE on q and k, grouped-query attention over the cache (`context.attention`
 * says how), o_proj. Returns `[B·S, hidden]`; the present key/value come out under `cache`'s
 * names. The cache holds rotated keys, as Hugging Face's does: `[B, kvHeads, total, headDim]`.
 *
 * MRoPE is applied here in every form, from the tables the graph takes or computes:
 * GroupQueryAttention's own rotary (`do_rotary`) indexes its cos/sin caches by one position
 * per token, and Qwen2.5-VL's three (t, h, w) per token cannot be written that way.
 */
export function selfAttention(graph: GraphBuilder, weights: GraphWeights, x: string, prefix: string, cache: LayerCache, context: AttentionContext, text: TextConfig): string {
  const projectHeads = (name: string, shape: string) => graph.op('Reshape', [linear(graph, weights, x, `${prefix}.${name}`, context.type), shape], {}, { name: `${prefix}/${name}_heads` });
  const rotary = (projected: string, name: string) => applyRotary(graph, projected, context.rotary.cos, context.rotary.sin, `${prefix}/${name}`);
  const heads: ProjectedHeads = {
    query: rotary(projectHeads('q_proj', context.queryHeadsShape), 'q'),
    key: rotary(projectHeads('k_proj', context.keyHeadsShape), 'k'),
    value: projectHeads('v_proj', context.keyHeadsShape),
  };
  const rows =
    context.groupQuery === undefined
      ? plainAttention(graph, prefix, heads, cache, context.scoreBias!, text, context.type, { rows: `${prefix}/attention_rows`, presentKey: cache.presentKey, presentValue: cache.presentValue })
      : groupQueryOrPlain(graph, prefix, heads, cache, context, context.groupQuery, text);
  return linear(graph, weights, rows, `${prefix}.o_proj`, context.type);
}

/**
 * GroupQueryAttention when the run `fits` it, else the plain ops: one If, whose outputs are
 * the attention rows and the layer's present key/value.
 */
function groupQueryOrPlain(graph: GraphBuilder, prefix: string, heads: ProjectedHeads, cache: LayerCache, context: AttentionContext, inputs: GroupQueryInputs, text: TextConfig): string {
  const { numAttentionHeads, numKeyValueHeads, headDim } = text;
  const declare = (g: GraphBuilder, outputs: AttentionOutputs) => {
    g.output(outputs.rows, outputs.rows, context.type, ['batch_size_times_sequence_length', numAttentionHeads * headDim]);
    for (const present of [outputs.presentKey, outputs.presentValue]) g.output(present, present, context.type, ['batch_size', numKeyValueHeads, 'total_sequence_length', headDim]);
  };
  const branchOutputs = (branch: string): AttentionOutputs => ({ rows: `${prefix}/${branch}/rows`, presentKey: `${prefix}/${branch}/present_key`, presentValue: `${prefix}/${branch}/present_value` });
  const [rows] = graph.opMulti(
    'If',
    [inputs.fits],
    [`${prefix}/attention_rows`, cache.presentKey, cache.presentValue],
    {
      then_branch: graph.subgraph(`${prefix}/group_query`, (g) => {
        const outputs = branchOutputs('group_query');
        groupQueryAttention(g, `${prefix}/group_query`, heads, cache, context, inputs, text, outputs);
        declare(g, outputs);
      }),
      else_branch: graph.subgraph(`${prefix}/plain`, (g) => {
        const outputs = branchOutputs('plain');
        plainAttention(g, `${prefix}/plain`, heads, cache, groupedScoreBias(g, context.bias, text, `${prefix}/plain`), text, context.type, outputs);
        declare(g, outputs);
      }),
    },
    { name: `${prefix}/attention` },
  );
  return rows;
}

/**
 * com.microsoft GroupQueryAttention on q, k, v packed as `[B, S, heads·headDim]`, against the
 * BNSH cache; `do_rotary` 0, as MRoPE is already applied. In float32 with the causal +
 * padding bias (`group-query`), or in float16 without the bias for CUDA's kernel
 * (`group-query-fp16`): cast to float16 around the node when the graph computes in float32
 * (its cache then stays float32), as they are when it computes in float16.
 */
function groupQueryAttention(
  graph: GraphBuilder,
  prefix: string,
  heads: ProjectedHeads,
  cache: LayerCache,
  context: AttentionContext,
  inputs: GroupQueryInputs,
  text: TextConfig,
  outputs: AttentionOutputs,
): void {
  // The CUDA form's kernel is float16: float32 activations are cast around it.
  const halves = context.attention === 'group-query-fp16' && context.type === 'float32';
  const op = (type: string, operands: readonly string[], name: string, attributes = {}) => graph.op(type, operands, attributes, { name: `${prefix}/${name}` });
  const narrowed = (value: string, name: string) => (halves ? op('Cast', [value], `${name}_fp16`, { to: ELEMENT_TYPES.float16.code }) : value);
  const packed = (value: string, name: string) => narrowed(op('Reshape', [value, graph.constInt64([0, 0, -1])], `${name}_packed`), name);
  const [attended, presentKey, presentValue] = graph.opMulti(
    'GroupQueryAttention',
    [
      packed(heads.query, 'q'),
      packed(heads.key, 'k'),
      packed(heads.value, 'v'),
      narrowed(cache.pastKey, 'past_key'),
      narrowed(cache.pastValue, 'past_value'),
      inputs.seqlensK,
      inputs.totalLength,
      // cos_cache, sin_cache, position_ids: unused without do_rotary.
      ...(context.attention === 'group-query-fp16' ? [] : ['', '', '', context.bias]),
    ],
    halves ? 3 : [`${prefix}/attended`, outputs.presentKey, outputs.presentValue],
    { num_heads: text.numAttentionHeads, kv_num_heads: text.numKeyValueHeads, scale: float(1 / Math.sqrt(text.headDim)), do_rotary: 0 },
    { domain: 'com.microsoft', name: `${prefix}/attention` },
  );
  const widened = (value: string, name: string, output: string) => graph.op('Cast', [value], { to: ELEMENT_TYPES.float32.code }, { name: `${prefix}/${name}_fp32`, output });
  if (halves) {
    widened(presentKey, 'present_key', outputs.presentKey);
    widened(presentValue, 'present_value', outputs.presentValue);
  }
  const attendedFloat = halves ? widened(attended, 'attended', `${prefix}/attended_fp32`) : attended;
  graph.op('Reshape', [attendedFloat, graph.constInt64([-1, text.numAttentionHeads * text.headDim])], {}, { name: `${prefix}/rows`, output: outputs.rows });
}

/**
 * Attention in plain ONNX ops: the query heads sharing a key/value head are stacked as
 * `groups·S` rows, so one MatMul per key/value head scores them against the concatenated
 * cache without repeating the keys; `scoreBias` (`[B, 1, groups·S, total]`) masks before
 * the Softmax. Returns the rows.
 */
function plainAttention(graph: GraphBuilder, prefix: string, heads: ProjectedHeads, cache: LayerCache, scoreBias: string, text: TextConfig, type: ComputeType, outputs: AttentionOutputs): string {
  const { numAttentionHeads, numKeyValueHeads: kvHeads, headDim } = text;
  const op = (type: string, inputs: readonly string[], name: string, attributes = {}) => graph.op(type, inputs, attributes, { name: `${prefix}/${name}` });
  const headsFirst = (value: string, name: string) => op('Transpose', [value], name, { perm: [0, 2, 1, 3] });

  const presentKey = graph.op('Concat', [cache.pastKey, headsFirst(heads.key, 'k_heads_first')], { axis: 2 }, { name: `${prefix}/present_key`, output: outputs.presentKey });
  const presentValue = graph.op('Concat', [cache.pastValue, headsFirst(heads.value, 'v_heads_first')], { axis: 2 }, { name: `${prefix}/present_value`, output: outputs.presentValue });

  // Scaling the queries is cheaper than scaling the scores whenever total > headDim.
  const scaled = op('Mul', [heads.query, scalar(graph, 1 / Math.sqrt(headDim), type)], 'q_scaled');
  const groupedQuery = op('Reshape', [headsFirst(scaled, 'q_heads_first'), graph.constInt64([0, kvHeads, -1, headDim])], 'q_grouped');
  const scores = op('MatMul', [groupedQuery, op('Transpose', [presentKey], 'keys_transposed', { perm: [0, 1, 3, 2] })], 'scores');
  // The mask and the softmax in float32 (the bias is far below float16's range).
  const weightsPerKey = op('Softmax', [op('Add', [converted(graph, scores, type, 'float32', `${prefix}/scores_fp32`), scoreBias], 'masked_scores')], 'attention_weights', { axis: -1 });
  const attended = op(
    'Reshape',
    [op('MatMul', [converted(graph, weightsPerKey, 'float32', type, `${prefix}/attention_weights_typed`), presentValue], 'attended_grouped'), graph.constInt64([0, numAttentionHeads, -1, headDim])],
    'attended_heads',
  );
  return graph.op('Reshape', [headsFirst(attended, 'attended_tokens_first'), graph.constInt64([-1, numAttentionHeads * headDim])], {}, { name: `${prefix}/attention_rows`, output: outputs.rows });
}
