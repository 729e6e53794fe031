import { isStoredTensor } from '../onnx/graph-builder.js';
import type { OnnxInitializer, OnnxModel, StoredTensor } from '../onnx/graph-builder.js';
import { plannedExternalWeights } from './write-onnx-model.js';

/** One model of a folder, by the file it is written to. */
export interface FolderModel {
  readonly file: string;
  readonly model: OnnxModel;
}

/**
 * The folder's models, in writing order, with each weight that an earlier model already
 * writes to its external data replaced by a reference there (`StoredTensor`). A tied
 * checkpoint's embedding table is both embed.onnx's table and decoder.onnx's lm_head: it is
 * then stored once, in embed.onnx.data (1.24 GB of float32 for Qwen2.5-VL-3B). Weights match
 * by name, type and size: in one folder a name is one checkpoint tensor, converted alike,
 * though two models may view it in different shapes (an int4 table is `[vocab, bytes]` to
 * GatherBlockQuantized and `[vocab, blocks, blockBytes]` to MatMulNBits).
 */
export function shareWrittenWeights(models: readonly FolderModel[]): FolderModel[] {
  const written = new Map<string, { readonly init: OnnxInitializer; readonly stored: StoredTensor }>();
  return models.map(({ file, model }) => {
    const initializers = model.initializers.map((init) => {
      const earlier = written.get(init.name);
      return earlier !== undefined && sameTensor(earlier.init, init) ? { ...init, data: earlier.stored } : init;
    });
    const sharing = { ...model, initializers };
    const planned = plannedExternalWeights(file, sharing);
    for (const init of initializers) {
      const stored = planned.get(init.name);
      if (stored !== undefined && !written.has(init.name)) written.set(init.name, { init, stored });
    }
    return { file, model: sharing };
  });
}

/** The external data files `model` reads: its own and those of the models it shares weights with. */
export function externalDataFiles(model: OnnxModel, own: string | undefined): string[] {
  const shared = model.initializers.flatMap((init) => (isStoredTensor(init.data) ? [init.data.location] : []));
  return [...new Set([...(own === undefined ? [] : [own]), ...shared])];
}

function sameTensor(a: OnnxInitializer, b: OnnxInitializer): boolean {
  return a.type === b.type && a.byteLength === b.byteLength;
}
