import type { Grid } from '@qwen-vl/mrope';
import { goldenArray, goldenGrids } from './golden.js';

/** A golden case's vision-tower inputs and expected output. */
export interface GoldenVisionCase {
  pixels: Float32Array;
  grids: Grid[];
  features: Float32Array;
}

export function goldenVisionCase(name: string): GoldenVisionCase {
  return {
    pixels: goldenArray(name, 'pixel_values').data as Float32Array,
    grids: goldenGrids(name),
    features: goldenArray(name, 'vision_features').data as Float32Array,
  };
}

export const GOLDEN_VISION_CASES = ['one_image', 'two_images', 'jpeg_downscale'];
