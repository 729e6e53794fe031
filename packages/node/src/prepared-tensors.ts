import { hostTensor, toBigInt64 } from '@qwen-vl/core';
import type { HostTensor } from '@qwen-vl/core';
import type { VisionFeatures } from '@qwen-vl/vision';
import type { PreparedModelInputs } from './prepare.js';

/**
 * The prepared inputs as the tensors Hugging Face's model takes, with its names and int64
 * ids: input_ids [B, L], pixel_values [N, 1176], image_grid_thw [n, 3], position_ids
 * [3, B, L], rope_deltas [B, 1] (B = 1 for one request); with the vision encoder's output
 * also image_features [N/4, out_hidden_size].
 */
export function preparedTensors(prepared: PreparedModelInputs, imageFeatures?: VisionFeatures): Record<string, HostTensor> {
  const { positions } = prepared;
  const tensors: Record<string, HostTensor> = {
    input_ids: hostTensor('int64', toBigInt64(prepared.inputIds.data), prepared.inputIds.dims),
    pixel_values: hostTensor('float32', prepared.pixelValues, [prepared.patchCount, prepared.rowSize]),
    image_grid_thw: hostTensor('int64', toBigInt64(prepared.imageGridThw.flat()), [prepared.imageGridThw.length, 3]),
    position_ids: hostTensor('int64', toBigInt64(positions.positionIds), [3, positions.batch, positions.length]),
    rope_deltas: hostTensor('int64', toBigInt64(positions.ropeDeltas), [positions.batch, 1]),
  };
  if (imageFeatures !== undefined) tensors.image_features = hostTensor('float32', imageFeatures.features, imageFeatures.dims);
  return tensors;
}
