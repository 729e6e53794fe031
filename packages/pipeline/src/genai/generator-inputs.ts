import { QwenVLError, hostTensor } from '@qwen-vl/core';
import type { HostTensor, ModelConfig } from '@qwen-vl/core';
import type { NamedTensors, Tensor } from './named-tensors.js';

type Grid = [number, number, number];

/** A prompt as `Generator.setInputs` reads it from the named tensors: the processor's inputs, int32 ids. */
export interface PromptInputs {
  /** `[B, L]`. */
  readonly inputIds: HostTensor<'int32'>;
  /** `[B, L]`: 0 on the left padding, 1 on tokens. */
  readonly attentionMask: HostTensor<'int32'>;
  readonly pixelValues: Float32Array;
  readonly imageGridThw: Grid[];
  readonly pixelValuesVideos: Float32Array;
  readonly videoGridThw: Grid[];
  readonly secondPerGridT: number[];
}

const SOURCE = 'Generator.setInputs inputs';

function fail(name: string, reason: string): never {
  throw new QwenVLError('INVALID_ARGUMENT', reason, { source: `${SOURCE} "${name}"` });
}

function optional(inputs: NamedTensors, name: string): Tensor | undefined {
  return inputs.has(name) ? inputs.get(name) : undefined;
}

/** Integer values of an int64 or int32 tensor, as numbers. */
function integers(tensor: Tensor, name: string): number[] {
  if (tensor.type !== 'int64' && tensor.type !== 'int32') fail(name, `must be int64 (or int32), got ${tensor.type}`);
  const values = Array.from(tensor.data as ArrayLike<number | bigint>, Number);
  if (!values.every(Number.isSafeInteger)) fail(name, 'holds values too large for a token id or a size');
  return values;
}

/** `[B, L]` (or `[L]`, one row) int32 ids or mask values. */
function matrix(tensor: Tensor, name: string): HostTensor<'int32'> {
  const dims = tensor.dims.length === 1 ? [1, tensor.dims[0]] : tensor.dims;
  if (dims.length !== 2 || dims[0] === 0 || dims[1] === 0) fail(name, `must be [B, L] with B, L > 0, got [${tensor.dims.join(', ')}]`);
  return hostTensor('int32', Int32Array.from(integers(tensor, name)), dims);
}

function grids(tensor: Tensor | undefined, name: string): Grid[] {
  if (tensor === undefined) return [];
  if (tensor.dims.length !== 2 || tensor.dims[1] !== 3) fail(name, `must be [n, 3] (t, h, w per item), got [${tensor.dims.join(', ')}]`);
  const values = integers(tensor, name);
  if (!values.every((v) => v >= 1)) fail(name, 'must hold positive sizes');
  return Array.from({ length: tensor.dims[0] }, (_, i): Grid => [values[3 * i], values[3 * i + 1], values[3 * i + 2]]);
}

/** float32 `[patches, row]` patch rows belonging to `gridList` (both or neither given). */
function patches(tensor: Tensor | undefined, name: string, gridList: readonly Grid[], gridName: string): Float32Array {
  if (tensor === undefined) {
    if (gridList.length > 0) fail(gridName, `comes without "${name}"; give both or neither`);
    return new Float32Array(0);
  }
  if (gridList.length === 0) fail(name, `comes without "${gridName}"; give both or neither`);
  if (tensor.type !== 'float32') fail(name, `must be float32, got ${tensor.type}`);
  const expected = gridList.reduce((sum, [t, h, w]) => sum + t * h * w, 0);
  if (tensor.dims.length !== 2 || tensor.dims[0] !== expected) fail(name, `must be [${expected}, row] (the patches of "${gridName}"), got [${tensor.dims.join(', ')}]`);
  return tensor.data as Float32Array;
}

/** Checks a `[B, L]` mask: 0 or 1, zeros only before a row's first token (left padding), every row ending in a token. */
function checkMask(mask: HostTensor<'int32'>, name: string): void {
  const [batch, length] = mask.dims;
  for (let b = 0; b < batch; b++) {
    const row = mask.data.subarray(b * length, (b + 1) * length);
    const first = row.indexOf(1);
    if (first === -1 || !row.every((v, i) => v === (i < first ? 0 : 1))) fail(name, `row ${b} must be zeros (left padding) then ones, ending in a token`);
  }
}

/**
 * The prompt in `inputs` (`input_ids`, optional `attention_mask`, `pixel_values` with
 * `image_grid_thw`, `pixel_values_videos` with `video_grid_thw` and `second_per_grid_ts`),
 * checked; a bad tensor is INVALID_ARGUMENT naming it.
 */
export function readPromptInputs(inputs: NamedTensors, config: ModelConfig, batchSize: number | undefined): PromptInputs {
  if (typeof inputs !== 'object' || inputs === null || typeof (inputs as Partial<NamedTensors>).get !== 'function') {
    throw new QwenVLError('INVALID_ARGUMENT', 'must be NamedTensors (from MultiModalProcessor.process)', { source: SOURCE });
  }
  if (!inputs.has('input_ids')) throw new QwenVLError('INVALID_ARGUMENT', `has no "input_ids" (it has ${inputs.names().join(', ') || 'nothing'})`, { source: SOURCE });
  const inputIds = matrix(inputs.get('input_ids'), 'input_ids');
  const [batch, length] = inputIds.dims;
  const vocab = config.text.vocabSize;
  const bad = inputIds.data.findIndex((id) => id < 0 || id >= vocab);
  if (bad !== -1) fail('input_ids', `holds ${inputIds.data[bad]} at entry ${bad}, not a token id of the vocabulary (0 to ${vocab - 1})`);
  if (batchSize !== undefined && batch !== batchSize) fail('input_ids', `has ${batch} rows, but the search option batchSize is ${batchSize}`);
  const maskTensor = optional(inputs, 'attention_mask');
  const attentionMask = maskTensor === undefined ? hostTensor('int32', new Int32Array(batch * length).fill(1), [batch, length]) : matrix(maskTensor, 'attention_mask');
  if (attentionMask.dims[0] !== batch || attentionMask.dims[1] !== length) fail('attention_mask', `must be [${batch}, ${length}] like "input_ids", got [${attentionMask.dims.join(', ')}]`);
  checkMask(attentionMask, 'attention_mask');
  const imageGridThw = grids(optional(inputs, 'image_grid_thw'), 'image_grid_thw');
  const videoGridThw = grids(optional(inputs, 'video_grid_thw'), 'video_grid_thw');
  const seconds = optional(inputs, 'second_per_grid_ts');
  const secondPerGridT = seconds === undefined ? videoGridThw.map(() => 1) : Array.from(seconds.data as ArrayLike<number | bigint>, Number);
  if (secondPerGridT.length !== videoGridThw.length || !secondPerGridT.every((s) => Number.isFinite(s) && s > 0)) {
    fail('second_per_grid_ts', `must hold one positive number per video (${videoGridThw.length})`);
  }
  return {
    inputIds,
    attentionMask,
    pixelValues: patches(optional(inputs, 'pixel_values'), 'pixel_values', imageGridThw, 'image_grid_thw'),
    imageGridThw,
    pixelValuesVideos: patches(optional(inputs, 'pixel_values_videos'), 'pixel_values_videos', videoGridThw, 'video_grid_thw'),
    videoGridThw,
    secondPerGridT,
  };
}
