import { mkdir, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { basename, dirname, join, resolve } from 'node:path';
import { QwenVLError, loadModelConfigs } from '@qwen-vl/core';
import { isStoredTensor } from '../onnx/graph-builder.js';
import type { OnnxModel, TensorBytesSource } from '../onnx/graph-builder.js';
import { DEFAULT_QUANTIZATION, checkWeightPrecision, quantizedBits } from '../graph/graph-weights.js';
import type { WeightSource } from '../graph/graph-weights.js';
import { checkBlockSize } from '../quantize/block-quantize.js';
import { writeOnnxModel } from './write-onnx-model.js';
import { openLocalFolder } from './checkpoint-folder.js';
import { Checkpoint } from '../safetensors/checkpoint.js';
import { ACCURACY_LEVELS, FORMAT_VERSION, MANIFEST_FILE, VISION_PRECISIONS, WEIGHT_PRECISIONS, externalDataFile, graphShape } from '@qwen-vl/pipeline';
import type { AccuracyLevel, BuildManifest, ExecutionProvider, FolderLayoutName, VisionPrecision, WeightPrecision } from '@qwen-vl/pipeline';
import type { BuildSettings, ModelPart } from './model-parts.js';
import { assertOutputWritable, writeFolderAtomically } from './output-folder.js';
import { externalDataFiles, shareWrittenWeights } from './shared-weights.js';
import { buildLayout, layoutExecutionProvider } from './build-layouts.js';
import type { BuildLayout } from './build-layouts.js';
import { REQUIRED_FILES } from './folder-files.js';

export interface BuildProgress {
  /** The part whose weights are being written. */
  part: string;
  /** Weight tensors written so far, over all parts. */
  tensorsWritten: number;
  tensorCount: number;
  bytesWritten: number;
  totalBytes: number;
}

export interface BuildModelOptions {
  /** Storage type of the exported text weights (`WeightPrecision`); default fp32. */
  precision?: WeightPrecision;
  /** The vision tower's (`VisionPrecision`); default fp16 when `precision` is fp16, else fp32. */
  visionPrecision?: VisionPrecision;
  /** Input elements per scale of the quantized weights: 16, 32, 64, 128 or 256 (`BLOCK_SIZES`); default 32. */
  blockSize?: number;
  /** `MatMulNBits`' `accuracy_level` of the quantized weights; default 4. */
  accuracyLevel?: AccuracyLevel;
  /**
   * The onnxruntime execution provider the text decoder is shaped for (`ExecutionProvider`):
   * `cpu` (default) and `cuda` attend with com.microsoft GroupQueryAttention in the form
   * their kernels take, `webgpu` and `dml` with plain ONNX ops. A folder opens only on the
   * devices that run its form (`checkExecutionProvider`). The transformers.js layout, which
   * has no manifest to say so, is built for webgpu or dml only (webgpu by default).
   */
  executionProvider?: ExecutionProvider;
  /**
   * The weights to export instead of the input folder's safetensors, which then need not
   * exist (the benchmarks' generated weights of a full-size model); every tensor of the
   * config's layout must be there, in its shape.
   */
  weights?: WeightSource;
  /** Replace an existing output folder, once the new one is complete. */
  force?: boolean;
  /**
   * The folder's layout (`BUILD_LAYOUTS`): `qwen-vl` (default); `genai`, which
   * onnxruntime-genai opens (its file, graph and input names, genai_config.json); or
   * `transformers.js` (onnx-community's `onnx/` folder, which transformers.js loads).
   */
  layout?: FolderLayoutName;
  /** What to export; default every part of the layout (`BuildLayout.parts`). A layout may give each its own form (`BuildLayout.partForm`). */
  parts?: readonly ModelPart[];
  /** Called after each weight tensor is written. */
  onProgress?: (progress: BuildProgress) => void;
  /** Stops the build; the output folder is then left as it was. */
  signal?: AbortSignal;
}

export interface BuiltModelFolder {
  /** Absolute path of the folder written. */
  output: string;
  /** What was built, its layout included (written as qwen-vl.json unless the layout has no manifest): precisions, execution provider, each part's model and data files. */
  manifest: BuildManifest;
  /** Weight bytes written over all parts. */
  totalBytes: number;
}

const PRODUCER = `@qwen-vl/builder ${(createRequire(import.meta.url)('../../package.json') as { version: string }).version}`;

/**
 * Counts weight bytes as the writer takes them. Every weight is a lazy source (read from the
 * checkpoint when its turn comes), so wrapping the sources sees every tensor go by; the
 * abort signal is honoured between chunks.
 */
class ProgressCounter {
  private tensorsWritten = 0;
  private bytesWritten = 0;

  constructor(
    private readonly tensorCount: number,
    readonly totalBytes: number,
    private readonly onProgress: ((progress: BuildProgress) => void) | undefined,
    private readonly signal: AbortSignal | undefined,
  ) {}

  track(part: string, model: OnnxModel): OnnxModel {
    const initializers = model.initializers.map((init) => (isLazy(init.data) ? { ...init, data: this.counted(part, init.data) } : init));
    return { ...model, initializers };
  }

  private counted(part: string, source: TensorBytesSource): TensorBytesSource {
    const beforeChunk = () => this.checkAborted(part);
    const afterChunk = (bytes: number) => {
      this.bytesWritten += bytes;
    };
    const afterTensor = () => {
      this.tensorsWritten++;
      this.report(part);
    };
    return {
      byteLength: source.byteLength,
      async *chunks() {
        for await (const chunk of source.chunks()) {
          beforeChunk();
          yield chunk;
          afterChunk(chunk.byteLength);
        }
        afterTensor();
      },
    };
  }

  private checkAborted(part: string): void {
    if (this.signal?.aborted === true) throw new QwenVLError('ABORTED', 'the build was stopped before the model was complete', { source: `${part} part` });
  }

  private report(part: string): void {
    this.onProgress?.({ part, tensorsWritten: this.tensorsWritten, tensorCount: this.tensorCount, bytesWritten: this.bytesWritten, totalBytes: this.totalBytes });
  }
}

function isLazy(data: OnnxModel['initializers'][number]['data']): data is TensorBytesSource {
  return !ArrayBuffer.isView(data) && !isStoredTensor(data);
}

/** The build's settings from its options, each checked and named in the error when wrong. */
function buildSettings(options: BuildModelOptions, layout: BuildLayout): BuildSettings {
  const text = options.precision ?? 'fp32';
  checkWeightPrecision(text, 'precision', WEIGHT_PRECISIONS);
  const vision = options.visionPrecision ?? (text === 'fp16' ? 'fp16' : 'fp32');
  checkWeightPrecision(vision, 'visionPrecision', VISION_PRECISIONS);
  const quantization = { blockSize: options.blockSize ?? DEFAULT_QUANTIZATION.blockSize, accuracyLevel: options.accuracyLevel ?? DEFAULT_QUANTIZATION.accuracyLevel };
  checkBlockSize(quantization.blockSize, 'blockSize');
  if (!ACCURACY_LEVELS.includes(quantization.accuracyLevel)) {
    throw new QwenVLError('INVALID_ARGUMENT', `must be one of ${ACCURACY_LEVELS.join(', ')}, got ${JSON.stringify(quantization.accuracyLevel)}`, { source: 'accuracyLevel' });
  }
  return { text, vision, quantization, executionProvider: layoutExecutionProvider(layout, options.executionProvider) };
}

/**
 * Turns a Hugging Face Qwen2.5-VL folder (`input`) into a model folder (`output`) of
 * `options.layout`: one .onnx (+ its external data) per part, the layout's configs and
 * tokenizer files, and (unless the layout has none) the `qwen-vl.json` manifest. Checks
 * everything it can (files, configs, every tensor's shape) before writing; writes into a
 * temporary folder that becomes `output` only when complete.
 */
export async function buildModelFolder(input: string, output: string, options: BuildModelOptions = {}): Promise<BuiltModelFolder> {
  const layout = buildLayout(options.layout ?? 'qwen-vl');
  const settings = buildSettings(options, layout);
  const force = options.force ?? false;
  // resolve('') is the current folder: an unset shell variable must not name it.
  if (output.trim() === '') throw new QwenVLError('INVALID_ARGUMENT', 'is empty; name the folder to create', { source: 'output' });
  if (input.trim() === '') throw new QwenVLError('INVALID_ARGUMENT', 'is empty; name the Hugging Face model folder', { source: 'input' });
  const target = resolve(output);
  const kept = [{ path: input, what: 'the input model folder' }];
  await assertOutputWritable(target, force, kept);
  const folder = await openLocalFolder(input);
  for (const name of REQUIRED_FILES) {
    if (!(await folder.exists(name))) throw new QwenVLError('MISSING_FILE', 'is missing; a built model folder needs it', { source: join(input, name) });
  }
  const configs = await loadModelConfigs(folder);
  const config = configs.model;
  const weights = options.weights ?? (await Checkpoint.open(folder));
  const parts = (options.parts ?? layout.parts).map((part) => layout.partForm?.(part, settings) ?? part);
  const laidOut = parts.map((part) => ({ file: part.file, model: part.build(weights, config, settings) }));
  const shared = (layout.sharesWeights ?? true) ? shareWrittenWeights(laidOut) : laidOut;
  const models = parts.map((part, i) => ({ part, model: shared[i].model }));

  const lazy = models.flatMap(({ model }) => model.initializers.filter((init) => isLazy(init.data)));
  const totalBytes = lazy.reduce((sum, init) => sum + init.byteLength, 0);
  const counter = new ProgressCounter(lazy.length, totalBytes, options.onProgress, options.signal);
  const quantized = quantizedBits(settings.text) !== undefined || quantizedBits(settings.vision) !== undefined;
  const manifest: BuildManifest = {
    format: 'qwen-vl',
    formatVersion: FORMAT_VERSION,
    producer: PRODUCER,
    ...(layout.name === 'qwen-vl' ? {} : { layout: layout.name }),
    precision: settings.text,
    visionPrecision: settings.vision,
    ...(quantized ? { quantization: settings.quantization } : {}),
    executionProvider: settings.executionProvider,
    parts: [],
    graphShape: graphShape(config),
  };
  await writeFolderAtomically(
    target,
    force,
    async (temp) => {
      for (const { part, model } of models) {
        const path = join(temp, part.file);
        await mkdir(dirname(path), { recursive: true });
        const written = await writeOnnxModel(path, counter.track(part.name, model), { dataFile: (layout.dataFile ?? externalDataFile)(basename(path)) });
        manifest.parts.push({ name: part.name, model: part.file, externalData: externalDataFiles(model, written.externalDataPath === undefined ? undefined : basename(written.externalDataPath)) });
      }
      await layout.files.write(temp, { path: input, folder, configs, settings });
      if (layout.writesManifest ?? true) await writeFile(join(temp, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`);
    },
    kept,
  );
  return { output: target, manifest, totalBytes };
}
