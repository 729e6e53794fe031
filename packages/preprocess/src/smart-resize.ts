import { QwenVLError } from '@qwen-vl/core';

export interface SmartResizeOptions {
  /** Both sides of the result are multiples of this (patch_size · merge_size = 28 for Qwen2.5-VL). */
  factor: number;
  minPixels: number;
  maxPixels: number;
}

/** Hugging Face rejects images whose long side exceeds this many times the short side. */
const MAX_ASPECT_RATIO = 200;

/** Python's `round`: ties go to the even neighbour (2.5 → 2, 3.5 → 4), unlike `Math.round`. */
function roundHalfToEven(x: number): number {
  const floor = Math.floor(x);
  const fraction = x - floor;
  if (fraction > 0.5) return floor + 1;
  if (fraction < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

/** Python's `repr` of a float, so error messages read exactly like Hugging Face's (`201.0`, not `201`). */
function pythonFloat(x: number): string {
  return Number.isInteger(x) ? x.toFixed(1) : String(x);
}

function assertPositiveInteger(value: number, name: string): void {
  if (!Number.isInteger(value) || value <= 0) {
    throw new QwenVLError('INVALID_ARGUMENT', `must be a positive integer, got ${value}`, { source: `smartResize ${name}` });
  }
}

/**
 * The target size of Hugging Face's `smart_resize` (Qwen2-VL image processor, newer
 * releases): each side rounded half-to-even to a multiple of `factor`, then scaled as a
 * whole so the area falls within [minPixels, maxPixels] while keeping the aspect ratio.
 * The shrinking branch keeps each side at least `factor`, as newer Hugging Face does.
 * The order is height, width, as in Hugging Face.
 */
export function smartResize(height: number, width: number, opts: SmartResizeOptions): { height: number; width: number } {
  const { factor, minPixels, maxPixels } = opts;
  assertPositiveInteger(height, 'height');
  assertPositiveInteger(width, 'width');
  assertPositiveInteger(factor, 'factor');
  assertPositiveInteger(minPixels, 'minPixels');
  assertPositiveInteger(maxPixels, 'maxPixels');

  const ratio = Math.max(height, width) / Math.min(height, width);
  if (ratio > MAX_ASPECT_RATIO) {
    throw new QwenVLError('INVALID_ARGUMENT', `absolute aspect ratio must be smaller than ${MAX_ASPECT_RATIO}, got ${pythonFloat(ratio)}`, {
      source: `image of ${width}×${height}`,
    });
  }

  let hBar = roundHalfToEven(height / factor) * factor;
  let wBar = roundHalfToEven(width / factor) * factor;
  if (hBar * wBar > maxPixels) {
    const beta = Math.sqrt((height * width) / maxPixels);
    hBar = Math.max(factor, Math.floor(height / beta / factor) * factor);
    wBar = Math.max(factor, Math.floor(width / beta / factor) * factor);
  } else if (hBar * wBar < minPixels) {
    const beta = Math.sqrt(minPixels / (height * width));
    hBar = Math.ceil((height * beta) / factor) * factor;
    wBar = Math.ceil((width * beta) / factor) * factor;
  }
  return { height: hBar, width: wBar };
}
