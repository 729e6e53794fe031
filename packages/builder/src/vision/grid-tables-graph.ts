import { inverseFrequencies } from '@qwen-vl/mrope';
import { FULL_ATTENTION_QUERY_CHUNKS, MASKED, usedAttentionKinds } from '@qwen-vl/vision';
import type { AttentionKind } from '@qwen-vl/vision';
import type { GraphBuilder } from '../onnx/graph-builder.js';
import { ELEMENT_TYPES } from '../onnx/proto.js';
import { segmentedBatches, sharedAttentionInputs } from './attention-graph.js';
import type { AttentionBatches, AttentionInputs, SegmentTables } from './attention-graph.js';
import type { VisionGraphContext } from './graph-layers.js';

/**
 * The vision tower's rotary tables and attention segments computed inside the graph from
 * `image_grid_thw` `[n, 3]`, for graphs that take only the pixels and the grids (the
 * onnxruntime-genai and transformers.js layouts). The math is `visionFeeds`' (window index,
 * 2-D rotary, segments per window and per frame), but the rows stay in their natural
 * order: a window's rows are gathered straight from it, which is the same attention as
 * gathering them after the window permutation, so the graph needs neither that permutation
 * nor its inverse. Every window is laid out as a full `side²` square of merged tokens (pads
 * masked), so the window segment length is a constant; frames are padded to the longest, a
 * multiple of FULL_ATTENTION_QUERY_CHUNKS, as `paddedSegments` pads them.
 */
export function gridAttentionInputs(ctx: VisionGraphContext, grid: string): AttentionInputs {
  const c = new IndexMath(ctx);
  const { config } = ctx;
  const m = config.spatialMergeSize;
  const unit = m * m;
  const column = (k: number) => c.g.op('Gather', [grid, c.g.constInt64(k)], { axis: 1 });
  const t = column(0);
  const h = column(1);
  const w = column(2);
  const perFrame = c.mul(h, w);
  const hm = c.div(h, c.int(m));
  const wm = c.div(w, c.int(m));

  // Every patch row, in natural order: image, frame, merge block (bi, bj), place inside it.
  const rows = c.enumerate(c.mul(t, perFrame));
  const frame = c.div(rows.local, c.at(perFrame, rows.item));
  const inFrame = c.mod(rows.local, c.at(perFrame, rows.item));
  const block = c.div(inFrame, c.int(unit));
  const inBlock = c.mod(inFrame, c.int(unit));
  const rowWm = c.at(wm, rows.item);
  const bi = c.div(block, rowWm);
  const bj = c.mod(block, rowWm);
  const y = c.add(c.mul(bi, c.int(m)), c.div(inBlock, c.int(m)));
  const x = c.add(c.mul(bj, c.int(m)), c.mod(inBlock, c.int(m)));
  const { cos, sin } = rotaryTables(c, y, x, config.hiddenSize / config.numHeads);

  const batches: Partial<Record<AttentionKind, AttentionBatches>> = {};
  for (const kind of usedAttentionKinds(config)) {
    const tables =
      kind === 'window'
        ? windowSegments(c, { t, hm, wm, rowStarts: rows.starts }, { item: rows.item, frame, bi, bj, inBlock })
        : frameSegments(c, { t, perFrame, rowStarts: rows.starts }, rows, frame, inFrame);
    batches[kind] = segmentedBatches(ctx, kind, tables);
  }
  return sharedAttentionInputs(ctx, cos, sin, batches);
}

/** `concat(angles, angles)` cos and sin `[N, headDim]`, angles `[y·f, x·f]` over the tower's frequencies f (`visionRotaryAngles`). */
function rotaryTables(c: IndexMath, y: string, x: string, headDim: number): { cos: string; sin: string } {
  const g = c.g;
  const frequencies = g.constFloat([...inverseFrequencies(headDim / 2, 10000)]);
  const angles = (positions: string) => g.op('Mul', [g.op('Unsqueeze', [g.op('Cast', [positions], { to: ELEMENT_TYPES.float32.code }), g.constInt64([1])]), frequencies]);
  const half = g.op('Concat', [angles(y), angles(x)], { axis: 1 });
  const full = g.op('Concat', [half, half], { axis: 1 });
  return { cos: g.op('Cos', [full]), sin: g.op('Sin', [full]) };
}

