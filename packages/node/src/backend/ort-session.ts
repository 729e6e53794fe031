import { stat } from 'node:fs/promises';
import { QwenVLError } from '@qwen-vl/core';
import type { HostTensor, InferenceSessionHandle, ModelSource, SessionOptions } from '@qwen-vl/core';
import { InferenceSession } from 'onnxruntime-node';
import type { Tensor } from 'onnxruntime-node';
import { readLocalFile } from '../read-file.js';
import { fromOrtTensor, toOrtTensor } from './tensor-conversion.js';

/** An onnxruntime-node session behind the core session contract. */
export class OrtSessionHandle implements InferenceSessionHandle {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];

  private constructor(
    private readonly session: InferenceSession,
    private readonly modelName: string,
  ) {
    this.inputNames = session.inputNames;
    this.outputNames = session.outputNames;
  }

  /**
   * Opens `source` with one execution provider. A path model finds its external data next
   * to it; bytes need theirs in `source.externalData` (given as bytes, or paths read here,
   * since onnxruntime-node takes external data only as buffers).
   */
  static async open(source: ModelSource, options: SessionOptions, executionProvider: string): Promise<OrtSessionHandle> {
    const modelName = source.name ?? (typeof source.model === 'string' ? source.model : 'model bytes');
    if (typeof source.model === 'string') await requireFile(source.model);
    const externalData = await Promise.all(
      (source.externalData ?? []).map(async (file) => ({ path: file.path, data: typeof file.data === 'string' ? await readLocalFile(file.data) : file.data })),
    );
    const ortOptions: InferenceSession.SessionOptions = {
      executionProviders: [executionProvider],
      ...(options.intraOpThreads !== undefined && { intraOpNumThreads: options.intraOpThreads }),
      ...(options.graphOptimization !== undefined && { graphOptimizationLevel: options.graphOptimization }),
      ...(externalData.length > 0 && { externalData }),
    };
    try {
      const session = typeof source.model === 'string' ? await InferenceSession.create(source.model, ortOptions) : await InferenceSession.create(source.model, ortOptions);
      return new OrtSessionHandle(session, modelName);
    } catch (cause) {
      throw loadError(cause, modelName);
    }
  }

  async run(feeds: Readonly<Record<string, HostTensor>>, fetches: readonly string[] = this.outputNames): Promise<Record<string, HostTensor>> {
    this.checkNames(Object.keys(feeds), this.inputNames, 'feeds');
    this.checkNames(fetches, this.outputNames, 'fetches');
    const missing = this.inputNames.filter((name) => feeds[name] === undefined);
    if (missing.length > 0) {
      throw new QwenVLError('INVALID_ARGUMENT', `feeds lack input(s) ${missing.join(', ')}`, { source: this.modelName });
    }
    const ortFeeds: Record<string, Tensor> = {};
    for (const [name, tensor] of Object.entries(feeds)) ortFeeds[name] = toOrtTensor(tensor);
    let results: InferenceSession.ReturnType;
    try {
      results = await this.session.run(ortFeeds, [...fetches]);
    } catch (cause) {
      throw new QwenVLError('INVALID_ARGUMENT', `onnxruntime failed to run: ${(cause as Error).message}`, { source: this.modelName, cause });
    }
    const out: Record<string, HostTensor> = {};
    for (const name of fetches) out[name] = fromOrtTensor(results[name] as Tensor, `${this.modelName} output "${name}"`);
    return out;
  }

  dispose(): Promise<void> {
    return this.session.release();
  }

  private checkNames(names: readonly string[], known: readonly string[], what: string): void {
    const unknown = names.filter((name) => !known.includes(name));
    if (unknown.length > 0) {
      throw new QwenVLError('INVALID_ARGUMENT', `${what} name(s) ${unknown.join(', ')} are not in the model (it has ${known.join(', ')})`, { source: this.modelName });
    }
  }
}

async function requireFile(path: string): Promise<void> {
  const info = await stat(path).catch(() => undefined);
  if (info === undefined || !info.isFile()) {
    throw new QwenVLError('MISSING_FILE', info === undefined ? 'model file does not exist' : 'is not a file', { source: path });
  }
}

/** onnxruntime reports load failures as plain errors; the missing-external-data case is a missing file, anything else a bad model. */
function loadError(cause: unknown, modelName: string): QwenVLError {
  const message = (cause as Error).message;
  if (/External data path[\s\S]*does not exist/.test(message)) {
    return new QwenVLError('MISSING_FILE', `an external data file is missing (${message})`, { source: modelName, cause });
  }
  return new QwenVLError('INVALID_MODEL', `onnxruntime cannot load it: ${message}`, { source: modelName, cause });
}
