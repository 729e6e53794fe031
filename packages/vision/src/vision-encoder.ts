import { QwenVLError, hostTensor, toBigInt64 } from '@qwen-vl/core';
import type { HostTensor, InferenceSessionHandle, VisionConfig } from '@qwen-vl/core';
import type { Grid } from '@qwen-vl/mrope';
import { VISION_GRID_INPUTS, VISION_INPUTS, VISION_OUTPUT, visionInputNames } from './graph-io.js';
import type { AttentionLayout } from './graph-io.js';
import { visionFeeds } from './vision-inputs.js';

export interface VisionEncoderOptions {
  /** The layout the model was exported with (default `segmented`). */
  attention?: AttentionLayout;
}

export interface VisionFeatures {
  /** `[tokens, outHiddenSize]` row-major: image after image, each t-major then merged rows then columns. */
  features: Float32Array;
  dims: [tokens: number, outHiddenSize: number];
}

function sameNames(names: readonly string[], expected: readonly string[]): boolean {
  return expected.length === names.length && expected.every((name) => names.includes(name));
}

/**
 * Runs an exported vision tower: pixel rows of any number of images in, one feature row per
 * merged token out, in the order the prompt's image pads expect them.
 */
export class VisionEncoder {
  private readonly attention: AttentionLayout;
  private readonly patchDim: number;
  /** Whether the graph takes the grids (`VISION_GRID_INPUTS`) rather than the host's tables (`visionFeeds`). */
  private readonly takesGrids: boolean;

  /**
   * Checks that the session's inputs and output are the ones `buildVisionGraph` gives
   * `config`, or the grid form (`VISION_GRID_INPUTS`) of the other runtimes' exports.
   */
  constructor(
    private readonly session: InferenceSessionHandle,
    readonly config: VisionConfig,
    options: VisionEncoderOptions = {},
  ) {
    this.attention = options.attention ?? 'segmented';
    this.patchDim = config.inChannels * config.temporalPatchSize * config.patchSize ** 2;
    const expected = visionInputNames(config, this.attention);
    this.takesGrids = sameNames(session.inputNames, Object.values(VISION_GRID_INPUTS));
    if (!(this.takesGrids || sameNames(session.inputNames, expected)) || !session.outputNames.includes(VISION_OUTPUT)) {
      throw new QwenVLError(
        'INVALID_MODEL',
        `has inputs [${session.inputNames.join(', ')}] and outputs [${session.outputNames.join(', ')}], but a ${this.attention} vision encoder for this config takes [${expected.join(', ')}] (or [${Object.values(VISION_GRID_INPUTS).join(', ')}]) and gives ${VISION_OUTPUT}`,
        { source: 'vision model' },
      );
    }
  }

  /**
   * `pixelValues` holds the rows of every image of `grids` back to back (`[N, C·T·P·P]`, as
   * the image processor makes them). All images go through one run.
   */
  async encode(pixelValues: Float32Array, grids: readonly Grid[]): Promise<VisionFeatures> {
    const patches = grids.reduce((sum, [t, h, w]) => sum + t * h * w, 0);
    if (pixelValues.length !== patches * this.patchDim) {
      const shapes = grids.map((grid) => `[${grid.join(', ')}]`).join(', ');
      throw new QwenVLError('INVALID_ARGUMENT', `holds ${pixelValues.length} values, but grids ${shapes || '(none)'} need ${patches} rows of ${this.patchDim}`, { source: 'pixelValues' });
    }
    const outHidden = this.config.outHiddenSize;
    if (patches === 0) return { features: new Float32Array(0), dims: [0, outHidden] };
    const feeds = {
      [VISION_INPUTS.pixelValues]: hostTensor('float32', pixelValues, [patches, this.patchDim]),
      ...(this.takesGrids ? gridFeeds(grids) : visionFeeds(grids, this.config, { attention: this.attention })),
    };
    const output = (await this.session.run(feeds, [VISION_OUTPUT]))[VISION_OUTPUT];
    const tokens = patches / this.config.spatialMergeSize ** 2;
    if (output.type !== 'float32' || output.dims.length !== 2 || output.dims[0] !== tokens || output.dims[1] !== outHidden) {
      throw new QwenVLError('INVALID_MODEL', `returned ${output.type} [${output.dims.join(', ')}], expected float32 [${tokens}, ${outHidden}]`, { source: `vision model output "${VISION_OUTPUT}"` });
    }
    return { features: output.data as Float32Array, dims: [tokens, outHidden] };
  }

  dispose(): Promise<void> {
    return this.session.dispose();
  }
}

/** `image_grid_thw` int64 `[images, 3]`, for a graph that works out its tables itself. */
function gridFeeds(grids: readonly Grid[]): Record<string, HostTensor> {
  return { [VISION_GRID_INPUTS.imageGridThw]: hostTensor('int64', toBigInt64(grids.flat()), [grids.length, 3]) };
}
