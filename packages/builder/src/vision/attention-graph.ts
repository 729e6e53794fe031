import { FULL_ATTENTION_QUERY_CHUNKS, VISION_INPUTS, attentionInputs } from '@qwen-vl/vision';
import type { AttentionKind, AttentionLayout } from '@qwen-vl/vision';
import { applyRotary, converted, linear, scalar } from '../graph/layers.js';
import type { VisionGraphContext } from './graph-layers.js';

/**
 * Per attention kind, the graph values that place rows into attention batches. For the
 * segmented layout: gather rows into `[segments · length]` slots, view them as
 * `[segments, length, heads, headDim]` (`batchShape`), mask pad keys, scatter the results
 * back. For the dense layout: one batch of all N rows and an `[N, N]` mask.
 */
export interface AttentionBatches {
  mask: string;
  batchShape: string;
  gather?: string;
  scatter?: string;
  /**
   * Slice bounds (int64 `[1]` starts and ends along the length axis) of the query chunks a
   * batch is scored in, one after another: FULL_ATTENTION_QUERY_CHUNKS for full blocks, none
   * (all queries at once) otherwise.
   */
  queryChunks: ReadonlyArray<readonly [string, string]>;
}

/** Values every block shares: the rotary tables as `[N, 1, headDim]`, shape constants, the batching per kind. */
export interface AttentionInputs {
  cos: string;
  sin: string;
  /** `[-1, heads, headDim]` */
  perHead: string;
  /** `[-1, hidden]` */
  flat: string;
  /** `1/√headDim` */
  scale: string;
  batches: Partial<Record<AttentionKind, AttentionBatches>>;
}

/** Declares the graph inputs for rotary and attention batching, and derives the values every block reuses. */
export function declareAttentionInputs(ctx: VisionGraphContext, kinds: readonly AttentionKind[], layout: AttentionLayout): AttentionInputs {
  const g = ctx.graph;
  const headDim = ctx.config.hiddenSize / ctx.config.numHeads;
  const cos = g.input(VISION_INPUTS.rotaryCos, 'float32', ['patches', headDim]);
  const sin = g.input(VISION_INPUTS.rotarySin, 'float32', ['patches', headDim]);
  const batches: Partial<Record<AttentionKind, AttentionBatches>> = {};
  for (const kind of kinds) {
    const names = attentionInputs(kind);
    if (layout === 'dense-mask') {
      batches[kind] = { mask: g.input(names.mask, 'float32', ['patches', 'patches']), batchShape: g.constInt64([1, -1, ctx.config.numHeads, headDim]), queryChunks: [] };
      continue;
    }
    const gather = g.input(names.gather, 'int64', [`${kind}_slots`]);
    const mask = g.input(names.mask, 'float32', [`${kind}_segments`, 1, 1, `${kind}_length`]);
    const scatter = g.input(names.scatter, 'int64', ['patches']);
    batches[kind] = segmentedBatches(ctx, kind, { gather, mask, scatter });
  }
  return sharedAttentionInputs(ctx, cos, sin, batches);
}

/** The rows of the segments of one attention kind: where each slot reads, the pad-key mask, where each row's result is. */
export interface SegmentTables {
  /** int64 `[segments · length]`. */
  gather: string;
  /** float32 `[segments, 1, 1, length]`. */
  mask: string;
  /** int64 `[N]`. */
  scatter: string;
}

/** A kind's segmented batching from its tables, whether the graph takes them as inputs or computes them. */
export function segmentedBatches(ctx: VisionGraphContext, kind: AttentionKind, tables: SegmentTables): AttentionBatches {
  const g = ctx.graph;
  // The segment length is only known at run time: read it off the mask's last dimension.
  const length = g.op('Shape', [tables.mask], { start: 3 });
  const batchShape = g.op('Concat', [g.constInt64([-1]), length, g.constInt64([ctx.config.numHeads, ctx.config.hiddenSize / ctx.config.numHeads])], { axis: 0 });
  return { ...tables, batchShape, queryChunks: kind === 'full' ? queryChunkBounds(ctx, length, FULL_ATTENTION_QUERY_CHUNKS) : [] };
}

