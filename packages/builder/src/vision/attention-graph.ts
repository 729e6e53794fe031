import { FULL_ATTENTION_QUERY_CHUNKS, VISION_INPUTS, attentionInputs } from '@qwen-vl/vision';
import type { AttentionKind, AttentionLayout } from '@qwen-vl/vision';
import { applyRotary, linear } from '../graph/layers.js';
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
  const heads = ctx.config.numHeads;
  // Rows are broadcast over heads: [N, headDim] → [N, 1, headDim].
  const headAxis = g.constInt64([1]);
  const cos = g.op('Unsqueeze', [g.input(VISION_INPUTS.rotaryCos, 'float32', ['patches', headDim]), headAxis]);
  const sin = g.op('Unsqueeze', [g.input(VISION_INPUTS.rotarySin, 'float32', ['patches', headDim]), headAxis]);
  const batches: Partial<Record<AttentionKind, AttentionBatches>> = {};
  for (const kind of kinds) {
    const names = attentionInputs(kind);
    if (layout === 'dense-mask') {
      batches[kind] = { mask: g.input(names.mask, 'float32', ['patches', 'patches']), batchShape: g.constInt64([1, -1, heads, headDim]), queryChunks: [] };
      continue;
    }
    const gather = g.input(names.gather, 'int64', [`${kind}_slots`]);
    const mask = g.input(names.mask, 'float32', [`${kind}_segments`, 1, 1, `${kind}_length`]);
    const scatter = g.input(names.scatter, 'int64', ['patches']);
    // The segment length is only known at run time: read it off the mask's last dimension.
    const length = g.op('Shape', [mask], { start: 3 });
    const batchShape = g.op('Concat', [g.constInt64([-1]), length, g.constInt64([heads, headDim])], { axis: 0 });
    batches[kind] = { mask, batchShape, gather, scatter, queryChunks: kind === 'full' ? queryChunkBounds(ctx, length, FULL_ATTENTION_QUERY_CHUNKS) : [] };
  }
  return { cos, sin, ...attentionShapes(ctx), batches };
}

/** The shape constants and score scale every block's attention uses, whatever feeds its rows and batches. */
export function attentionShapes(ctx: VisionGraphContext): Pick<AttentionInputs, 'perHead' | 'flat' | 'scale'> {
  const g = ctx.graph;
  const headDim = ctx.config.hiddenSize / ctx.config.numHeads;
  return { perHead: g.constInt64([-1, ctx.config.numHeads, headDim]), flat: g.constInt64([-1, ctx.config.hiddenSize]), scale: g.constFloat(1 / Math.sqrt(headDim)) };
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
  const [q, k, v] = g.opMulti('Split', [linear(g, ctx.weights, x, `${prefix}.qkv`)], 3, { axis: 1, num_outputs: 3 }).map((part) => g.op('Reshape', [part, inputs.perHead]));
  const rotary = (rows: string, name: string) => applyRotary(g, rows, inputs.cos, inputs.sin, `${prefix}/${name}`);
  const scaledQ = g.op('Mul', [rotary(q, 'q'), inputs.scale]);

  // [N, heads, headDim] → [batches, length, heads, headDim]
  const batch = (rows: string) => g.op('Reshape', [batches.gather === undefined ? rows : g.op('Gather', [rows, batches.gather], { axis: 0 }), batches.batchShape]);
  const qb = g.op('Transpose', [batch(scaledQ)], { perm: [0, 2, 1, 3] });
  const kbT = g.op('Transpose', [batch(rotary(k, 'k'))], { perm: [0, 2, 3, 1] });
  const vb = g.op('Transpose', [batch(v)], { perm: [0, 2, 1, 3] });
  const attend = (queries: string) => g.op('MatMul', [g.op('Softmax', [g.op('Add', [g.op('MatMul', [queries, kbT]), batches.mask])], { axis: -1 }), vb]);
  // Each chunk's scores are released before the next chunk's are made (the chains run in order).
  const attended = batches.queryChunks.length === 0 ? attend(qb) : attendInChunks(ctx, qb, batches.queryChunks, attend);
  const slots = g.op('Reshape', [g.op('Transpose', [attended], { perm: [0, 2, 1, 3] }), inputs.flat]);
  const rows = batches.scatter === undefined ? slots : g.op('Gather', [slots, batches.scatter], { axis: 0 });
  return linear(g, ctx.weights, rows, `${prefix}.proj`);
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
