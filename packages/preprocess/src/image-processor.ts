import { QwenVLError, pixelBudgetProblem } from '@qwen-vl/core';
import type { PreprocessorConfig } from '@qwen-vl/core';
import { assertValidImage, toRgb } from './image.js';
import type { RawImage } from './image.js';
import { normalizationTable, patchRowSize, writePatches } from './patchify.js';
import { BicubicResampler } from './resize-bicubic.js';
import { ScratchBytes } from './scratch.js';
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

export interface ProcessImagesOptions extends ResizeOptions {
  /**
   * Writes pixel_values here instead of into a new array: a caller that keeps a few of
   * these and hands them out again once their batch is consumed spares every call the
   * first-touch page faults of a fresh multi-megabyte array. It must hold at least
   * `patchCount × rowSize` floats (`imageBatchShape` says how many); the returned
   * `pixelValues` is its first `patchCount × rowSize` floats, every one of them written.
   */
  output?: Float32Array;
}

/** What a VisionBatch is, without its values. */
export type VisionBatchShape = Omit<VisionBatch, 'pixelValues'>;

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
 * Work buffers for frame i of a temporal patch: the band of resized rows it hands to
 * writePatches and the horizontally resampled rows behind it. Kept for the life of the
 * module (they grow to the widest image seen, a few hundred kilobytes for a 4000-pixel-wide
 * one), since every call needs the same ones again.
 */
const bandScratch: ScratchBytes[] = [];
const intermediateScratch: ScratchBytes[] = [];

function scratchOf(list: ScratchBytes[], slot: number): ScratchBytes {
  return (list[slot] ??= new ScratchBytes());
}

/**
 * Frame `index` of the visual as RGB at the planned size, a band of rows at a time, using
 * the work buffers of `slot`: the resized frame is never held whole, and each band is
 * patchified while it is in cache. RGB already at its size is read in place; RGBA goes to
 * the resampler as it is, which skips the alpha; only gray is expanded to RGB first.
 */
function frameBands(visual: PlannedVisual, index: number, slot: number): BandSource {
  const source = visual.frames.length === 1 ? visual.source : `${visual.source}[${index}]`;
  const frame = visual.frames[index];
  const image = frame.channels === 3 || frame.channels === 4 ? frame : toRgb(frame, source);
  const { width, height } = visual;
  const rowSamples = width * 3;
  if (image.channels === 3 && image.width === width && image.height === height) {
    return (start, count) => ({ width, height: count, channels: 3, data: image.data.subarray(start * rowSamples, (start + count) * rowSamples) });
  }
  const resampler = new BicubicResampler(image, width, height, scratchOf(intermediateScratch, slot));
  const band = scratchOf(bandScratch, slot);
  return (start, count) => {
    const bytes = band.take(count * rowSamples);
    resampler.resampleRows(start, start + count, bytes);
    return { width, height: count, channels: 3, data: new Uint8Array(bytes.buffer, bytes.byteOffset, count * rowSamples) };
  };
}

function shapeOf(planned: readonly PlannedVisual[], config: PreprocessorConfig): VisionBatchShape {
  const rowSize = patchRowSize(config);
  const gridThw = planned.map((v): [number, number, number] => [v.paddedFrames / config.temporalPatchSize, v.height / config.patchSize, v.width / config.patchSize]);
  const patchCount = gridThw.reduce((sum, [t, h, w]) => sum + t * h * w, 0);
  return { patchCount, rowSize, gridThw };
}

/** The caller's `output`, cut to `length` floats, or a new array when there is none. */
function outputArray(output: Float32Array | undefined, shape: VisionBatchShape): Float32Array {
  const length = shape.patchCount * shape.rowSize;
  if (output === undefined) return new Float32Array(length);
  if (!(output instanceof Float32Array)) {
    throw new QwenVLError('INVALID_ARGUMENT', 'must be a Float32Array', { source: 'options.output' });
  }
  if (output.length < length) {
    throw new QwenVLError('INVALID_ARGUMENT', `holds ${output.length} floats, the batch needs ${length} (${shape.patchCount} patches × ${shape.rowSize})`, { source: 'options.output' });
  }
  return output.length === length ? output : output.subarray(0, length);
}

function encode(visuals: readonly Visual[], config: PreprocessorConfig, options: ResizeOptions, output?: Float32Array): VisionBatch {
  const budget = resizeBudget(config, options);
  const planned = visuals.map((visual) => plan(visual, config, budget));
  const shape = shapeOf(planned, config);
  const pixelValues = outputArray(output, shape);
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
        sources.push(index === previous ? sources[sources.length - 1] : frameBands(visual, index, padded - start));
        previous = index;
      }
      for (let row = 0; row < visual.height; row += bandRows) {
        // A repeated frame passes the very same band object, which writePatches stores twice instead of looking up again.
        const bands: RawImage[] = [];
        sources.forEach((source, i) => bands.push(i > 0 && source === sources[i - 1] ? bands[i - 1] : source(row, bandRows)));
        offset += writePatches(bands, table, config, pixelValues, offset) * shape.rowSize;
      }
    }
  }
  return { pixelValues, ...shape };
}

/**
 * Images → model input. Each image is processed on its own (its own smart_resize) and
 * duplicated into temporal_patch_size identical frames; rows of all images are
 * concatenated in order. An empty list gives an empty batch.
 */
export function processImages(images: readonly RawImage[], config: PreprocessorConfig, options: ProcessImagesOptions = {}): VisionBatch {
  return encode(stills(images), config, options, options.output);
}

/** The patch count, row size and grids `processImages` gives these images, without processing them: the size `options.output` needs. */
export function imageBatchShape(images: readonly RawImage[], config: PreprocessorConfig, options: ResizeOptions = {}): VisionBatchShape {
  const budget = resizeBudget(config, options);
  return shapeOf(
    stills(images).map((visual) => plan(visual, config, budget)),
    config,
  );
}

function stills(images: readonly RawImage[]): Visual[] {
  return images.map((image, i) => ({ frames: [image], source: `images[${i}]` }));
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
