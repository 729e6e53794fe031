import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { isQwenVLError, parsePreprocessorConfig } from '@qwen-vl/core';
import type { PreprocessorConfig } from '@qwen-vl/core';
import { GOLDEN_CASES, MODEL_DIR, goldenArray, goldenImage, maxAbsDiff, numbers } from '@qwen-vl/test-support';
import { toRgb } from '../src/image.js';
import type { RawImage } from '../src/image.js';
import { imageBatchShape, processImages, processVideo, processVideos } from '../src/image-processor.js';
import type { VisionBatch } from '../src/image-processor.js';
import { resizeBicubic } from '../src/resize-bicubic.js';
import { smartResize } from '../src/smart-resize.js';

const checkpoint = parsePreprocessorConfig(JSON.parse(readFileSync(join(MODEL_DIR, 'preprocessor_config.json'), 'utf8')));
/** Rescale and normalize are the identity here, so pixel values are the 8-bit samples themselves. */
const raw: PreprocessorConfig = { ...checkpoint, imageMean: [0, 0, 0], imageStd: [1, 1, 1], rescaleFactor: 1 };
/** Budget that leaves any image whose sides are multiples of 28 at its size. */
const keepSize = { minPixels: 28 * 28, maxPixels: 12845056 };

async function decode(name: string): Promise<RawImage> {
  const { data, info } = await sharp(goldenImage(name)).raw().toBuffer({ resolveWithObject: true });
  return toRgb({ width: info.width, height: info.height, channels: info.channels, data });
}

/** An RGB image whose R is the column, G the row and B a constant, so positions can be read back. */
function positions(width: number, height: number, blue: number): RawImage {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) data.set([x, y, blue], (y * width + x) * 3);
  }
  return { width, height, channels: 3, data };
}

function solid(width: number, height: number, value: [number, number, number]): RawImage {
  return { width, height, channels: 3, data: Uint8Array.from(Array.from({ length: width * height }, () => value).flat()) };
}

function value(batch: VisionBatch, row: number, column: number): number {
  return batch.pixelValues[row * batch.rowSize + column];
}

describe('processImages against the golden Hugging Face outputs', () => {
  it.each(GOLDEN_CASES.filter((goldenCase) => goldenCase.images.length > 0))('$name', async ({ name, images: files }) => {
    const images = await Promise.all(files.map(decode));
    const batch = processImages(images, checkpoint);
    const expected = goldenArray(name, 'pixel_values');
    const grid = goldenArray(name, 'grid_thw');
    expect(batch.gridThw.flat()).toEqual(numbers(grid.data));
    expect([batch.patchCount, batch.rowSize]).toEqual(expected.dims);
    expect(batch.pixelValues.length).toBe(expected.data.length);
    // Bit-exact: the resize reproduces Pillow's integers and the table NumPy's float32 steps.
    expect(maxAbsDiff(batch.pixelValues, expected.data as Float32Array)).toBe(0);
  });
});

