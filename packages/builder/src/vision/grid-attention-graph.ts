import { MASKED } from '@qwen-vl/vision';
import type { AttentionKind } from '@qwen-vl/vision';
import { inverseFrequencies } from '@qwen-vl/mrope';
import { ELEMENT_TYPES } from '../onnx/proto.js';
import { attentionShapes } from './attention-graph.js';
import type { AttentionBatches, AttentionInputs } from './attention-graph.js';
import type { VisionGraphContext } from './graph-layers.js';

/** Hugging Face's vision rotary base. */
const VISION_ROPE_THETA = 10000;

/**
 * Everything the blocks' attention needs, worked out inside the graph from `pixels`
 * `[N, patchDim]` and `grids` int64 `[images, 3]`: the graph form onnxruntime-genai runs,
 * which feeds nothing else (`--layout genai`). Rows stay in pixel order (no window
 * reordering, which only makes windows contiguous for segmented kernels); each kind of block
 * attends under an additive `[N, N]` mask that keeps a row's own window (windowed blocks) or
 * its own frame of its own image (full blocks). The keys each row sees, and its rotary
 * angles, are those of the host-fed graph, so the features agree with it up to the order of
 * float32 sums; memory, though, grows with N² (the scores of every head).
 */
export function gridAttentionInputs(ctx: VisionGraphContext, pixels: string, grids: string, kinds: readonly AttentionKind[]): AttentionInputs {
  const g = ctx.graph;
  const { spatialMergeSize: m, numHeads: heads, hiddenSize } = ctx.config;
  const headDim = hiddenSize / heads;
  const column = (k: number, name: string) => g.op('Gather', [grids, g.constInt64(k)], { axis: 1 }, { name: `grid/${name}` });
  const [t, h, w] = [column(0, 't'), column(1, 'h'), column(2, 'w')];
  const frameSize = g.op('Mul', [h, w], {}, { name: 'grid/frame_size' });
  const counts = g.op('Mul', [t, frameSize], {}, { name: 'grid/patches' });
  const ends = g.op('CumSum', [counts, g.constInt64(0)], {}, { name: 'grid/ends' });
  const starts = g.op('Sub', [ends, counts], {}, { name: 'grid/starts' });

  // Per pixel row r: its image (how many images end at or before r), then its place in it.
  const rowCount = g.op('Squeeze', [g.op('Shape', [pixels], { end: 1 }, { name: 'grid/row_count_1' }), g.constInt64([0])], {}, { name: 'grid/row_count' });
  const rows = g.op('Range', [g.constInt64(0), rowCount, g.constInt64(1)], {}, { name: 'grid/rows' });
  const endedBefore = g.op(
    'GreaterOrEqual',
    [g.op('Unsqueeze', [rows, g.constInt64([1])], {}, { name: 'grid/rows_n1' }), g.op('Unsqueeze', [ends, g.constInt64([0])], {}, { name: 'grid/ends_1n' })],
    {},
    { name: 'grid/ended_before' },
  );
  const image = g.op('ReduceSum', [g.op('Cast', [endedBefore], { to: ELEMENT_TYPES.int64.code }, { name: 'grid/ended_before_count' }), g.constInt64([1])], { keepdims: 0 }, { name: 'grid/image' });
  const perRow = (value: string, name: string) => g.op('Gather', [value, image], { axis: 0 }, { name: `grid/row_${name}` });
  const rowFrameSize = perRow(frameSize, 'frame_size');
  const local = g.op('Sub', [rows, perRow(starts, 'start')], {}, { name: 'grid/local' });
  const int = (value: number) => g.constInt64(value);
  const div = (a: string, b: string, name: string) => g.op('Div', [a, b], {}, { name: `grid/${name}` });
  const mod = (a: string, b: string, name: string) => g.op('Mod', [a, b], {}, { name: `grid/${name}` });
  const inFrame = mod(local, rowFrameSize, 'in_frame');
  // Pixel rows run merge block by merge block (m·m rows each), blocks in raster order.
  const block = div(inFrame, int(m * m), 'block');
  const inBlock = mod(inFrame, int(m * m), 'in_block');
  const blocksPerRow = div(perRow(w, 'w'), int(m), 'blocks_per_row');
  const blockRow = div(block, blocksPerRow, 'block_row');
  const blockColumn = mod(block, blocksPerRow, 'block_column');
  const y = g.op('Add', [g.op('Mul', [blockRow, int(m)], {}, { name: 'grid/y_block' }), div(inBlock, int(m), 'y_in_block')], {}, { name: 'grid/y' });
  const x = g.op('Add', [g.op('Mul', [blockColumn, int(m)], {}, { name: 'grid/x_block' }), mod(inBlock, int(m), 'x_in_block')], {}, { name: 'grid/x' });

  // Rotary (`visionRotaryAngles`): [y·f, x·f] for the head's quarter-dim frequencies f, both halves alike.
  const frequencies = g.constFloat(Array.from(inverseFrequencies(headDim / 2, VISION_ROPE_THETA)));
  const angles = (coordinate: string, name: string) =>
    g.op(
      'Mul',
      [g.op('Unsqueeze', [g.op('Cast', [coordinate], { to: ELEMENT_TYPES.float32.code }, { name: `grid/${name}_float` }), g.constInt64([1])], {}, { name: `grid/${name}_n1` }), frequencies],
      {},
      { name: `grid/${name}_angles` },
    );
  const [ya, xa] = [angles(y, 'y'), angles(x, 'x')];
  const table = g.op('Concat', [ya, xa, ya, xa], { axis: 1 }, { name: 'grid/rotary_angles' });
  const headAxis = g.constInt64([1]);
  const cos = g.op('Unsqueeze', [g.op('Cos', [table], {}, { name: 'grid/cos' }), headAxis], {}, { name: 'grid/cos_per_head' });
  const sin = g.op('Unsqueeze', [g.op('Sin', [table], {}, { name: 'grid/sin' }), headAxis], {}, { name: 'grid/sin_per_head' });

  // Segment keys: a frame by its first row; a window by its frame and its place in the frame's grid of windows.
  const frameStart = g.op('Sub', [rows, inFrame], {}, { name: 'grid/frame_start' });
  const side = int(Math.floor(ctx.config.windowSize / m / ctx.config.patchSize));
  const windowInFrame = g.op(
    'Add',
    [g.op('Mul', [div(blockRow, side, 'window_row'), rowCount], {}, { name: 'grid/window_row_key' }), div(blockColumn, side, 'window_column')],
    {},
    { name: 'grid/window_in_frame' },
  );
  const windowKey = g.op(
    'Add',
    [g.op('Mul', [frameStart, g.op('Mul', [rowCount, rowCount], {}, { name: 'grid/rows_squared' })], {}, { name: 'grid/frame_key' }), windowInFrame],
    {},
    { name: 'grid/window_key' },
  );
  const keys: Record<AttentionKind, string> = { full: frameStart, window: windowKey };
  const batches: Partial<Record<AttentionKind, AttentionBatches>> = {};
  for (const kind of kinds) {
    const same = g.op(
      'Equal',
      [g.op('Unsqueeze', [keys[kind], g.constInt64([1])], {}, { name: `grid/${kind}_key_n1` }), g.op('Unsqueeze', [keys[kind], g.constInt64([0])], {}, { name: `grid/${kind}_key_1n` })],
      {},
      { name: `grid/${kind}_same_segment` },
    );
    const mask = g.op('Where', [same, g.constFloat(0), g.constFloat(MASKED)], {}, { name: `grid/${kind}_mask` });
    batches[kind] = { mask, batchShape: g.constInt64([1, -1, heads, headDim]), queryChunks: [] };
  }
  return { cos, sin, ...attentionShapes(ctx), batches };
}
