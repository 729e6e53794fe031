import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { decodeNpy } from '@qwen-vl/core';
import type { HostTensor } from '@qwen-vl/core';
import type { Grid } from '@qwen-vl/mrope';

/** The golden fixtures of testdata/golden (see its README for how they were computed). */
const golden = new URL('../../../testdata/golden/', import.meta.url);

export const MODEL_DIR = fileURLToPath(new URL('tiny/model', golden));

/** The golden README's tolerance for fp32 logits (and so logprobs) against the float64 reference. */
export const GOLDEN_TOLERANCE = 1e-3;

export function goldenImage(name: string): string {
  return fileURLToPath(new URL(`images/${name}`, golden));
}

export interface GoldenCase {
  name: string;
  images: string[];
  text: string;
}

/** The case table of testdata/golden/README.md. */
export const GOLDEN_CASES: GoldenCase[] = [
  { name: 'one_image', images: ['gradient_300x200.png'], text: 'Describe this image.' },
  { name: 'two_images', images: ['gradient_300x200.png', 'noise_rgba_50x70.png'], text: 'Compare the two images.' },
  { name: 'jpeg_downscale', images: ['checker_640x480.jpg'], text: 'What is in the picture?' },
  { name: 'text_only', images: [], text: 'Hello, who are you?' },
];

export function goldenArray(caseName: string, array: string): HostTensor {
  const path = new URL(`cases/${caseName}/${array}.npy`, golden);
  return decodeNpy(readFileSync(path), fileURLToPath(path));
}

export function goldenJson(caseName: string): { rope_delta: number; input_ids: number[]; logprobs: number[] } {
  return JSON.parse(readFileSync(new URL(`cases/${caseName}.json`, golden), 'utf8'));
}

/** The case's image grids (t, h, w), one per image; none for a text-only case. */
export function goldenGrids(caseName: string): Grid[] {
  const flat = numbers(goldenArray(caseName, 'grid_thw').data);
  return Array.from({ length: flat.length / 3 }, (_, i): Grid => [flat[3 * i], flat[3 * i + 1], flat[3 * i + 2]]);
}

/** Any typed array (BigInt64Array included) as plain numbers, for exact comparisons. */
export function numbers(data: ArrayLike<number | bigint>): number[] {
  return Array.from(data, Number);
}

export function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}
