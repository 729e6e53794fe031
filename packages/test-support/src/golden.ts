/** Loaders of the golden fixtures in testdata/golden (see its README for how they were computed). */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { decodeNpy, parseModelConfig } from '@qwen-vl/core';
import type { HostTensor, ModelConfig } from '@qwen-vl/core';
import { caseArrayFile, numbers } from './golden-cases.js';

const golden = new URL('../../../testdata/golden/', import.meta.url);

/** testdata/golden, without a trailing separator. */
export const GOLDEN_DIR = fileURLToPath(golden).replace(/[\\/]$/, '');

/** The golden tiny checkpoint in the Hugging Face layout (testdata/golden/tiny/model). */
export const MODEL_DIR = fileURLToPath(new URL('tiny/model', golden));

/** The golden tiny model's config.json, parsed. */
export function goldenModelConfig(): ModelConfig {
  return parseModelConfig(JSON.parse(readFileSync(new URL('tiny/model/config.json', golden), 'utf8')));
}

/** An image of testdata/golden/images. */
export function goldenImage(name: string): string {
  return fileURLToPath(new URL(`images/${name}`, golden));
}

/** A .npy file on disk; errors name the path. */
export function readNpy(path: string): HostTensor {
  return decodeNpy(readFileSync(path), path);
}

export function goldenArray(caseName: string, array: string): HostTensor {
  return readNpy(fileURLToPath(new URL(caseArrayFile(caseName, array), golden)));
}

/** A case's JSON summary (the fields the tests read). */
export interface GoldenJson {
  input_ids: number[];
  grid_thw: Array<[number, number, number]>;
  pixel_values_shape: [number, number];
  rope_delta: number;
  tokens: number[];
  logprobs: number[];
}

export function goldenJson(caseName: string): GoldenJson {
  return JSON.parse(readFileSync(new URL(`cases/${caseName}.json`, golden), 'utf8')) as GoldenJson;
}

/** A grid (t, h, w), as @qwen-vl/mrope's `Grid`. */
export type GoldenGrid = [number, number, number];

/** The case's image grids (t, h, w), one per image; none for a text-only case. */
export function goldenGrids(caseName: string): GoldenGrid[] {
  const flat = numbers(goldenArray(caseName, 'grid_thw').data);
  return Array.from({ length: flat.length / 3 }, (_, i): GoldenGrid => [flat[3 * i], flat[3 * i + 1], flat[3 * i + 2]]);
}

/** A golden case's vision-tower inputs and expected output. */
export interface GoldenVisionCase {
  pixels: Float32Array;
  grids: GoldenGrid[];
  features: Float32Array;
}

export function goldenVisionCase(caseName: string): GoldenVisionCase {
  return {
    pixels: goldenArray(caseName, 'pixel_values').data as Float32Array,
    grids: goldenGrids(caseName),
    features: goldenArray(caseName, 'vision_features').data as Float32Array,
  };
}

/** Golden logits of step k (`[8, vocab]` in the file) and the 8 greedy tokens. */
export function goldenSteps(caseName: string): { logits: (step: number) => Float32Array; tokens: number[] } {
  const logits = goldenArray(caseName, 'logits');
  const vocab = logits.dims[1];
  return { logits: (step) => (logits.data as Float32Array).subarray(step * vocab, (step + 1) * vocab), tokens: numbers(goldenArray(caseName, 'tokens').data) };
}

/** A golden case's prompt: ids, the golden vision features (none for text_only) and image grids. */
export interface GoldenPrompt {
  readonly ids: number[];
  readonly imageFeatures: HostTensor<'float32'> | undefined;
  readonly grids: GoldenGrid[];
}

export function goldenPrompt(caseName: string): GoldenPrompt {
  const ids = numbers(goldenArray(caseName, 'input_ids').data);
  const grids = goldenGrids(caseName);
  const imageFeatures = grids.length === 0 ? undefined : (goldenArray(caseName, 'vision_features') as HostTensor<'float32'>);
  return { ids, imageFeatures, grids };
}
