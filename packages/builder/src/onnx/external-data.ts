import { QwenVLError } from '@qwen-vl/core';

export interface ExternalDataOptions {
  /** File name of the external data, relative to the model file (e.g. "vision.onnx.data"). */
  readonly location: string;
  /** Initializers of at least this many bytes go to the external file; smaller ones stay inline. Default 1024. */
  readonly threshold?: number;
  /**
   * Each tensor starts at a multiple of this many bytes. Default 4096, the page size, so
   * that onnxruntime can memory-map tensors in place.
   */
  readonly alignment?: number;
}

export interface ExternalPlacement {
  /** Bytes of zero padding written before the tensor. */
  readonly padding: number;
  readonly offset: number;
  readonly length: number;
}

export interface ExternalLayout {
  readonly placements: readonly ExternalPlacement[];
  /** Size of the whole external data file. */
  readonly byteLength: number;
}

export const DEFAULT_EXTERNAL_THRESHOLD = 1024;
export const DEFAULT_EXTERNAL_ALIGNMENT = 4096;

/**
 * Places tensors of the given byte lengths one after another, each on an `alignment`
 * boundary. Plain number arithmetic: exact up to 2^53 bytes, far past any model.
 */
export function planExternalLayout(lengths: readonly number[], alignment: number): ExternalLayout {
  if (!Number.isSafeInteger(alignment) || alignment < 1) {
    throw new QwenVLError('INVALID_ARGUMENT', `must be a positive integer, got ${alignment}`, { source: 'externalData.alignment' });
  }
  let end = 0;
  const placements = lengths.map((length) => {
    const offset = Math.ceil(end / alignment) * alignment;
    const placement = { padding: offset - end, offset, length };
    end = offset + length;
    return placement;
  });
  return { placements, byteLength: end };
}

/** onnxruntime only reads external data below the model's folder, by a relative path. */
export function checkExternalLocation(location: string): void {
  const parts = location.split(/[\\/]/);
  if (location === '' || /^([\\/]|[A-Za-z]:)/.test(location) || parts.includes('..')) {
    throw new QwenVLError('INVALID_ARGUMENT', `must be a relative path inside the model's folder, got ${JSON.stringify(location)}`, { source: 'externalData.location' });
  }
}