/** The values every block shares, from the rotary tables `[N, headDim]` and the batching of each kind. */
export function sharedAttentionInputs(ctx: VisionGraphContext, cos: string, sin: string, batches: Partial<Record<AttentionKind, AttentionBatches>>): AttentionInputs {
  const g = ctx.graph;
  const heads = ctx.config.numHeads;
  const headDim = ctx.config.hiddenSize / heads;
  // Rows are broadcast over heads: [N, headDim] → [N, 1, headDim].
  const headAxis = g.constInt64([1]);
  return {
    cos: converted(g, g.op('Unsqueeze', [cos, headAxis]), 'float32', ctx.type, 'rope/cos_typed'),
    sin: converted(g, g.op('Unsqueeze', [sin, headAxis]), 'float32', ctx.type, 'rope/sin_typed'),
    perHead: g.constInt64([-1, heads, headDim]),
    flat: g.constInt64([-1, ctx.config.hiddenSize]),
    scale: scalar(g, 1 / Math.sqrt(headDim), ctx.type),
    batches,
  };
}

/**
 * `[k·c, (k+1)·c)` for k < count, c = length / count (the layout pads the length to a
 * multiple of count). Slices rather than one Split: a WebGPU shader binds each output as a
 * storage buffer, and a 16-way Split exceeds the 8 to 12 that adapters allow.
 */
function queryChunkBounds(ctx: VisionGraphContext, length: string, count: number): Array<[string, string]> {
  const g = ctx.graph;
  const chunk = g.op('Div', [length, g.constInt64([count])]);
  return Array.from({ length: count }, (_, k) => [g.op('Mul', [chunk, g.constInt64([k])]), g.op('Mul', [chunk, g.constInt64([k + 1])])]);
}

/**
 * One block's attention on the normed rows `x` `[N, hidden]`: fused qkv projection, rotary
 * on q and k, softmax(q·kᵀ/√d + mask)·v inside each batch, output projection.
 */
export function attention(ctx: VisionGraphContext, x: string, prefix: string, inputs: AttentionInputs, batches: AttentionBatches): string {
  const g = ctx.graph;
  const [q, k, v] = g.opMulti('Split', [linear(g, ctx.weights, x, `${prefix}.qkv`, ctx.type)], 3, { axis: 1, num_outputs: 3 }).map((part) => g.op('Reshape', [part, inputs.perHead]));
  const rotary = (rows: string, name: string) => applyRotary(g, rows, inputs.cos, inputs.sin, `${prefix}/${name}`);
  const scaledQ = g.op('Mul', [rotary(q, 'q'), inputs.scale]);

  // [N, heads, headDim] → [batches, length, heads, headDim]
  const batch = (rows: string) => g.op('Reshape', [batches.gather === undefined ? rows : g.op('Gather', [rows, batches.gather], { axis: 0 }), batches.batchShape]);
  const qb = g.op('Transpose', [batch(scaledQ)], { perm: [0, 2, 1, 3] });
  const kbT = g.op('Transpose', [batch(rotary(k, 'k'))], { perm: [0, 2, 3, 1] });
  const vb = g.op('Transpose', [batch(v)], { perm: [0, 2, 1, 3] });
  // The mask and the softmax in float32, whatever the scores are computed in.
  const softmax = (scores: string) => g.op('Softmax', [g.op('Add', [converted(g, scores, ctx.type, 'float32'), batches.mask])], { axis: -1 });
  const attend = (queries: string) => g.op('MatMul', [converted(g, softmax(g.op('MatMul', [queries, kbT])), 'float32', ctx.type), vb]);
  // Each chunk's scores are released before the next chunk's are made (the chains run in order).
  const attended = batches.queryChunks.length === 0 ? attend(qb) : attendInChunks(ctx, qb, batches.queryChunks, attend);
  const slots = g.op('Reshape', [g.op('Transpose', [attended], { perm: [0, 2, 1, 3] }), inputs.flat]);
  const rows = batches.scatter === undefined ? slots : g.op('Gather', [slots, batches.scatter], { axis: 0 });
  return linear(g, ctx.weights, rows, `${prefix}.proj`, ctx.type);
}

/** `attend` on each query chunk of `qb` (bounds along its length axis, 2) in turn, the results put back together. */
function attendInChunks(ctx: VisionGraphContext, qb: string, bounds: AttentionBatches['queryChunks'], attend: (queries: string) => string): string {
  const g = ctx.graph;
  const lengthAxis = g.constInt64([2]);
  return g.op(
    'Concat',
    bounds.map(([start, end]) => attend(g.op('Slice', [qb, start, end, lengthAxis]))),
    { axis: 2 },
  );
}
