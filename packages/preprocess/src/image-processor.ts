import { QwenVLError, pixelBudgetProblem } from '@qwen-vl/core';
import type { PreprocessorConfig } from '@qwen-vl/core';
import { assertValidImage, toRgb } from './image.js';
import type { RawImage } from './image.js';
import { normalizationTable, patchRowSize, writePatches } from './patchify.js';
import { BicubicResampler } from './resize-bicubic.js';
import { smartResize } from './smart-resize.js';
import type { SmartResizeOptions } from './smart-resize.js';

/**
 * Hugging Face's Qwen2VLImageProcessor, slow (PIL) path: RGB conversion, smart_resize,
 * Pillow bicubic resize, rescale, normalize, temporal padding and patch flattening.
 */

/** Per-call overrides of preprocessor_config.json's pixel budget. */
export interface ResizeOptions {
  minPixels?: number;
  maxPixels?: number;
}

export interface VisionBatch {
  /** Row-major [patchCount, rowSize] float32. */
  pixelValues: Float32Array;
  /** Rows; pixelValues.length === patchCount * rowSize. */
  patchCount: number;
  /** C · temporal_patch_size · patch_size² (1176 for Qwen2.5-VL). */
  rowSize: number;
  /** One [t, h, w] per image or video, in patches (not merged). */
  gridThw: Array<[number, number, number]>;
}

export interface VideoOptions extends ResizeOptions {
  /** Frames per second the frames were sampled at; Hugging Face's default is 2. */
  fps?: number;
}

/** Frames per second a video is taken to be sampled at when nobody says (qwen-vl-utils' default). */
export const DEFAULT_VIDEO_FPS = 2;

function resizeBudget(config: PreprocessorConfig, options: ResizeOptions): SmartResizeOptions {
  const minPixels = options.minPixels ?? config.minPixels;
  const maxPixels = options.maxPixels ?? config.maxPixels;
  for (const [name, value] of [
    ['minPixels', minPixels],
    ['maxPixels', maxPixels],
  ] as const) {
    if (!Number.isInteger(value) || value <= 0) {
      throw new QwenVLError('INVALID_ARGUMENT', `must be a positive integer, got ${value}`, { source: `options.${name}` });
    }
    const problem = pixelBudgetProblem(value);
    if (problem !== undefined) throw new QwenVLError('INVALID_ARGUMENT', problem, { source: `options.${name}` });
  }
  if (minPixels > maxPixels) {
    throw new QwenVLError('INVALID_ARGUMENT', `minPixels ${minPixels} is larger than maxPixels ${maxPixels}`, { source: 'options' });
  }
  return { factor: config.patchSize * config.mergeSize, minPixels, maxPixels };
}

/** One image (a single frame) or one video, with a name for error messages. */
interface Visual {
  frames: readonly RawImage[];
  source: string;
}

interface PlannedVisual extends Visual {
  width: number;
  height: number;
  /** Frame count after padding to a multiple of temporal_patch_size. */
  paddedFrames: number;
}

function plan(visual: Visual, config: PreprocessorConfig, budget: SmartResizeOptions): PlannedVisual {
  const { frames, source } = visual;
  if (frames.length === 0) throw new QwenVLError('INVALID_ARGUMENT', 'has no frames', { source });
  frames.forEach((frame, i) => assertValidImage(frame, frames.length === 1 ? source : `${source}[${i}]`));
  // Hugging Face sizes every frame from the first one.
  const { height, width } = smartResize(frames[0].height, frames[0].width, budget);
  const tp = config.temporalPatchSize;
  return { ...visual, width, height, paddedFrames: Math.ceil(frames.length / tp) * tp };
}

/** Rows [start, start + count) of one frame at its planned size; valid until the next call. */
type BandSource = (start: number, count: number) => RawImage;

/**
 * Frame `index` of the visual as RGB at the planned size, a band of rows at a time: the
 * resized frame is never held whole, and each band is patchified while it is in cache.
 */
function frameBands(visual: PlannedVisual, index: number): BandSource {
  const source = visual.frames.length === 1 ? visual.source : `${visual.source}[${index}]`;
  const rgb = toRgb(visual.frames[index], source);
  const { width, height } = visual;
  const rowSamples = width * 3;
  if (rgb.width === width && rgb.height === height) {
    return (start, count) => ({ width, height: count, channels: 3, data: rgb.data.subarray(start * rowSamples, (start + count) * rowSamples) });
  }
  const resampler = new BicubicResampler(rgb, width, height);
  let band = new Uint8ClampedArray(0);
  return (start, count) => {
    if (band.length < count * rowSamples) band = new Uint8ClampedArray(count * rowSamples);
    resampler.resampleRows(start, start + count, band);
    return { width, height: count, channels: 3, data: new Uint8Array(band.buffer, 0, count * rowSamples) };
  };
}

