import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Checkpoint } from '@qwen-vl/builder';
import type { VisionConfig } from '@qwen-vl/core';
import type { Grid } from '@qwen-vl/mrope';
import type { VisionEncoder } from '@qwen-vl/vision';
import { buildModelFolder, VISION_PART, openLocalCheckpoint, writeTinyModelFolder } from '@qwen-vl/builder';
import { MODEL_DIR, maxAbsDiff } from '@qwen-vl/test-support';
import { openVisionEncoder } from '../src/vision-runner.js';
import { useTempDir } from './helpers/temp-dir.js';

/**
 * The float64 reference encoder of @qwen-vl/vision's tests. Imported by a computed path:
 * it lies outside this package's TypeScript root, so its type is restated here.
 */
type EncodeVision = (pixels: Float32Array, grids: readonly Grid[], weight: (name: string) => Float32Array, config: VisionConfig) => Float64Array;
const referencePath = fileURLToPath(new URL('../../builder/test/reference/vision-encoder.ts', import.meta.url));
const { encodeVision } = (await import(referencePath)) as { encodeVision: EncodeVision };

/**
 * A checkpoint shaped unlike the golden one (3 heads, an odd depth, full attention in the
 * first block, 2-token windows, out size ≠ hidden size), in float32 so that fp16 storage
 * really rounds, checked against the float64 reference encoder.
 */
const VISION = { hiddenSize: 48, heads: 3, depth: 3, intermediateSize: 96, windowSize: 56, fullAttBlockIndexes: [0, 2], outHiddenSize: 40 };
// Several windows per frame, partial windows, two images of different sizes, one of two frames.
const GRIDS: Grid[] = [
  [1, 12, 16],
  [2, 6, 8],
];
const PATCHES = 12 * 16 + 2 * 6 * 8;

function randomPixels(count: number): Float32Array {
  let state = 0x2545f491;
  return Float32Array.from({ length: count }, () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return (state / 2 ** 32) * 4 - 2; // the range of normalised pixels
  });
}

const dir = useTempDir('qwen-vl-vision-ref-');
let checkpoint: Checkpoint;
let fp32: VisionEncoder;
let fp16: VisionEncoder;
let expected: Float64Array;
const pixels = randomPixels(PATCHES * 1176);

beforeAll(async () => {
  const hf = join(dir(), 'hf');
  await writeTinyModelFolder(hf, MODEL_DIR, { seed: 11, dtype: 'f32', vision: VISION });
  await buildModelFolder(hf, join(dir(), 'fp32'), { parts: [VISION_PART] });
  await buildModelFolder(hf, join(dir(), 'fp16'), { parts: [VISION_PART], precision: 'fp16' });
  fp32 = await openVisionEncoder(join(dir(), 'fp32'));
  fp16 = await openVisionEncoder(join(dir(), 'fp16'));
  checkpoint = await openLocalCheckpoint(hf);
  const weights = new Map<string, Float32Array>();
  for (const name of checkpoint.names()) if (name.startsWith('visual.')) weights.set(name, await checkpoint.readFloat32(name));
  expected = encodeVision(pixels, GRIDS, (name) => weights.get(name) as Float32Array, fp32.config);
}, 60_000);
afterAll(async () => {
  await fp32?.dispose();
  await fp16?.dispose();
});

describe('exported vision encoder vs the float64 reference', () => {
  it('fp32 matches the reference on two images of different sizes in one run', async () => {
    const result = await fp32.encode(pixels, GRIDS);
    expect(result.dims).toEqual([PATCHES / 4, 40]);
    const diff = maxAbsDiff(result.features, expected);
    console.info(`fp32 ${JSON.stringify(GRIDS)}: max |Δ| vs float64 reference = ${diff.toExponential(2)}`);
    expect(diff).toBeLessThan(1e-4);
  });

  it('each image encoded alone gives the same rows as the joint run', async () => {
    const first = await fp32.encode(pixels.subarray(0, 192 * 1176), [GRIDS[0]]);
    const second = await fp32.encode(pixels.subarray(192 * 1176), [GRIDS[1]]);
    const joint = (await fp32.encode(pixels, GRIDS)).features;
    expect(maxAbsDiff(first.features, joint.subarray(0, 48 * 40))).toBeLessThan(1e-5);
    expect(maxAbsDiff(second.features, joint.subarray(48 * 40))).toBeLessThan(1e-5);
  });

  it('fp16 weights stay within their rounding of the reference', async () => {
    const diff = maxAbsDiff((await fp16.encode(pixels, GRIDS)).features, expected);
    console.info(`fp16 weights (float32 checkpoint): max |Δ| vs float64 reference = ${diff.toExponential(2)}`);
    expect(diff).toBeGreaterThan(1e-6); // the weights really were rounded...
    expect(diff).toBeLessThan(2e-3); // ...by float16's 2^-11 relative step
  });
});
