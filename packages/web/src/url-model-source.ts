import { QwenVLError } from '@qwen-vl/core';
import type { ModelFolder, ModelSource } from '@qwen-vl/core';
import { externalDataFile } from '@qwen-vl/pipeline';

/**
 * One .onnx of a built model folder as bytes, with the external data files its weights are
 * in: `dataFiles` as the folder's manifest lists them, or else `<file>.data` when the folder
 * has one. All are fetched through the folder, so they are cached and counted in its
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
  return { model, externalData: names.map((path, i) => ({ path, data: data[i] })), name: `${folder.location}/${file}` };
}
