import { resolveBackend } from '@qwen-vl/core';
import type { ModelConfigs } from '@qwen-vl/core';
import type { BuiltModel, BuiltModelHost } from '../built-model.js';
import { openTextModel, openVisionModel } from '../model-sessions.js';
import type { GraphNaming } from '../model-sessions.js';
import { PromptPreparer } from '../prompt-preparer.js';

/** One model file of a folder, relative to the folder, and the external data files its weights are in. */
export interface ModelFile {
  readonly file: string;
  /** Folder-relative; undefined when the layout does not list them (then `<file>.data`, when there). */
  readonly externalData: readonly string[] | undefined;
  /** Undefined when the graph has qwen-vl's input and output names. */
  readonly naming?: GraphNaming;
}

/** What a layout found in a folder, before any model is opened. */
export interface ModelFiles {
  /** The folder's configs as qwen-vl describes a model (`FolderLayout.configs`), checked against the models where the layout can. */
  readonly configs: ModelConfigs;
  readonly embed: ModelFile;
  readonly decoder: ModelFile;
  /** Undefined when the folder has no vision model (text only). */
  readonly vision: ModelFile | undefined;
}

/**
 * Opens what a layout found in a folder, whatever the layout: the tokenizer and chat
 * template with the layout's preprocessor settings, the text model and, when there is one,
 * the vision encoder. Their graphs may take qwen-vl's inputs or the other runtimes'
 * (`position_ids`, `image_grid_thw`): the decoder session and the vision encoder feed what
 * the graphs ask for.
 */
export async function openModelFiles(host: BuiltModelHost, files: ModelFiles): Promise<BuiltModel> {
  const { model, generation } = files.configs;
  const preparer = await PromptPreparer.fromConfigs(host.folder, files.configs);
  // Every model is read before any session is created: a missing text file fails before a
  // (large) model is loaded, and a host that downloads them knows when downloading is over.
  const read = (file: ModelFile) => host.openModel(file.file, file.externalData);
  const embedSource = await read(files.embed);
  const decoderSource = await read(files.decoder);
  const visionSource = files.vision === undefined ? undefined : await read(files.vision);
  host.onCreatingSessions?.();
  const backend = host.backend ?? (await resolveBackend(host.device));
  const options = { device: host.device, intraOpThreads: host.intraOpThreads, providerOptions: host.providerOptions };
  const decoder = await openTextModel(backend, embedSource, decoderSource, model.text, options, { embed: files.embed.naming, decoder: files.decoder.naming });
  try {
    const vision = visionSource === undefined ? undefined : await openVisionModel(backend, visionSource, model.vision, options, files.vision?.naming);
    return { config: model, generationConfig: generation, preparer, decoder, vision };
  } catch (error) {
    await decoder.dispose();
    throw error;
  }
}
