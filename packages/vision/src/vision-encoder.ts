import { QwenVLError, asFloat32, hostTensor, toBigInt64 } from '@qwen-vl/core';
import type { HostTensor, InferenceSessionHandle, VisionConfig } from '@qwen-vl/core';
import type { Grid } from '@qwen-vl/mrope';
import { QWEN2_VL_GRID_INPUT, VISION_GRID_INPUTS, VISION_INPUTS, VISION_OUTPUT, visionInputNames } from './graph-io.js';
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
 * merged token out, in the order the prompt's image pads expect them. It takes either graph
 * contract: qwen-vl's, fed the index tables of `visionFeeds`, or the one that takes only the
 * pixels and the grids (`VISION_GRID_INPUTS`, onnxruntime-genai's and transformers.js's exports).
 */
export class VisionEncoder {
  private readonly attention: AttentionLayout;
  private readonly patchDim: number;
  /** The grid input's name when the graph computes its own tables; undefined for qwen-vl's contract. */
  private readonly gridInput: string | undefined;

  /** Checks that the session's inputs and output are those of one of the two contracts for `config`. */
  constructor(
    private readonly session: InferenceSessionHandle,
    readonly config: VisionConfig,
    options: VisionEncoderOptions = {},
  ) {
    this.attention = options.attention ?? 'segmented';
    this.patchDim = config.inChannels * config.temporalPatchSize * config.patchSize ** 2;
    this.gridInput = [VISION_GRID_INPUTS.imageGridThw, QWEN2_VL_GRID_INPUT].find((name) => sameNames(session.inputNames, [VISION_GRID_INPUTS.pixelValues, name]));
    const expected = visionInputNames(config, this.attention);
    if ((this.gridInput === undefined && !sameNames(session.inputNames, expected)) || !session.outputNames.includes(VISION_OUTPUT)) {
      throw new QwenVLError(
        'INVALID_MODEL',
        `has inputs [${session.inputNames.join(', ')}] and outputs [${session.outputNames.join(', ')}], but a vision encoder for this config takes [${expected.join(', ')}] (a ${this.attention} qwen-vl export) or [${VISION_GRID_INPUTS.pixelValues}, ${VISION_GRID_INPUTS.imageGridThw}] and gives ${VISION_OUTPUT}`,
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
      ...(this.gridInput === undefined ? visionFeeds(grids, this.config, { attention: this.attention }) : { [this.gridInput]: gridTensor(grids) }),
    };
    // An fp16 export's features are float16; the merge works in float32.
    const output = asFloat32((await this.session.run(feeds, [VISION_OUTPUT]))[VISION_OUTPUT]);
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

function sameNames(names: readonly string[], expected: readonly string[]): boolean {
  return names.length === expected.length && expected.every((name) => names.includes(name));
}

/** int64 `[n, 3]`: each image's `(t, h, w)`, as Hugging Face's `image_grid_thw`. */
function gridTensor(grids: readonly Grid[]): HostTensor<'int64'> {
  return hostTensor('int64', toBigInt64(grids.flat()), [grids.length, 3]);
}