interface WindowGrids {
  t: string;
  hm: string;
  wm: string;
  rowStarts: string;
}

interface RowPlace {
  item: string;
  frame: string;
  bi: string;
  bj: string;
  inBlock: string;
}

/**
 * Windows of `side × side` merged tokens, per frame of each image in window-row-major order
 * (`windowIndex`'s order), each a segment of `side² · merge²` slots. A slot past the image's
 * edge reads the image's first row and is masked; every window holds at least one real row.
 */
function windowSegments(c: IndexMath, grids: WindowGrids, place: RowPlace): SegmentTables {
  const { config } = c.ctx;
  const m = config.spatialMergeSize;
  const unit = m * m;
  const side = Math.floor(config.windowSize / m / config.patchSize);
  const slotsPerWindow = side * side * unit;
  const ceilDiv = (a: string) => c.div(c.add(a, c.int(side - 1)), c.int(side));
  const windowRows = ceilDiv(grids.hm);
  const windowCols = ceilDiv(grids.wm);
  const windowsPerFrame = c.mul(windowRows, windowCols);
  const slots = c.enumerate(c.mul(c.mul(grids.t, windowsPerFrame), c.int(slotsPerWindow)));

  const at = (values: string) => c.at(values, slots.item);
  const window = c.div(slots.local, c.int(slotsPerWindow));
  const inWindow = c.mod(slots.local, c.int(slotsPerWindow));
  const frame = c.div(window, at(windowsPerFrame));
  const windowInFrame = c.mod(window, at(windowsPerFrame));
  const cell = c.div(inWindow, c.int(unit));
  const bi = c.add(c.mul(c.div(windowInFrame, at(windowCols)), c.int(side)), c.div(cell, c.int(side)));
  const bj = c.add(c.mul(c.mod(windowInFrame, at(windowCols)), c.int(side)), c.mod(cell, c.int(side)));
  const slotHm = at(grids.hm);
  const slotWm = at(grids.wm);
  const inside = c.g.op('And', [c.g.op('Less', [bi, slotHm]), c.g.op('Less', [bj, slotWm])]);
  const row = c.add(at(grids.rowStarts), c.add(c.mul(c.add(c.mul(c.add(c.mul(frame, slotHm), bi), slotWm), bj), c.int(unit)), c.mod(inWindow, c.int(unit))));
  const gather = c.g.op('Where', [inside, row, at(grids.rowStarts)]);
  const mask = c.g.op('Reshape', [c.g.op('Where', [inside, c.g.constFloat(0), c.g.constFloat(MASKED)]), c.g.constInt64([-1, 1, 1, slotsPerWindow])]);

  // Where each row sits: its window, then its cell and place in the merge block.
  const rowAt = (values: string) => c.at(values, place.item);
  const rowWindow = c.add(c.mul(c.add(c.mul(place.frame, rowAt(windowRows)), c.div(place.bi, c.int(side))), rowAt(windowCols)), c.div(place.bj, c.int(side)));
  const rowCell = c.add(c.mul(c.mod(place.bi, c.int(side)), c.int(side)), c.mod(place.bj, c.int(side)));
  const scatter = c.add(rowAt(slots.starts), c.add(c.mul(c.add(c.mul(rowWindow, c.int(side * side)), rowCell), c.int(unit)), place.inBlock));
  return { gather, mask, scatter };
}

interface FrameGrids {
  t: string;
  perFrame: string;
  rowStarts: string;
}

