import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { streamModel, buildVisionGraph, buildModelFolder, VISION_PART, openLocalCheckpoint } from '@qwen-vl/builder';
import type { VisionConfig } from '@qwen-vl/core';
import { VisionEncoder } from '@qwen-vl/vision';
import type { AttentionLayout } from '@qwen-vl/vision';
import { GOLDEN_VISION_CASES, MODEL_DIR, goldenVisionCase, maxAbsDiff } from '@qwen-vl/test-support';
import { onnxruntimeNodeBackend } from '../src/backend/ort-backend.js';
import { openVisionEncoder } from '../src/vision-runner.js';
import { useTempDir } from './helpers/temp-dir.js';

const dir = useTempDir('qwen-vl-vision-');
let fp32: VisionEncoder;
let fp16: VisionEncoder;
/** An fp16 build for DirectML (or CUDA): float16 activations (`computeTypeFor`), run on the CPU's float16 kernels. */
let fp16Compute: VisionEncoder;
beforeAll(async () => {
  await buildModelFolder(MODEL_DIR, join(dir(), 'fp32'), { parts: [VISION_PART] });
  await buildModelFolder(MODEL_DIR, join(dir(), 'fp16'), { parts: [VISION_PART], precision: 'fp16' });
  await buildModelFolder(MODEL_DIR, join(dir(), 'fp16-dml'), { parts: [VISION_PART], precision: 'fp16', executionProvider: 'dml' });
  fp32 = await openVisionEncoder(join(dir(), 'fp32'));
  fp16 = await openVisionEncoder(join(dir(), 'fp16'));
  fp16Compute = await openVisionEncoder(join(dir(), 'fp16-dml'));
});
afterAll(async () => {
  await fp32?.dispose();
  await fp16?.dispose();
  await fp16Compute?.dispose();
});

/** A vision graph of the golden checkpoint with some config change, run from in-memory bytes. */
async function variantEncoder(config: VisionConfig, attention: AttentionLayout): Promise<VisionEncoder> {
  const model = await streamModel(buildVisionGraph(await openLocalCheckpoint(MODEL_DIR), config, { attention }));
  return new VisionEncoder(await onnxruntimeNodeBackend.createSession({ model: model.model }, { device: 'cpu' }), config, { attention });
}

describe('exported golden tiny vision encoder on onnxruntime-node CPU', { timeout: 30_000 }, () => {
  it.each(GOLDEN_VISION_CASES)('fp32 %s: image_features match the golden vision_features', async (name) => {
    const { pixels, grids, features } = goldenVisionCase(name);
    const result = await fp32.encode(pixels, grids); // two_images: both images in one run
    expect(result.dims).toEqual([features.length / 32, 32]);
    const diff = maxAbsDiff(result.features, features);
    console.info(`fp32 ${name} ${JSON.stringify(grids)}: max |Δ| vs golden = ${diff.toExponential(2)}`);
    expect(diff).toBeLessThan(1e-3);
  });

  it.each(GOLDEN_VISION_CASES)("fp16 weights %s: close to golden, within the weights' rounding", async (name) => {
    const { pixels, grids, features } = goldenVisionCase(name);
    const diff = maxAbsDiff((await fp16.encode(pixels, grids)).features, features);
    console.info(`fp16 ${name}: max |Δ| vs golden = ${diff.toExponential(2)}`);
    expect(diff).toBeLessThan(2e-2);
  });

  it.each(GOLDEN_VISION_CASES)('fp16 weights and float16 activations (a dml build) %s: close to golden, within float16 arithmetic', async (name) => {
    const { pixels, grids, features } = goldenVisionCase(name);
    const diff = maxAbsDiff((await fp16Compute.encode(pixels, grids)).features, features);
    console.info(`fp16 activations ${name}: max |Δ| vs golden = ${diff.toExponential(2)}`);
    // Measured 3.1e-3 to 3.3e-3 (float16 keeps 11 bits); a window or mask mistake moves features by 1e-3 to 1e-1.
    expect(diff).toBeLessThan(1e-2);
  });

  it('fp16 stores the weights in about half the bytes', async () => {
    const size = async (folder: string) => (await stat(join(dir(), folder, 'vision.onnx.data'))).size;
    const ratio = (await size('fp16')) / (await size('fp32'));
    console.info(`vision.onnx.data fp16/fp32 size ratio = ${ratio.toFixed(3)} (tensors are 4 KiB aligned)`);
    expect(ratio).toBeGreaterThan(0.45);
    expect(ratio).toBeLessThan(0.6);
  });

  it('windowed blocks matter: all-full attention gives clearly different features', async () => {
    const { pixels, grids, features } = goldenVisionCase('jpeg_downscale'); // 34×46 patches, several windows
    const allFull = await variantEncoder({ ...fp32.config, fullAttBlockIndexes: [0, 1, 2, 3] }, 'segmented');
    try {
      const diff = maxAbsDiff((await allFull.encode(pixels, grids)).features, features);
      console.info(`jpeg_downscale: max |all-full − golden| = ${diff.toExponential(2)}`);
      expect(diff).toBeGreaterThan(1e-3);
      expect(diff).toBeLessThan(Infinity); // maxAbsDiff's answer for unequal lengths or a NaN
    } finally {
      await allFull.dispose();
    }
  });

  it('the dense-mask layout (for benchmarks) computes the same features', async () => {
    const { pixels, grids } = goldenVisionCase('two_images');
    const dense = await variantEncoder(fp32.config, 'dense-mask');
    try {
      const diff = maxAbsDiff((await dense.encode(pixels, grids)).features, (await fp32.encode(pixels, grids)).features);
      expect(diff).toBeLessThan(1e-5);
    } finally {
      await dense.dispose();
    }
  });

  it('a graph that takes only the grids (in-graph tables, as transformers.js and onnxruntime-genai feed it) gives the same features: images of partial windows and a 2-frame video in one run', async () => {
    const config = fp32.config;
    const model = await streamModel(buildVisionGraph(await openLocalCheckpoint(MODEL_DIR), config, { inputs: 'grid' }));
    const grid = new VisionEncoder(await onnxruntimeNodeBackend.createSession({ model: model.model }, { device: 'cpu' }), config);
    try {
      const grids: [number, number, number][] = [
        [1, 34, 46],
        [1, 8, 10],
        [2, 12, 6],
        [1, 16, 16],
      ];
      const rows = grids.reduce((sum, [t, h, w]) => sum + t * h * w, 0);
      const pixels = Float32Array.from({ length: rows * 1176 }, (_, i) => Math.sin(i * 0.37) * 0.8);
      const [fromGrids, fromTables] = [await grid.encode(pixels, grids), await fp32.encode(pixels, grids)];
      expect(fromGrids.dims).toEqual(fromTables.dims);
      const diff = maxAbsDiff(fromGrids.features, fromTables.features);
      console.info(`grid-input vision graph vs host tables, ${JSON.stringify(grids)}: max |Δ| = ${diff.toExponential(2)}`);
      expect(diff).toBeLessThan(1e-5);
    } finally {
      await grid.dispose();
    }
  });
});
