import { QwenVLError, readJson } from '@qwen-vl/core';
import type { Device, ModelConfig, ModelFolder } from '@qwen-vl/core';
import type { FolderLayoutName } from './folder-layouts/folder-layout.js';

/**
 * The .onnx files of a model folder made by `qwen-vl build`. Each file's large weights sit
 * beside it in `<file>.data`, the external data location written into the model.
 */
export const BUILT_MODEL_FILES = {
  vision: 'vision.onnx',
  embed: 'embed.onnx',
  decoder: 'decoder.onnx',
} as const;

/** The external data file a built model names for its weights. */
export function externalDataFile(modelFile: string): string {
  return `${modelFile}.data`;
}

/**
 * How a folder's text weights are stored. fp32; fp16, half the files, each weight widened by
 * a Cast so that the arithmetic stays float32; int4, the decoder's linear layers as
 * com.microsoft `MatMulNBits` and the embedding table as `GatherBlockQuantized` (4 bits, in
 * blocks along the input dimension; a tied lm_head reads the table's bytes), the rest float32.
 */
export type WeightPrecision = 'fp32' | 'fp16' | 'int4';

export const WEIGHT_PRECISIONS: readonly WeightPrecision[] = ['fp32', 'fp16', 'int4'];

/**
 * How the vision tower's weights are stored: as the text's fp32 and fp16, or with its blocks'
 * and merger's linear layers as `MatMulNBits` of 8 or 4 bits (the patch embedding, norms and
 * biases stay float32).
 */
export type VisionPrecision = 'fp32' | 'fp16' | 'int8' | 'int4';

export const VISION_PRECISIONS: readonly VisionPrecision[] = ['fp32', 'fp16', 'int8', 'int4'];

/** `MatMulNBits`' `accuracy_level`: 0 computes in float32 on the dequantized weights, 4 lets the CPU use int8 arithmetic. */
export type AccuracyLevel = 0 | 1 | 2 | 3 | 4;

export const ACCURACY_LEVELS: readonly AccuracyLevel[] = [0, 1, 2, 3, 4];

/** How the quantized weights of a folder were made, when some are. */
export interface QuantizationSettings {
  /** Consecutive input elements per scale (16, 32, 64, 128 or 256: what MatMulNBits takes). */
  blockSize: number;
  accuracyLevel: AccuracyLevel;
}

/**
 * The execution provider a folder's text decoder is shaped for (`qwen-vl build
 * --execution-provider`). `cpu` and `cuda` attend with one com.microsoft GroupQueryAttention
 * per layer, in the form that provider's kernel takes: float32 with its attention bias on
 * CPU; float16 on CUDA, whose kernel has no float32 and no bias (the graph casts around it).
 * `webgpu` and `dml` attend with plain ONNX ops, which every provider runs alike.
 */
export type ExecutionProvider = 'cpu' | 'cuda' | 'dml' | 'webgpu';

export const EXECUTION_PROVIDERS: readonly ExecutionProvider[] = ['cpu', 'cuda', 'dml', 'webgpu'];

const EVERY_DEVICE: readonly Device[] = ['cpu', 'cuda', 'dml', 'webgpu', 'wasm'];

/**
 * The devices a folder built for each provider opens on. GroupQueryAttention runs on
 * onnxruntime's CPU kernels, which `wasm` is too, in both its forms; a `cpu` build on CUDA
 * would run its float32 attention on the CPU, copying the cache at every step, so it is
 * refused there like on WebGPU (whose kernel is wrong once 32 or more tokens are new) and
 * DirectML: each names the build to make instead.
 */
const OPENS_ON: Readonly<Record<ExecutionProvider, readonly Device[]>> = {
  cpu: ['cpu', 'wasm'],
  cuda: ['cuda', 'cpu', 'wasm'],
  dml: EVERY_DEVICE,
  webgpu: EVERY_DEVICE,
};

