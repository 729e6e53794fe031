import { QwenVLError, checkOptionNames } from '@qwen-vl/core';
import type { ModelSource } from '@qwen-vl/core';
import { HostedChatModel, VisionLanguageModel } from '@qwen-vl/pipeline';
import type { TransformersJsDtypeChoice } from '@qwen-vl/pipeline';
import { onnxruntimeNodeBackend } from './backend/ort-backend.js';
import { decodeChatImage } from './chat.js';
import type { ImageInput } from './chat.js';
import { requireBuiltFile } from './built-file.js';
import { NodeModelFolder } from './model-folder.js';
import { PreparationThreads } from './preparation-threads.js';

export type { ChatChunk, ChatOptions, ChatResult, ChatStream, ChatTimings } from '@qwen-vl/pipeline';

/** The devices onnxruntime-node can run on (each needs its provider and hardware; cpu always works). */
export type NodeDevice = 'cpu' | 'cuda' | 'dml' | 'webgpu';
export const NODE_DEVICES: readonly NodeDevice[] = ['cpu', 'cuda', 'dml', 'webgpu'];

export interface QwenVLLoadOptions {
  /** Default cpu. An unusable device fails the load with BACKEND_UNAVAILABLE saying what is missing. */
  device?: NodeDevice;
  /** Threads per operator; onnxruntime picks when omitted. */
  intraOpThreads?: number;
  /**
   * For a transformers.js (onnx-community) folder: which of its models to run, by their dtype
   * (`'q4'`, `'fp16'`, ...: the file suffix), for every part or per model name
   * (`{ vision_encoder: 'fp32', decoder_model_merged: 'q4' }`); by default config.json's
   * `transformers.js_config.dtype`, else fp32, else the only one the folder has.
   */
  dtype?: TransformersJsDtypeChoice;
  /**
   * Continuous batching: concurrent calls share the decoder, up to this many generating at
   * once, each joining the running batch at the next step and leaving it when it ends.
   * Without it, calls run one after another (and a call continuing the previous one's
   * conversation reuses its cache).
   */
  maxBatch?: number;
  /**
   * Prepare calls on this many worker threads (decoding images, the chat template, the
   * tokenizer and the image processor), so that with `maxBatch` one call's preparation
   * overlaps the model runs of the others; each thread holds its own tokenizer (about 150 MB).
   * 0 (the default) prepares them on the calling thread.
   */
  prepareThreads?: number;
}

/**
 * A Qwen2.5-VL model folder, loaded on onnxruntime-node, with a chat API (a folder made by
 * `qwen-vl build`, onnxruntime-genai's, or a transformers.js / onnx-community one): the shared `VisionLanguageModel` with files read from disk and images decoded by
 * sharp. Each call runs the whole conversation it is given; calls on one model run one after
 * another, or, loaded with `maxBatch`, together.
 */
export class QwenVL extends HostedChatModel<ImageInput> {
  private constructor(
    /** The model folder. */
    readonly directory: string,
    model: VisionLanguageModel<ImageInput>,
  ) {
    super(model);
  }

  /**
   * Loads a model folder: one written by `qwen-vl build` (vision.onnx, embed.onnx,
   * decoder.onnx, configs, tokenizer), onnxruntime-genai's (genai_config.json and the
   * models it names, as `qwen-vl build --layout genai` or genai's model builder writes them),
   * or a transformers.js one (`onnx/*.onnx`, at `dtype`).
   */
  static async load(directory: string, options: QwenVLLoadOptions = {}): Promise<QwenVL> {
    checkLoadOptions(options);
    const prepareThreads = options.prepareThreads ?? 0;
    const folder = await NodeModelFolder.open(directory);
    // Started once nothing but the model's own loading can fail, which then ends them.
    const chatPreparer = prepareThreads === 0 ? undefined : new PreparationThreads(directory, prepareThreads);
    const model = await VisionLanguageModel.load<ImageInput>(
      {
        folder,
        openModel: async (file) => ({ model: await requireBuiltFile(directory, file) }) satisfies ModelSource,
        decodeImage: decodeChatImage,
        device: options.device ?? 'cpu',
        intraOpThreads: options.intraOpThreads,
        dtype: options.dtype,
        backend: onnxruntimeNodeBackend,
      },
      { maxBatch: options.maxBatch, chatPreparer },
    ).catch(async (error: unknown) => {
      await chatPreparer?.dispose();
      throw error;
    });
    return new QwenVL(directory, model);
  }
}

/** Each preparation thread holds its own tokenizer and image buffers: more than this is a mistake, not a setting (a million would exhaust memory). */
export const MAX_PREPARE_THREADS = 64;

const LOAD_OPTIONS: readonly string[] = ['device', 'intraOpThreads', 'dtype', 'maxBatch', 'prepareThreads'] satisfies (keyof QwenVLLoadOptions)[];

/** Before the folder is read: a misspelt option is refused rather than ignored, and an unknown device named as such (it would otherwise surface as a folder built for another provider). */
function checkLoadOptions(options: unknown): void {
  checkOptionNames(options, LOAD_OPTIONS, 'QwenVL.load options');
  const { device, prepareThreads } = options as QwenVLLoadOptions;
  if (device !== undefined && !NODE_DEVICES.includes(device)) {
    throw new QwenVLError('INVALID_ARGUMENT', `must be one of ${NODE_DEVICES.join(', ')}, got ${JSON.stringify(device)}`, { source: 'QwenVL.load options.device' });
  }
  if (prepareThreads !== undefined && !(Number.isInteger(prepareThreads) && prepareThreads >= 0 && prepareThreads <= MAX_PREPARE_THREADS)) {
    throw new QwenVLError('INVALID_ARGUMENT', `must be an integer from 0 to ${MAX_PREPARE_THREADS}, got ${String(prepareThreads)}`, { source: 'QwenVL.load options.prepareThreads' });
  }
}