describe('processImages', () => {
  it('flattens patches in Hugging Face order: 2×2 merge blocks, then channel, frame, row, column', () => {
    // 56×84 → grid 4×6 patches, 2×3 merge blocks.
    const batch = processImages([positions(84, 56, 7)], raw, keepSize);
    expect(batch.gridThw).toEqual([[1, 4, 6]]);
    expect(batch.rowSize).toBe(1176);
    expect(batch.patchCount).toBe(24);
    // Expected values from the reference's index formulas: row ((bh·(gw/2) + bw)·2 + mh)·2 + mw
    // holds patch (y, x) = (2bh + mh, 2bw + mw); column c·392 + tp·196 + py·14 + px.
    const [gh, gw] = [4, 6];
    const expected = new Float32Array(24 * 1176);
    for (let bh = 0; bh < gh / 2; bh++) {
      for (let bw = 0; bw < gw / 2; bw++) {
        for (let mh = 0; mh < 2; mh++) {
          for (let mw = 0; mw < 2; mw++) {
            const row = ((bh * (gw / 2) + bw) * 2 + mh) * 2 + mw;
            const [y0, x0] = [(2 * bh + mh) * 14, (2 * bw + mw) * 14];
            for (let tp = 0; tp < 2; tp++) {
              for (let py = 0; py < 14; py++) {
                for (let px = 0; px < 14; px++) {
                  const at = row * 1176 + tp * 196 + py * 14 + px;
                  expected[at] = x0 + px;
                  expected[at + 392] = y0 + py;
                  expected[at + 784] = 7;
                }
              }
            }
          }
        }
      }
    }
    expect(batch.pixelValues).toEqual(expected);
  });

  it('rescales and normalizes per channel in float32', () => {
    const batch = processImages([solid(28, 28, [0, 128, 255])], checkpoint, keepSize);
    // float32((v · 1/255) - mean) / std with mean and std as float32, computed step by step.
    const f = Math.fround;
    const expected = [0, 128, 255].map((v, c) => f(f(f(v * (1 / 255)) - f(checkpoint.imageMean[c])) / f(checkpoint.imageStd[c])));
    expect(expected[0]).toBeCloseTo(-1.7922625, 6);
    expect([value(batch, 0, 0), value(batch, 0, 392), value(batch, 3, 1175)]).toEqual(expected);
  });

  it('drops alpha without compositing and replicates gray, as PIL convert("RGB") does', () => {
    const rgba: RawImage = { width: 28, height: 28, channels: 4, data: Uint8Array.from(Array.from({ length: 784 }, () => [10, 20, 30, 0]).flat()) };
    const grayAlpha: RawImage = { width: 28, height: 28, channels: 2, data: Uint8Array.from(Array.from({ length: 784 }, () => [90, 255]).flat()) };
    const gray: RawImage = { width: 28, height: 28, channels: 1, data: new Uint8Array(784).fill(200) };
    const batch = processImages([rgba, grayAlpha, gray], raw, keepSize);
    expect([0, 392, 784].map((c) => value(batch, 0, c))).toEqual([10, 20, 30]);
    expect([0, 392, 784].map((c) => value(batch, 4, c))).toEqual([90, 90, 90]);
    expect([0, 392, 784].map((c) => value(batch, 8, c))).toEqual([200, 200, 200]);
  });

  it('concatenates the rows of images of different sizes and gives one grid each', () => {
    const a = positions(84, 56, 1);
    const b = positions(28, 28, 2);
    const both = processImages([a, b], raw, keepSize);
    const first = processImages([a], raw, keepSize);
    const second = processImages([b], raw, keepSize);
    expect(both.gridThw).toEqual([
      [1, 4, 6],
      [1, 2, 2],
    ]);
    expect(both.patchCount).toBe(24 + 4);
    expect(both.pixelValues).toEqual(Float32Array.from([...first.pixelValues, ...second.pixelValues]));
  });

  it('resizes tiny images up to min_pixels and honours per-call overrides', () => {
    expect(processImages([solid(20, 20, [1, 2, 3])], checkpoint).gridThw).toEqual([[1, 4, 4]]);
    const image = solid(280, 280, [9, 9, 9]);
    expect(processImages([image], checkpoint).gridThw).toEqual([[1, 20, 20]]);
    expect(processImages([image], checkpoint, { maxPixels: 140 * 140 }).gridThw).toEqual([[1, 10, 10]]);
    expect(processImages([image], checkpoint, { minPixels: 560 * 560 }).gridThw).toEqual([[1, 40, 40]]);
    // A resized constant image stays constant.
    expect(new Set(processImages([image], raw, { maxPixels: 140 * 140 }).pixelValues)).toEqual(new Set([9]));
  });

  it('gives an empty batch for no images', () => {
    const batch = processImages([], checkpoint);
    expect(batch).toEqual({ pixelValues: new Float32Array(0), patchCount: 0, rowSize: 1176, gridThw: [] });
  });

  it('rejects bad images and overrides with a typed error naming the culprit', () => {
    const broken: RawImage = { width: 28, height: 28, channels: 3, data: new Uint8Array(10) };
    expect(() => processImages([solid(28, 28, [0, 0, 0]), broken], checkpoint)).toThrow(/images\[1\].*10 bytes/);
    try {
      processImages([broken], checkpoint);
      expect.unreachable();
    } catch (error) {
      expect(isQwenVLError(error, 'INVALID_IMAGE')).toBe(true);
    }
    expect(() => processImages([solid(28, 28, [0, 0, 0])], checkpoint, { minPixels: 5000, maxPixels: 4000 })).toThrow(/minPixels 5000 is larger/);
    expect(() => processImages([solid(28, 28, [0, 0, 0])], checkpoint, { maxPixels: -1 })).toThrow(/options.maxPixels/);
    // A budget of 1e12 used to reach the allocator and fail with a raw RangeError.
    expect(() => processImages([solid(28, 28, [0, 0, 0])], checkpoint, { minPixels: 1e12, maxPixels: 2e12 })).toThrow('options.minPixels: must be at most 67108864 pixels');
    expect(() => processImages([solid(28, 28, [0, 0, 0])], checkpoint, { maxPixels: 1e12 })).toThrow('options.maxPixels: must be at most 67108864 pixels');
  });
});

