import { QwenVLError } from '@qwen-vl/core';
import type { ModelFolder, ModelSource } from '@qwen-vl/core';
import { externalDataFile } from '@qwen-vl/pipeline';

/**
 * One .onnx of a model folder as bytes, with the external data files its weights are in:
 * `dataFiles` (folder-relative) as the folder's layout lists them, or else `<file>.data` when
 * the folder has one. All are fetched through the folder, so they are cached and counted in its
 * progress.
 */
export async function openUrlModel(folder: ModelFolder, file: string, dataFiles?: readonly string[]): Promise<ModelSource> {
  const fallback = externalDataFile(file);
  const [hasModel, hasFallback] = await Promise.all([folder.exists(file), dataFiles === undefined ? folder.exists(fallback) : false]);
  if (!hasModel) {
    throw new QwenVLError('MISSING_FILE', `not found; ${folder.location} is not a complete model folder made by "qwen-vl build"`, { source: `${folder.location}/${file}` });
  }
  const names = dataFiles ?? (hasFallback ? [fallback] : []);
  const [model, ...data] = await Promise.all([folder.readBytes(file), ...names.map((name) => folder.readBytes(name))]);
  return { model, externalData: names.map((name, i) => ({ path: besideModel(file, name), data: data[i] })), name: `${folder.location}/${file}` };
}

/**
 * A data file's name as the .onnx names it: relative to the model file's own folder (a
 * transformers.js folder's `onnx/decoder_model_merged.onnx` says `decoder_model_merged.onnx_data`).
 */
function besideModel(modelFile: string, dataFile: string): string {
  const folder = modelFile.slice(0, modelFile.lastIndexOf('/') + 1);
  return folder !== '' && dataFile.startsWith(folder) ? dataFile.slice(folder.length) : dataFile;
}
