import { QwenVLError } from '@qwen-vl/core';

/**
 * Output group g is input group `order[g]`, where a group is `groupSize` consecutive rows of
 * `rowSize` floats. With groupSize = merge² this applies the window index to the patch rows
 * or the vision rotary table; with groupSize = 1 and the reverse index it restores the
 * merged tokens' natural order.
 */
export function reorderRows(rows: Float32Array, rowSize: number, groupSize: number, order: Int32Array): Float32Array {
  const groupLength = rowSize * groupSize;
  if (!Number.isInteger(groupLength) || groupLength <= 0 || rows.length !== order.length * groupLength) {
    throw new QwenVLError('INVALID_ARGUMENT', `${rows.length} floats are not ${order.length} groups of ${groupSize} rows of ${rowSize}`, { source: 'reorderRows rows' });
  }
  const out = new Float32Array(rows.length);
  order.forEach((source, g) => {
    if (source < 0 || source >= order.length) {
      throw new QwenVLError('INVALID_ARGUMENT', `entry ${g} is ${source}, outside 0..${order.length - 1}`, { source: 'reorderRows order' });
    }
    out.set(rows.subarray(source * groupLength, (source + 1) * groupLength), g * groupLength);
  });
  return out;
}
