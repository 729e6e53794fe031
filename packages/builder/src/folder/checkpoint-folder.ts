import { open, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Checkpoint } from '../safetensors/checkpoint.js';
import { QwenVLError } from '@qwen-vl/core';
import type { ByteSource } from '../safetensors/byte-source.js';
import type { CheckpointFolder } from '../safetensors/checkpoint.js';
import type { ModelFolder } from '@qwen-vl/core';

/**
 * Random access to a local file. Each read opens the file for just that range, so nothing
 * stays open when a build stops half-way, and a multi-gigabyte shard is never read whole.
 */
export async function fileByteSource(path: string): Promise<ByteSource> {
  const info = await stat(path).catch(() => undefined);
  if (info === undefined || !info.isFile()) {
    throw new QwenVLError('MISSING_FILE', info === undefined ? 'file does not exist' : 'is not a file', { source: path });
  }
  return {
    name: path,
    size: info.size,
    async read(offset, length) {
      const handle = await open(path, 'r');
      try {
        const bytes = new Uint8Array(length);
        let filled = 0;
        while (filled < length) {
          const { bytesRead } = await handle.read(bytes, filled, length - filled, offset + filled);
          if (bytesRead === 0) break; // end of file: the reader reports the short read
          filled += bytesRead;
        }
        return bytes.subarray(0, filled);
      } finally {
        await handle.close();
      }
    },
  };
}

/**
 * A local Hugging Face folder as the builder reads it: configs and tokenizer files whole,
 * safetensors shards by range (`openBytes`), so a multi-gigabyte checkpoint is never held.
 */
export type LocalCheckpointFolder = ModelFolder & CheckpointFolder;

/** Opens `directory`, failing with `MISSING_FILE` when it is not a folder. */
export async function openLocalFolder(directory: string): Promise<LocalCheckpointFolder> {
  const info = await stat(directory).catch(() => undefined);
  if (info === undefined || !info.isDirectory()) {
    throw new QwenVLError('MISSING_FILE', info === undefined ? 'model folder does not exist' : 'is not a folder', { source: directory });
  }
  const openBytes = (name: string) => fileByteSource(join(directory, name));
  const readBytes = async (name: string) => {
    const source = await openBytes(name);
    return source.read(0, source.size);
  };
  return {
    location: directory,
    exists: async (name) => (await stat(join(directory, name)).catch(() => undefined))?.isFile() === true,
    openBytes,
    readBytes,
    readText: async (name) => new TextDecoder('utf-8').decode(await readBytes(name)),
  };
}

/** The safetensors weights of a local model folder (single file or sharded). */
export async function openLocalCheckpoint(directory: string): Promise<Checkpoint> {
  return Checkpoint.open(await openLocalFolder(directory));
}
