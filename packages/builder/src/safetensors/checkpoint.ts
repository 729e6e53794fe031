import { QwenVLError } from '@qwen-vl/core';
import type { ModelFolder } from '@qwen-vl/core';
import type { ByteSource } from './byte-source.js';
import { weightsError } from './header.js';
import type { TensorInfo } from './header.js';
import { SafetensorsFile } from './reader.js';
import { canonicalTensorName } from '../checkpoint/layout.js';

/** What a checkpoint needs from a model folder (a ModelFolder's lookups, plus files by range). */
export interface CheckpointFolder extends Pick<ModelFolder, 'exists' | 'readText'>, Partial<Pick<ModelFolder, 'location'>> {
  openBytes(name: string): Promise<ByteSource>;
}

export const CHECKPOINT_FILES = {
  single: 'model.safetensors',
  index: 'model.safetensors.index.json',
} as const;

interface Entry {
  file: SafetensorsFile;
  info: TensorInfo;
}

/**
 * The weights of a model folder, from one `model.safetensors` or from the shards listed in
 * `model.safetensors.index.json`, addressed by canonical tensor name. Opening reads headers
 * only; each read fetches one tensor.
 */
export class Checkpoint {
  private constructor(
    private readonly location: string,
    private readonly entries: ReadonlyMap<string, Entry>,
  ) {}

  static async open(folder: CheckpointFolder): Promise<Checkpoint> {
    const location = folder.location ?? 'checkpoint';
    let files: SafetensorsFile[];
    if (await folder.exists(CHECKPOINT_FILES.index)) {
      files = await openShards(folder, location);
    } else if (await folder.exists(CHECKPOINT_FILES.single)) {
      files = [await SafetensorsFile.open(await folder.openBytes(CHECKPOINT_FILES.single))];
    } else {
      throw new QwenVLError('MISSING_FILE', `has neither ${CHECKPOINT_FILES.single} nor ${CHECKPOINT_FILES.index}`, { source: location });
    }
    const entries = new Map<string, Entry>();
    for (const file of files) {
      for (const info of file.tensors.values()) {
        const name = canonicalTensorName(info.name);
        const existing = entries.get(name);
        if (existing !== undefined) {
          throw weightsError(file.name, `holds the same weight as tensor "${existing.info.name}" in ${existing.file.name} (both are "${name}")`, info.name);
        }
        entries.set(name, { file, info });
      }
    }
    return new Checkpoint(location, entries);
  }

  /** Canonical names of every tensor, in file order. */
  names(): string[] {
    return [...this.entries.keys()];
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  /** Where and how the tensor is stored; `info.name` is the key as written in the file. */
  info(name: string): TensorInfo {
    return this.entry(name).info;
  }

  async readRaw(name: string): Promise<Uint8Array> {
    const { file, info } = this.entry(name);
    return file.readRaw(info.name);
  }

  async readFloat32(name: string): Promise<Float32Array> {
    const { file, info } = this.entry(name);
    return file.readFloat32(info.name);
  }

  private entry(name: string): Entry {
    const entry = this.entries.get(name);
    if (entry === undefined) {
      const files = [...new Set([...this.entries.values()].map((e) => e.file.name))].join(', ');
      throw weightsError(this.location, `is not in the checkpoint (${this.entries.size} tensors in ${files})`, name);
    }
    return entry;
  }
}

/** Reads the index, opens every shard it names and checks each listed tensor is where it says. */
async function openShards(folder: CheckpointFolder, location: string): Promise<SafetensorsFile[]> {
  const indexSource = `${location}/${CHECKPOINT_FILES.index}`;
  const weightMap = parseWeightMap(await folder.readText(CHECKPOINT_FILES.index), indexSource);
  const byShard = new Map<string, SafetensorsFile>();
  for (const shard of new Set(Object.values(weightMap))) {
    if (!(await folder.exists(shard))) {
      throw new QwenVLError('MISSING_FILE', `lists shard "${shard}", which is not in the folder`, { source: indexSource });
    }
    byShard.set(shard, await SafetensorsFile.open(await folder.openBytes(shard)));
  }
  for (const [tensor, shard] of Object.entries(weightMap)) {
    const file = byShard.get(shard) as SafetensorsFile;
    if (!file.tensors.has(tensor)) {
      throw weightsError(file.name, `is listed in ${CHECKPOINT_FILES.index} but missing from this shard`, tensor);
    }
  }
  return [...byShard.values()];
}

function parseWeightMap(text: string, source: string): Record<string, string> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new QwenVLError('INVALID_WEIGHTS', `is not valid JSON (${(cause as Error).message})`, { source, cause });
  }
  const weightMap = (json as { weight_map?: unknown } | null)?.weight_map;
  if (typeof weightMap !== 'object' || weightMap === null || Array.isArray(weightMap)) {
    throw new QwenVLError('INVALID_WEIGHTS', 'must hold a "weight_map" object', { source });
  }
  for (const [tensor, shard] of Object.entries(weightMap)) {
    // Shards sit next to the index; a path would reach outside the model folder.
    if (typeof shard !== 'string' || shard.length === 0 || /[/\\]/.test(shard) || shard === '.' || shard === '..') {
      throw new QwenVLError('INVALID_WEIGHTS', `maps tensor "${tensor}" to ${JSON.stringify(shard)}, which is not a file name in the folder`, { source });
    }
  }
  return weightMap as Record<string, string>;
}