function encode(visuals: readonly Visual[], config: PreprocessorConfig, options: ResizeOptions): VisionBatch {
  const budget = resizeBudget(config, options);
  const geometry = { patchSize: config.patchSize, temporalPatchSize: config.temporalPatchSize, mergeSize: config.mergeSize };
  const rowSize = patchRowSize(geometry);
  const planned = visuals.map((visual) => plan(visual, config, budget));
  const gridThw = planned.map((v): [number, number, number] => [v.paddedFrames / config.temporalPatchSize, v.height / config.patchSize, v.width / config.patchSize]);
  const patchCount = gridThw.reduce((sum, [t, h, w]) => sum + t * h * w, 0);
  const pixelValues = new Float32Array(patchCount * rowSize);
  const table = normalizationTable(config);
  // One row of merge blocks: the patch rows of a band of this many pixel rows are contiguous.
  const bandRows = config.patchSize * config.mergeSize;

  // One temporal group at a time, so a long video never holds all its resized frames.
  let offset = 0;
  for (const visual of planned) {
    for (let start = 0; start < visual.paddedFrames; start += config.temporalPatchSize) {
      const sources: BandSource[] = [];
      let previous = -1;
      for (let padded = start; padded < start + config.temporalPatchSize; padded++) {
        // Padding repeats the last frame: reuse its resized pixels instead of resizing again.
        const index = Math.min(padded, visual.frames.length - 1);
        sources.push(index === previous ? sources[sources.length - 1] : frameBands(visual, index));
        previous = index;
      }
      for (let row = 0; row < visual.height; row += bandRows) {
        // A repeated frame passes the very same band object, which writePatches copies instead of looking up again.
        const bands: RawImage[] = [];
        sources.forEach((source, i) => bands.push(i > 0 && source === sources[i - 1] ? bands[i - 1] : source(row, bandRows)));
        offset += writePatches(bands, table, geometry, pixelValues, offset) * rowSize;
      }
    }
  }
  return { pixelValues, patchCount, rowSize, gridThw };
}

/**
 * Images → model input. Each image is processed on its own (its own smart_resize) and
 * duplicated into temporal_patch_size identical frames; rows of all images are
 * concatenated in order. An empty list gives an empty batch.
 */
export function processImages(images: readonly RawImage[], config: PreprocessorConfig, options: ResizeOptions = {}): VisionBatch {
  return encode(
    images.map((image, i) => ({ frames: [image], source: `images[${i}]` })),
    config,
    options,
  );
}

function secondsPerGrid(config: PreprocessorConfig, fps: number, source: string): number {
  if (!Number.isFinite(fps) || fps <= 0) {
    throw new QwenVLError('INVALID_ARGUMENT', `must be a positive number, got ${fps}`, { source });
  }
  return config.temporalPatchSize / fps;
}

/**
 * Several videos (each a list of already sampled frames) → one batch, rows concatenated
 * video after video. `fps` is one rate for all videos or one per video.
 */
export function processVideos(
  videos: readonly (readonly RawImage[])[],
  config: PreprocessorConfig,
  options: ResizeOptions & { fps?: number | readonly number[] } = {},
): VisionBatch & { secondPerGridT: number[] } {
  const { fps = DEFAULT_VIDEO_FPS } = options;
  if (typeof fps !== 'number' && fps.length !== videos.length) {
    throw new QwenVLError('INVALID_ARGUMENT', `has ${fps.length} entries for ${videos.length} videos`, { source: 'options.fps' });
  }
  const secondPerGridT = videos.map((_, i) => (typeof fps === 'number' ? secondsPerGrid(config, fps, 'options.fps') : secondsPerGrid(config, fps[i], `options.fps[${i}]`)));
  const batch = encode(
    videos.map((frames, i) => ({ frames, source: `videos[${i}]` })),
    config,
    options,
  );
  return { ...batch, secondPerGridT };
}

/**
 * One video → model input. Frames are padded to a multiple of temporal_patch_size by
 * repeating the last, every frame is resized to the size smart_resize gives for frame 0,
 * and grid_t = frames / temporal_patch_size; second_per_grid_t = temporal_patch_size / fps.
 */
export function processVideo(frames: readonly RawImage[], config: PreprocessorConfig, options: VideoOptions = {}): VisionBatch & { secondPerGridT: number } {
  const { secondPerGridT, ...batch } = processVideos([frames], config, options);
  return { ...batch, secondPerGridT: secondPerGridT[0] };
}
