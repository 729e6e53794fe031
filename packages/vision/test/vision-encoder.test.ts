import { describe, expect, it } from 'vitest';
import { float32ToFloat16 } from '@qwen-vl/core';
import type { HostTensor, InferenceSessionHandle, VisionConfig } from '@qwen-vl/core';
import { VisionEncoder } from '../src/vision-encoder.js';
import { visionInputNames } from '../src/graph-io.js';

const config: VisionConfig = {
  depth: 2,
  hiddenSize: 32,
  intermediateSize: 64,
  numHeads: 2,
  outHiddenSize: 8,
  patchSize: 14,
  spatialMergeSize: 2,
  temporalPatchSize: 2,
  windowSize: 112,
  fullAttBlockIndexes: [1],
  tokensPerSecond: 2,
  inChannels: 3,
};

/** A session that records its feeds and answers with `rows` rows of a running count. */
function fakeSession(inputNames: readonly string[], outputDims?: (tokens: number) => number[]): { session: InferenceSessionHandle; feeds: Record<string, HostTensor>[] } {
  const feeds: Record<string, HostTensor>[] = [];
  const session: InferenceSessionHandle = {
    inputNames,
    outputNames: ['image_features'],
    async run(given) {
      feeds.push({ ...given });
      const tokens = given.window_index?.dims[0] ?? given.pixel_values.dims[0] / 4;
      const dims = outputDims?.(tokens) ?? [tokens, 8];
      return { image_features: { type: 'float32', dims, data: Float32Array.from({ length: dims[0] * dims[1] }, (_, i) => i) } };
    },
    dispose: async () => undefined,
  };
  return { session, feeds };
}

describe('VisionEncoder', () => {
  const grids = [
    [1, 4, 4],
    [2, 2, 6],
  ] as const; // 16 + 24 patches → 4 + 6 tokens

  it('runs all images at once with the pixel rows and the index tables', async () => {
    const { session, feeds } = fakeSession(visionInputNames(config, 'segmented'));
    const encoder = new VisionEncoder(session, config);
    const pixels = new Float32Array(40 * 1176).fill(0.5);
    const result = await encoder.encode(pixels, grids);
    expect(result.dims).toEqual([10, 8]);
    expect(result.features.length).toBe(80);
    expect(feeds).toHaveLength(1);
    expect(Object.keys(feeds[0]).sort()).toEqual([...visionInputNames(config, 'segmented')].sort());
    expect(feeds[0].pixel_values.dims).toEqual([40, 1176]);
    expect(feeds[0].pixel_values.data).toBe(pixels);
    expect(feeds[0].rotary_cos.dims).toEqual([40, 16]);
  });

  it.each(['image_grid_thw', 'grid_thw'])("runs a graph that takes only the pixels and the grids (%s), as transformers.js's and onnxruntime-genai's do", async (gridName) => {
    const { session, feeds } = fakeSession(['pixel_values', gridName]);
    const result = await new VisionEncoder(session, config).encode(new Float32Array(40 * 1176), grids);
    expect(result.dims).toEqual([10, 8]);
    expect(Object.keys(feeds[0]).sort()).toEqual(['pixel_values', gridName].sort());
    expect(feeds[0][gridName]).toMatchObject({ type: 'int64', dims: [2, 3] });
    expect(Array.from(feeds[0][gridName].data as BigInt64Array, Number)).toEqual([1, 4, 4, 2, 2, 6]);
  });

  it("widens an fp16 export's float16 features to float32", async () => {
    const { session } = fakeSession(['pixel_values', 'image_grid_thw']);
    const half: InferenceSessionHandle = {
      ...session,
      run: async (feeds) => {
        const { image_features: features } = await session.run(feeds);
        return { image_features: { type: 'float16', dims: features.dims, data: float32ToFloat16(features.data as Float32Array) } };
      },
    };
    const result = await new VisionEncoder(half, config).encode(new Float32Array(40 * 1176), grids);
    expect(result.dims).toEqual([10, 8]);
    expect(Array.from(result.features)).toEqual(Array.from({ length: 80 }, (_, i) => i));
  });

  it('rejects pixel rows that do not match the grids', async () => {
    const encoder = new VisionEncoder(fakeSession(visionInputNames(config, 'segmented')).session, config);
    await expect(encoder.encode(new Float32Array(39 * 1176), grids)).rejects.toThrow(/pixelValues: holds 45864 values, but grids \[1, 4, 4\], \[2, 2, 6\] need 40 rows of 1176/);
  });

  it('returns no rows for no images without running the model', async () => {
    const { session, feeds } = fakeSession(visionInputNames(config, 'segmented'));
    const result = await new VisionEncoder(session, config).encode(new Float32Array(0), []);
    expect([result.dims, feeds.length]).toEqual([[0, 8], 0]);
  });

  it('refuses a model whose inputs belong to another layout or config', () => {
    expect(() => new VisionEncoder(fakeSession(visionInputNames(config, 'dense-mask')).session, config)).toThrow(expect.objectContaining({ code: 'INVALID_MODEL' }));
    expect(() => new VisionEncoder(fakeSession(visionInputNames(config, 'segmented')).session, { ...config, fullAttBlockIndexes: [] })).toThrow(/vision model: has inputs/);
    // Qwen2-VL's grid_thw is accepted (above); any other grid name is not.
    expect(() => new VisionEncoder(fakeSession(['pixel_values', 'image_sizes']).session, config)).toThrow(/ or \[pixel_values, image_grid_thw\] and gives image_features/);
  });

  it('refuses an output of the wrong shape', async () => {
    const { session } = fakeSession(visionInputNames(config, 'segmented'), (tokens) => [tokens, 7]);
    await expect(new VisionEncoder(session, config).encode(new Float32Array(16 * 1176), [[1, 4, 4]])).rejects.toThrow(/returned float32 \[4, 7\], expected float32 \[4, 8\]/);
  });
});