describe('processImages into a caller-provided output', () => {
  const images = [noise(90, 61, 3, 1), noise(56, 28, 4, 2)];

  it('writes every value of the batch into the given array, and nothing past it', () => {
    const fresh = processImages(images, checkpoint, keepSize);
    const length = fresh.pixelValues.length;
    // NaN everywhere first: a value left unwritten would show as NaN.
    const output = new Float32Array(length + 7).fill(NaN);
    const batch = processImages(images, checkpoint, { ...keepSize, output });
    expect(batch.pixelValues.buffer).toBe(output.buffer);
    expect(batch.pixelValues.byteOffset).toBe(0);
    expect(firstMismatch(batch.pixelValues, fresh.pixelValues)).toBe(-1);
    expect(Array.from(output.subarray(length))).toEqual(new Array(7).fill(NaN));
    expect({ ...batch, pixelValues: undefined }).toEqual({ ...fresh, pixelValues: undefined });
  });

  it('returns an output of exactly the right size as it is, and overwrites what an earlier batch left', () => {
    const output = new Float32Array(imageBatchShape(images, checkpoint, keepSize).patchCount * 1176);
    processImages([noise(90, 61, 3, 9), noise(56, 28, 3, 8)], checkpoint, { ...keepSize, output });
    const batch = processImages(images, checkpoint, { ...keepSize, output });
    expect(batch.pixelValues).toBe(output);
    expect(firstMismatch(output, processImages(images, checkpoint, keepSize).pixelValues)).toBe(-1);
  });

  it('gives the shape processImages will have without processing', () => {
    const { pixelValues, ...shape } = processImages(images, checkpoint);
    expect(imageBatchShape(images, checkpoint)).toEqual(shape);
    expect(pixelValues.length).toBe(shape.patchCount * shape.rowSize);
    // Per-call budgets apply as in processImages: 90×61 shrinks to 28×28, 56×28 stays.
    expect(imageBatchShape(images, checkpoint, { minPixels: 784, maxPixels: 28 * 56 }).gridThw).toEqual([
      [1, 2, 2],
      [1, 2, 4],
    ]);
    expect(() => imageBatchShape([{ ...images[0], data: new Uint8Array(3) }], checkpoint)).toThrow(/images\[0\]/);
  });

  it('rejects an output too small for the batch, or not a Float32Array, naming options.output', () => {
    const { patchCount } = imageBatchShape(images, checkpoint, keepSize);
    const needed = patchCount * 1176;
    for (const [output, message] of [
      [new Float32Array(needed - 1), `holds ${needed - 1} floats, the batch needs ${needed} (${patchCount} patches × 1176)`],
      [new Float64Array(needed), 'must be a Float32Array'],
    ] as const) {
      try {
        processImages(images, checkpoint, { ...keepSize, output: output as Float32Array });
        expect.unreachable();
      } catch (error) {
        expect(isQwenVLError(error, 'INVALID_ARGUMENT')).toBe(true);
        expect(error).toMatchObject({ source: 'options.output' });
        expect((error as Error).message).toContain(message);
      }
    }
  });
});