/** The build `qwen-vl build --execution-provider` makes for running on `device`. */
function executionProviderFor(device: Device): ExecutionProvider {
  return device === 'wasm' ? 'cpu' : device;
}

/**
 * Fails with `INVALID_MODEL` when the folder's decoder was built for an execution provider
 * whose graph `device` does not run (`OPENS_ON`), naming the manifest field and the
 * `--execution-provider` to rebuild with.
 */
export function checkExecutionProvider(manifest: BuildManifest | undefined, device: Device, manifestPath: string): void {
  if (manifest === undefined || OPENS_ON[manifest.executionProvider].includes(device)) return;
  throw new QwenVLError(
    'INVALID_MODEL',
    `is "${manifest.executionProvider}": the decoder attends with com.microsoft GroupQueryAttention, which qwen-vl does not run on ${device}; rebuild the folder with "qwen-vl build --execution-provider ${executionProviderFor(device)}"`,
    { source: `${manifestPath} field "executionProvider"` },
  );
}

/** The file `qwen-vl build` writes into every model folder it makes. */
export const MANIFEST_FILE = 'qwen-vl.json';

/**
 * Bumped whenever a change to the exported graphs' inputs or files breaks older readers.
 * 2: the decoder takes `rotary_cos` / `rotary_sin` instead of `position_ids` and has no
 * GroupQueryAttention; a model may read weights from another part's external data file.
 * 3: the decoder may attend with GroupQueryAttention, per `executionProvider`, which a
 * reader checks against its device.
 */
export const FORMAT_VERSION = 3;

export interface ManifestPart {
  /** What the part is (`vision`, ...). */
  name: string;
  /** The .onnx file, relative to the folder. */
  model: string;
  /**
   * The external data files its weights are in: its own `<model>.data` (when it has one) and
   * those of earlier parts it shares weights with (a tied lm_head reads embed.onnx.data).
   */
  externalData: string[];
}

/** What a reader needs to know before opening the folder's models. */
export interface BuildManifest {
  format: 'qwen-vl';
  formatVersion: number;
  producer: string;
  /**
   * The layout of the folder's models and configs (`qwen-vl build --layout`); absent for
   * qwen-vl's own. A genai folder's graphs keep onnxruntime-genai's inputs, whatever the
   * format version says of qwen-vl's. (A transformers.js folder gets no qwen-vl.json; the
   * manifest `buildModelFolder` returns for it still names its layout.)
   */
  layout?: FolderLayoutName;
  precision: WeightPrecision;
  /** What the text decoder's graph is shaped for (`ExecutionProvider`). */
  executionProvider: ExecutionProvider;
  /** The vision tower's; absent in folders built before it could differ from `precision`. */
  visionPrecision?: VisionPrecision;
  /** Present when some weights are quantized (int4 or int8). */
  quantization?: QuantizationSettings;
  parts: ManifestPart[];
  /**
   * The config.json values the graphs were built for (`graphShape`), by field name; absent
   * in folders built before it was recorded.
   */
  graphShape?: Record<string, number>;
}

/**
 * The config.json fields that fix the exported graphs' shapes, by their field names, with
 * the values `config` gives them. A folder whose config.json was edited afterwards would
 * run a different model than it describes (or fail deep inside onnxruntime).
 */
export function graphShape(config: ModelConfig): Record<string, number> {
  const { text, vision } = config;
  return {
    num_hidden_layers: text.numHiddenLayers,
    hidden_size: text.hiddenSize,
    intermediate_size: text.intermediateSize,
    num_attention_heads: text.numAttentionHeads,
    num_key_value_heads: text.numKeyValueHeads,
    head_dim: text.headDim,
    vocab_size: text.vocabSize,
    'vision_config.depth': vision.depth,
    'vision_config.hidden_size': vision.hiddenSize,
    'vision_config.intermediate_size': vision.intermediateSize,
    'vision_config.num_heads': vision.numHeads,
    'vision_config.out_hidden_size': vision.outHiddenSize,
    'vision_config.patch_size': vision.patchSize,
    'vision_config.spatial_merge_size': vision.spatialMergeSize,
    'vision_config.temporal_patch_size': vision.temporalPatchSize,
  };
}

