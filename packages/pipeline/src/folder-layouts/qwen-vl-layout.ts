import { MODEL_FILES, loadModelConfigs, resolveBackend } from '@qwen-vl/core';
import { QwenVLProcessor } from '@qwen-vl/preprocess';
import type { BuiltModel, BuiltModelHost } from '../built-model.js';
import { BUILT_MODEL_FILES, MANIFEST_FILE, checkGraphShape, manifestDataFiles, readBuildManifest } from '../built-model-files.js';
import { openTextModel, openVisionModel } from '../model-sessions.js';
import { PromptPreparer } from '../prompt-preparer.js';
import type { FolderLayout } from './folder-layout.js';

/**
 * A folder made by `qwen-vl build` (the default layout): the Hugging Face configs and
 * tokenizer, `vision.onnx`, `embed.onnx` and `decoder.onnx`, and the `qwen-vl.json` manifest.
 * Loads the configs and tokenizer, then the text model and, when the folder has one, the
 * vision encoder.
 */
async function openQwenVlModel(host: BuiltModelHost): Promise<BuiltModel> {
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

export const QWEN_VL_LAYOUT: FolderLayout = {
  name: 'qwen-vl',
  marker: `${MANIFEST_FILE} (or any folder with ${MODEL_FILES.config}, ${BUILT_MODEL_FILES.embed} and ${BUILT_MODEL_FILES.decoder})`,
  holds: () => Promise.resolve(true),
  configs: loadModelConfigs,
  open: openQwenVlModel,
};