describe('processVideo', () => {
  const frames = [10, 20, 30].map((v) => solid(56, 28, [v, v + 1, v + 2]));

  it('pads an odd frame count with the last frame and pairs frames along the temporal axis', () => {
    const batch = processVideo(frames, raw, keepSize);
    expect(batch.gridThw).toEqual([[2, 2, 4]]);
    expect(batch.patchCount).toBe(16);
    expect(batch.secondPerGridT).toBe(1);
    // Rows 0-7 are t = 0 (frames 0 and 1), rows 8-15 are t = 1 (frame 2 and its copy).
    expect([value(batch, 0, 0), value(batch, 0, 196), value(batch, 7, 392 + 196 + 195)]).toEqual([10, 20, 21]);
    expect([value(batch, 8, 0), value(batch, 8, 196), value(batch, 15, 784 + 196)]).toEqual([30, 30, 32]);
  });

  it('derives second_per_grid_t from fps', () => {
    expect(processVideo(frames, raw, { ...keepSize, fps: 4 }).secondPerGridT).toBe(0.5);
    expect(() => processVideo(frames, raw, { fps: 0 })).toThrow(/options.fps/);
  });

  it('resizes every frame to the size smart_resize gives for the first', () => {
    const mixed = [solid(56, 28, [5, 5, 5]), solid(100, 100, [7, 7, 7])];
    const batch = processVideo(mixed, raw, keepSize);
    expect(batch.gridThw).toEqual([[1, 2, 4]]);
    expect([value(batch, 0, 0), value(batch, 0, 196)]).toEqual([5, 7]);
  });

  it('rejects a video without frames', () => {
    expect(() => processVideo([], raw)).toThrow(/videos\[0\].*no frames/);
  });
});

describe('processVideos', () => {
  it('concatenates videos with one grid and one second_per_grid_t each', () => {
    const a = [solid(28, 28, [1, 1, 1]), solid(28, 28, [2, 2, 2])];
    const b = [solid(56, 28, [3, 3, 3])];
    const batch = processVideos([a, b], raw, { ...keepSize, fps: [2, 1] });
    expect(batch.gridThw).toEqual([
      [1, 2, 2],
      [1, 2, 4],
    ]);
    expect(batch.secondPerGridT).toEqual([1, 2]);
    expect(batch.pixelValues).toEqual(Float32Array.from([...processVideo(a, raw, keepSize).pixelValues, ...processVideo(b, raw, keepSize).pixelValues]));
    expect(() => processVideos([a, b], raw, { fps: [2] })).toThrow(/options.fps/);
  });
});

/** Deterministic samples with many 0 and 255 values, so the resize clips. */
function noise(width: number, height: number, channels: RawImage['channels'], seed: number): RawImage {
  let state = seed;
  const data = new Uint8Array(width * height * channels);
  for (let i = 0; i < data.length; i++) {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    const v = state >>> 24;
    data[i] = v < 40 ? 0 : v > 215 ? 255 : v;
  }
  return { width, height, channels, data };
}

/**
 * The unfused composition: each frame resized whole with resizeBicubic, padded to a
 * multiple of temporal_patch_size, then flattened by Hugging Face's reshape and transpose
 * written as an index formula. `config` must leave values unnormalized (`raw`-like), so a
 * pixel value is its 8-bit sample.
 */
function composed(frames: readonly RawImage[], config: PreprocessorConfig, budget: { minPixels: number; maxPixels: number }): Float32Array {
  const { patchSize: p, mergeSize: m, temporalPatchSize: tp } = config;
  const { width, height } = smartResize(frames[0].height, frames[0].width, { factor: p * m, ...budget });
  const resized = frames.map((frame) => resizeBicubic(toRgb(frame), width, height));
  while (resized.length % tp !== 0) resized.push(resized[resized.length - 1]);
  const [gh, gw] = [height / p, width / p];
  const rowSize = 3 * tp * p * p;
  const out = new Float32Array((resized.length / tp) * gh * gw * rowSize);
  for (let t = 0; t < resized.length / tp; t++) {
    for (let bh = 0; bh < gh / m; bh++) {
      for (let bw = 0; bw < gw / m; bw++) {
        for (let mh = 0; mh < m; mh++) {
          for (let mw = 0; mw < m; mw++) {
            const row = (((t * (gh / m) + bh) * (gw / m) + bw) * m + mh) * m + mw;
            const [y0, x0] = [(bh * m + mh) * p, (bw * m + mw) * p];
            for (let c = 0; c < 3; c++) {
              for (let f = 0; f < tp; f++) {
                for (let py = 0; py < p; py++) {
                  for (let px = 0; px < p; px++) {
                    const column = ((c * tp + f) * p + py) * p + px;
                    out[row * rowSize + column] = resized[t * tp + f].data[((y0 + py) * width + x0 + px) * 3 + c];
                  }
                }
              }
            }
          }
        }
      }
    }
  }
  return out;
}