/** One segment per frame of each image (full attention never crosses frames), padded to the longest frame rounded up to a multiple of the query chunks. */
function frameSegments(c: IndexMath, grids: FrameGrids, rows: Enumeration, frame: string, inFrame: string): SegmentTables {
  const g = c.g;
  const frames = c.enumerate(grids.t);
  const frameSize = c.at(grids.perFrame, frames.item);
  const frameStart = c.add(c.at(grids.rowStarts, frames.item), c.mul(frames.local, frameSize));
  const chunks = c.int(FULL_ATTENTION_QUERY_CHUNKS);
  const longest = g.op('ReduceMax', [grids.perFrame], { keepdims: 0 });
  const length = c.mul(c.div(c.add(longest, c.int(FULL_ATTENTION_QUERY_CHUNKS - 1)), chunks), chunks);
  const slots = g.op('Range', [c.int(0), c.mul(frames.total, length), c.int(1)]);
  const segment = c.div(slots, length);
  const offset = c.mod(slots, length);
  const start = c.at(frameStart, segment);
  const inside = g.op('Less', [offset, c.at(frameSize, segment)]);
  const gather = g.op('Where', [inside, c.add(start, offset), start]);
  const maskShape = g.op('Concat', [g.op('Unsqueeze', [frames.total, g.constInt64([0])]), g.constInt64([1, 1]), g.op('Unsqueeze', [length, g.constInt64([0])])], { axis: 0 });
  const mask = g.op('Reshape', [g.op('Where', [inside, g.constFloat(0), g.constFloat(MASKED)]), maskShape]);
  const rowFrame = c.add(c.at(frames.starts, rows.item), frame);
  const scatter = c.add(c.mul(rowFrame, length), inFrame);
  return { gather, mask, scatter };
}

/** `0 … total−1` over items of the given counts, each with its item and its place inside the item. */
interface Enumeration {
  /** int64 scalar: the sum of the counts. */
  total: string;
  /** int64 `[n]`: where each item's run begins. */
  starts: string;
  /** int64 `[total]`: the item each element belongs to. */
  item: string;
  /** int64 `[total]`: the element's place inside its item's run. */
  local: string;
}

/** Elementwise int64 arithmetic on graph values, named after what it computes. */
class IndexMath {
  readonly g: GraphBuilder;

  constructor(readonly ctx: VisionGraphContext) {
    this.g = ctx.graph;
  }

  int(value: number): string {
    return this.g.constInt64(value);
  }

  add(a: string, b: string): string {
    return this.g.op('Add', [a, b]);
  }

  mul(a: string, b: string): string {
    return this.g.op('Mul', [a, b]);
  }

  /** Integer division; every value here is non-negative, so it is floor division. */
  div(a: string, b: string): string {
    return this.g.op('Div', [a, b]);
  }

  mod(a: string, b: string): string {
    return this.g.op('Mod', [a, b]);
  }

  /** `values[index]` elementwise. */
  at(values: string, index: string): string {
    return this.g.op('Gather', [values, index], { axis: 0 });
  }

  /**
   * Runs of `counts[i]` elements one after another. An element's item is the number of runs
   * that end at or before it: one `[total, n]` comparison, n being the images (or frames).
   */
  enumerate(counts: string): Enumeration {
    const g = this.g;
    const ends = g.op('CumSum', [counts, this.int(0)]);
    const starts = g.op('Sub', [ends, counts]);
    const total = g.op('ReduceSum', [counts], { keepdims: 0 });
    const index = g.op('Range', [this.int(0), total, this.int(1)]);
    const ended = g.op('GreaterOrEqual', [g.op('Unsqueeze', [index, g.constInt64([1])]), g.op('Unsqueeze', [ends, g.constInt64([0])])]);
    const item = g.op('ReduceSum', [g.op('Cast', [ended], { to: ELEMENT_TYPES.int64.code }), g.constInt64([1])], { keepdims: 0 });
    return { total, starts, item, local: g.op('Sub', [index, this.at(starts, item)]) };
  }
}
