import { QwenVLError } from '@qwen-vl/core';
import type { ModelFolder, ModelSource } from '@qwen-vl/core';
import { externalDataFile } from '@qwen-vl/decoder';

/**
 * One .onnx of a built model folder as bytes, with its weights file `<file>.data` as external
 * data when the folder has one. Both are fetched through the folder, so they are cached and
 * counted in its progress.
 */
export async function openUrlModel(folder: ModelFolder, file: string): Promise<ModelSource> {
  const dataFile = externalDataFile(file);
  const [hasModel, hasData] = await Promise.all([folder.exists(file), folder.exists(dataFile)]);
  if (!hasModel) {
    throw new QwenVLError('MISSING_FILE', `not found; ${folder.location} is not a complete model folder made by "qwen-vl build"`, { source: `${folder.location}/${file}` });
  }
  const [model, data] = await Promise.all([folder.readBytes(file), hasData ? folder.readBytes(dataFile) : undefined]);
  return { model, externalData: data === undefined ? [] : [{ path: dataFile, data }], name: `${folder.location}/${file}` };
}
