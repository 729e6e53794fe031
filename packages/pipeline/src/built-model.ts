import { MODEL_FILES, QwenVLError, hostTensor, loadModelConfigs, resolveBackend } from '@qwen-vl/core';
import type { Backend, Device, GenerationConfig, HostTensor, ModelConfig, ModelFolder, ModelSource } from '@qwen-vl/core';
import type { DecoderSession } from '@qwen-vl/decoder';
import { QwenVLProcessor } from '@qwen-vl/preprocess';
import type { VisionEncoder } from '@qwen-vl/vision';
import { BUILT_MODEL_FILES, checkGraphShape, manifestDataFiles, readBuildManifest } from './built-model-files.js';
import { openTextModel, openVisionModel } from './model-sessions.js';
import { PromptPreparer } from './prompt-preparer.js';

/** What a host (Node, the browser) supplies to open a built model folder. */
export interface BuiltModelHost {
  /** The built folder: configs, tokenizer, and the .onnx files `openModel` reads. */
  readonly folder: ModelFolder;
  /**
   * The runtime source of one of the folder's .onnx files (BUILT_MODEL_FILES): a path, or
   * the bytes with their external data, which are in `externalData` as the folder's manifest
   * lists them (undefined without a manifest: `<file>.data`, when there). Throws
   * MISSING_FILE when the file is absent.
   */
  openModel(file: string, externalData: readonly string[] | undefined): Promise<ModelSource>;
  readonly device: Device;
  readonly intraOpThreads?: number;
  /** Settings of the device's execution provider (`SessionOptions.providerOptions`). */
  readonly providerOptions?: Readonly<Record<string, string>>;
  /** The backend to run on; by default the registered one `resolveBackend(device)` picks. */
  readonly backend?: Backend;
  /**
   * Called once `openModel` has given every model, before the runtime sessions are made from
   * them (which can take seconds, with nothing left to read).
   */
  readonly onCreatingSessions?: () => void;
}

/** A built model folder, opened: its configs, the input side, and the runtime sessions. */
export interface BuiltModel {
  /** config.json, parsed. */
  readonly config: ModelConfig;
  /** generation_config.json, parsed: the defaults of every search option. */
  readonly generationConfig: GenerationConfig;
  readonly preparer: PromptPreparer;
  /** The text model (embed.onnx and decoder.onnx), which holds one KV cache. */
  readonly decoder: DecoderSession;
  /** vision.onnx; undefined when the folder has none (text only). */
  readonly vision: VisionEncoder | undefined;
}

/**
 * Loads the configs and tokenizer, then the text model and, when the folder has one, the
 * vision encoder: what the chat pipeline and the step-wise (genai) API both run on.
 */
export async function openBuiltModel(host: BuiltModelHost): Promise<BuiltModel> {
  const { folder } = host;
  const manifest = await readBuildManifest(folder);
  const openModel = (file: string) => host.openModel(file, manifestDataFiles(manifest, file));
  const { model, generation } = await loadModelConfigs(folder);
  checkGraphShape(manifest, model, `${folder.location}/${MODEL_FILES.config}`);
  const preparer = new PromptPreparer(await QwenVLProcessor.fromFolder(folder), model);
  // Every model is read before any session is created: a missing text file fails before a
  // (large) model is loaded, and a host that downloads them knows when downloading is over.
  const embedSource = await openModel(BUILT_MODEL_FILES.embed);
  const decoderSource = await openModel(BUILT_MODEL_FILES.decoder);
  const visionSource = (await folder.exists(BUILT_MODEL_FILES.vision)) ? await openModel(BUILT_MODEL_FILES.vision) : undefined;
  host.onCreatingSessions?.();
  const backend = host.backend ?? (await resolveBackend(host.device));
  const options = { device: host.device, intraOpThreads: host.intraOpThreads, providerOptions: host.providerOptions };
  const decoder = await openTextModel(backend, embedSource, decoderSource, model.text, options);
  try {
    const vision = visionSource === undefined ? undefined : await openVisionModel(backend, visionSource, model.vision, options);
    return { config: model, generationConfig: generation, preparer, decoder, vision };
  } catch (error) {
    await decoder.dispose();
    throw error;
  }
}

/**
 * Vision features `[tokens, hidden]` of the patch rows of `grids` (images, or videos); undefined
 * for no grid. A folder without vision.onnx (`vision` undefined) fails with MISSING_FILE naming it.
 */
export async function encodeVision(
  vision: VisionEncoder | undefined,
  folder: ModelFolder,
  pixelValues: Float32Array,
  grids: readonly (readonly [number, number, number])[],
): Promise<HostTensor<'float32'> | undefined> {
  if (grids.length === 0) return undefined;
  if (vision === undefined) {
    throw new QwenVLError('MISSING_FILE', 'not found, and the conversation has images or videos; rebuild the folder with "qwen-vl build"', {
      source: `${folder.location}/${BUILT_MODEL_FILES.vision}`,
    });
  }
  const { features, dims } = await vision.encode(pixelValues, grids);
  return hostTensor('float32', features, dims);
}