/** Fails with `INVALID_MODEL` naming the config.json field whose value is not the one the graphs were built for. */
export function checkGraphShape(manifest: BuildManifest | undefined, config: ModelConfig, configPath: string): void {
  if (manifest?.graphShape === undefined) return;
  const current = graphShape(config);
  for (const [field, built] of Object.entries(manifest.graphShape)) {
    if (field in current && current[field] !== built) {
      throw new QwenVLError('INVALID_MODEL', `is ${current[field]}, but the folder's models were built for ${built}; restore config.json or run "qwen-vl build" again`, {
        source: `${configPath} field "${field}"`,
      });
    }
  }
}

/**
 * The folder's manifest, or undefined for a folder without one (assembled by hand). A
 * manifest of another format version is refused before any model is opened: its graphs
 * would fail later with less helpful errors.
 */
export async function readBuildManifest(folder: ModelFolder): Promise<BuildManifest | undefined> {
  if (!(await folder.exists(MANIFEST_FILE))) return undefined;
  const manifest = (await readJson(folder, MANIFEST_FILE)) as Partial<BuildManifest> | null;
  const version = manifest?.formatVersion;
  if (manifest?.format !== 'qwen-vl' || version !== FORMAT_VERSION) {
    const found = manifest?.format !== 'qwen-vl' ? 'is not a qwen-vl build manifest' : `was written for format version ${JSON.stringify(version)}`;
    throw new QwenVLError('INVALID_MODEL', `${found}; this version of qwen-vl reads format ${FORMAT_VERSION}: run "qwen-vl build" on the checkpoint again`, {
      source: `${folder.location}/${MANIFEST_FILE}`,
    });
  }
  const malformed = (field: string, what: string) =>
    new QwenVLError('INVALID_MODEL', `field "${field}" must be ${what}: run "qwen-vl build" on the checkpoint again`, { source: `${folder.location}/${MANIFEST_FILE}` });
  if (!Array.isArray(manifest.parts)) throw malformed('parts', 'a list of parts');
  if (!EXECUTION_PROVIDERS.includes(manifest.executionProvider as ExecutionProvider)) throw malformed('executionProvider', `one of ${EXECUTION_PROVIDERS.join(', ')}`);
  manifest.parts.forEach((part: Partial<ManifestPart> | null, i) => {
    if (typeof part?.model !== 'string' || !Array.isArray(part.externalData) || part.externalData.some((name) => typeof name !== 'string')) {
      throw malformed(`parts[${i}]`, 'a part with a "model" file name and an "externalData" list of file names');
    }
    // Names are fetched or opened relative to the folder: `../x`, `/etc/x` or
    // `https://other.example/x.bin` would reach outside it.
    if (!isPlainFileName(part.model)) throw malformed(`parts[${i}].model`, `a file name inside the model folder, not ${JSON.stringify(part.model)}`);
    part.externalData.forEach((name, j) => {
      if (!isPlainFileName(name)) throw malformed(`parts[${i}].externalData[${j}]`, `a file name inside the model folder, not ${JSON.stringify(name)}`);
    });
  });
  return manifest as BuildManifest;
}

/** A name of a file directly in the folder: no path separator, no `.`/`..`, no URL scheme. */
export function isPlainFileName(name: string): boolean {
  return name.length > 0 && name !== '.' && name !== '..' && !/[/\\:]/.test(name) && !name.includes('\0');
}

/** The external data files the manifest lists for `modelFile`; undefined without a manifest entry (then `<file>.data` beside it, when there). */
export function manifestDataFiles(manifest: BuildManifest | undefined, modelFile: string): readonly string[] | undefined {
  return manifest?.parts.find((part) => part.model === modelFile)?.externalData;
}
