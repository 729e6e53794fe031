import { MODEL_FILES, loadModelConfigs, resolveBackend } from '@qwen-vl/core';
import type { ModelConfig } from '@qwen-vl/core';
import { QwenVLProcessor } from '@qwen-vl/preprocess';
import type { BuiltModel, BuiltModelHost } from '../built-model.js';
import { openTextModel, openVisionModel } from '../model-sessions.js';
import { PromptPreparer } from '../prompt-preparer.js';

/** One model file of a folder, relative to the folder, and the external data files its weights are in. */
export interface ModelFile {
  readonly file: string;
  /** Folder-relative; undefined when the layout does not list them (then `<file>.data`, when there). */
  readonly externalData: readonly string[] | undefined;
}

/** The model files a layout found in a folder, before any is opened. */
export interface ModelFiles {
  readonly embed: ModelFile;
  readonly decoder: ModelFile;
  /** Undefined when the folder has no vision model (text only). */
  readonly vision: ModelFile | undefined;
  /** Refuses configs the models were not made for, naming the field (qwen-vl's manifest records them). */
  checkConfig?(config: ModelConfig, configPath: string): void;
}

/**
 * Opens the folder's Hugging Face configs and tokenizer and the model `files` a layout found:
 * the text model and, when there is one, the vision encoder. Their graphs may take qwen-vl's
 * inputs or the other runtimes' (`position_ids`, `image_grid_thw`): the decoder session and
 * the vision encoder feed what the graphs ask for.
 */
export async function openModelFiles(host: BuiltModelHost, files: ModelFiles): Promise<BuiltModel> {
  const { folder } = host;
  const { model, generation } = await loadModelConfigs(folder);
  files.checkConfig?.(model, `${folder.location}/${MODEL_FILES.config}`);
  const preparer = new PromptPreparer(await QwenVLProcessor.fromFolder(folder), model);
  // Every model is read before any session is created: a missing text file fails before a
  // (large) model is loaded, and a host that downloads them knows when downloading is over.
  const embedSource = await host.openModel(files.embed.file, files.embed.externalData);
  const decoderSource = await host.openModel(files.decoder.file, files.decoder.externalData);
  const visionSource = files.vision === undefined ? undefined : await host.openModel(files.vision.file, files.vision.externalData);
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
