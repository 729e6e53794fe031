import { MODEL_FILES, loadModelConfigs } from '@qwen-vl/core';
import type { BuiltModel, BuiltModelHost } from '../built-model.js';
import { BUILT_MODEL_FILES, MANIFEST_FILE, checkExecutionProvider, checkGraphShape, manifestDataFiles, readBuildManifest } from '../built-model-files.js';
import type { FolderLayout } from './folder-layout.js';
import { openModelFiles } from './model-files.js';

/**
 * A folder made by `qwen-vl build` (the default layout): the Hugging Face configs and
 * tokenizer, `vision.onnx`, `embed.onnx` and `decoder.onnx`, and the `qwen-vl.json` manifest,
 * which is read first: a folder another format version wrote, or one whose decoder was built
 * for an execution provider the device cannot stand in for, is refused before anything else.
 */
async function openQwenVlModel(host: BuiltModelHost): Promise<BuiltModel> {
  const { folder } = host;
  const manifest = await readBuildManifest(folder);
  checkExecutionProvider(manifest, host.device, `${folder.location}/${MANIFEST_FILE}`);
  const configs = await loadModelConfigs(folder);
  checkGraphShape(manifest, configs.model, `${folder.location}/${MODEL_FILES.config}`);
  const file = (name: string) => ({ file: name, externalData: manifestDataFiles(manifest, name) });
  return openModelFiles(host, {
    configs,
    embed: file(BUILT_MODEL_FILES.embed),
    decoder: file(BUILT_MODEL_FILES.decoder),
    vision: (await folder.exists(BUILT_MODEL_FILES.vision)) ? file(BUILT_MODEL_FILES.vision) : undefined,
  });
}

export const QWEN_VL_LAYOUT: FolderLayout = {
  name: 'qwen-vl',
  marker: `${MANIFEST_FILE} (or any folder with ${MODEL_FILES.config}, ${BUILT_MODEL_FILES.embed} and ${BUILT_MODEL_FILES.decoder})`,
  holds: () => Promise.resolve(true),
  configs: loadModelConfigs,
  open: openQwenVlModel,
};