/** Index of the first value that differs (-1 when none): far cheaper for the test runner than toEqual on large arrays. */
function firstMismatch(actual: Float32Array, expected: Float32Array): number {
  expect(actual.length).toBe(expected.length);
  return actual.findIndex((v, i) => !Object.is(v, expected[i]));
}

describe('band-by-band resize and patchify', () => {
  // Each case: input size, budget, and what it exercises.
  it.each([
    // Wider and shorter (4-tap windows both ways), and the default budget's upscale.
    [300, 200, keepSize],
    [20, 30, { minPixels: 56 * 56, maxPixels: 12845056 }],
    // Shrinks by 1.3 to 1.8 (5- to 8-tap windows), and a strong one (windows of dozens of taps).
    [150, 100, { minPixels: 784, maxPixels: 112 * 84 }],
    [180, 120, { minPixels: 784, maxPixels: 140 * 84 }],
    [900, 700, { minPixels: 784, maxPixels: 112 * 84 }],
    // Only the width changes, only the height, neither.
    [300, 196, keepSize],
    [280, 200, keepSize],
    [280, 196, keepSize],
  ])('equals resizeBicubic then flattening for %i×%i', (width, height, budget) => {
    const image = noise(width, height, 3, width * 7 + height);
    expect(firstMismatch(processImages([image], raw, budget).pixelValues, composed([image], raw, budget))).toBe(-1);
  });

  it('equals the composition for RGBA input, resized or already at its size', () => {
    for (const image of [noise(90, 61, 4, 3), noise(84, 56, 4, 4)]) {
      expect(firstMismatch(processImages([image], raw, keepSize).pixelValues, composed([image], raw, keepSize))).toBe(-1);
    }
  });

  it('gives the same values when called again after images of other sizes', () => {
    // The work buffers kept between calls grow for the wide image and still hold its rows when the others come.
    const images = [noise(300, 200, 3, 1), noise(20, 30, 4, 2), noise(150, 100, 3, 3)];
    const budgets = [keepSize, { minPixels: 56 * 56, maxPixels: 12845056 }, { minPixels: 784, maxPixels: 112 * 84 }];
    const first = images.map((image, i) => processImages([image], raw, budgets[i]).pixelValues);
    images.forEach((image, i) => expect(firstMismatch(first[i], composed([image], raw, budgets[i]))).toBe(-1));
    images.forEach((image, i) => expect(firstMismatch(processImages([image], raw, budgets[i]).pixelValues, first[i])).toBe(-1));
  });

  it('equals the composition for video frames that differ and a padded last frame', () => {
    const frames = [1, 2, 3].map((seed) => noise(100, 70, 3, seed));
    expect(firstMismatch(processVideo(frames, raw, keepSize).pixelValues, composed(frames, raw, keepSize))).toBe(-1);
  });

  it('equals the composition with a temporal patch size of 3, where a frame fills three slots', () => {
    const triple: PreprocessorConfig = { ...raw, temporalPatchSize: 3 };
    const image = noise(70, 50, 3, 5);
    expect(firstMismatch(processImages([image], triple, keepSize).pixelValues, composed([image], triple, keepSize))).toBe(-1);
    // Four frames padded to six: the second group is the last frame three times.
    const frames = [1, 2, 3, 4].map((seed) => noise(70, 50, 3, seed));
    expect(firstMismatch(processVideo(frames, triple, keepSize).pixelValues, composed(frames, triple, keepSize))).toBe(-1);
  });

  it('equals the composition with an odd patch size', () => {
    // patch 5, merge 2: bands of 10 rows, patch rows of 5 pixels (an odd one after the pairs).
    const odd: PreprocessorConfig = { ...raw, patchSize: 5, mergeSize: 2 };
    const budget = { minPixels: 100, maxPixels: 10000 };
    for (const [width, height] of [
      [63, 47],
      [40, 20],
    ]) {
      const image = noise(width, height, 3, width);
      expect(firstMismatch(processImages([image], odd, budget).pixelValues, composed([image], odd, budget))).toBe(-1);
    }
  });
});
