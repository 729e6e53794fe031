import { QwenVLError, hostTensor } from '@qwen-vl/core';
import type { InferenceSessionHandle, VisionConfig } from '@qwen-vl/core';
import type { Grid } from '@qwen-vl/mrope';
import { VISION_INPUTS, VISION_OUTPUT, visionInputNames } from './graph-io.js';
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

/**
 * Runs an exported vision tower: pixel rows of any number of images in, one feature row per
 * merged token out, in the order the prompt's image pads expect them.
 */
export class VisionEncoder {
  private readonly attention: AttentionLayout;
  private readonly patchDim: number;

  /** Checks that the session's inputs and output are the ones `buildVisionGraph` gives `config`. */
  constructor(
    private readonly session: InferenceSessionHandle,
    readonly config: VisionConfig,
    options: VisionEncoderOptions = {},
  ) {
    this.attention = options.attention ?? 'segmented';
    this.patchDim = config.inChannels * config.temporalPatchSize * config.patchSize ** 2;
    const expected = visionInputNames(config, this.attention);
    const same = expected.length === session.inputNames.length && expected.every((name) => session.inputNames.includes(name));
    if (!same || !session.outputNames.includes(VISION_OUTPUT)) {
      throw new QwenVLError(
        'INVALID_MODEL',
        `has inputs [${session.inputNames.join(', ')}] and outputs [${session.outputNames.join(', ')}], but a ${this.attention} vision encoder for this config takes [${expected.join(', ')}] and gives ${VISION_OUTPUT}`,
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
      ...visionFeeds(grids, this.config, { attention: this.attention }),
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
