import { createWriteStream } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { externalTensorPlacements, streamModel } from '../onnx/serialize.js';
import { externalDataFile } from '@qwen-vl/pipeline';
import type { OnnxModel, StoredTensor } from '../onnx/graph-builder.js';

export interface WriteOnnxModelOptions {
  /** Initializers of at least this many bytes go to the external data file (default 1024). */
  readonly threshold?: number;
  /** Alignment of each tensor in the external data file (default 4096). */
  readonly alignment?: number;
  /** Name of the external data file beside the model (default `<file name>.data`). */
  readonly dataFile?: string;
}

export interface WrittenOnnxModel {
  readonly modelPath: string;
  /** The external data file next to the model; absent when no initializer went external. */
  readonly externalDataPath?: string;
  readonly externalDataByteLength: number;
}

/**
 * Writes `model` to `path` with its large initializers in `<file name>.data` (or `dataFile`)
 * beside it, the layout onnxruntime finds on its own. External data is streamed to disk as it is produced,
 * so peak memory is one source chunk, not the model.
 */
export async function writeOnnxModel(path: string, model: OnnxModel, options: WriteOnnxModelOptions = {}): Promise<WrittenOnnxModel> {
  const { dataFile, ...layout } = options;
  const location = dataFile ?? externalDataFile(basename(path));
  const streamed = await streamModel(model, { externalData: { location, ...layout } });
  await writeFile(path, streamed.model);
  if (streamed.externalDataByteLength === 0) return { modelPath: path, externalDataByteLength: 0 };
  const externalDataPath = join(dirname(path), location);
  await pipeline(Readable.from(streamed.externalData, { objectMode: false }), createWriteStream(externalDataPath));
  return { modelPath: path, externalDataPath, externalDataByteLength: streamed.externalDataByteLength };
}

/** Where `writeOnnxModel(path, model, options)` puts each weight it writes to its external data file, before writing anything. */
export function plannedExternalWeights(path: string, model: OnnxModel, options: WriteOnnxModelOptions = {}): Map<string, StoredTensor> {
  const { dataFile, ...layout } = options;
  return externalTensorPlacements(model, { externalData: { location: dataFile ?? externalDataFile(basename(path)), ...layout } });
}
