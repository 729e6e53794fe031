import { open, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Checkpoint, QwenVLError } from '@qwen-vl/core';
import type { ByteSource, CheckpointFolder } from '@qwen-vl/core';
import { NodeModelFolder } from '../model-folder.js';

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

/** The safetensors weights of a local model folder (single file or sharded). */
export async function openLocalCheckpoint(directory: string): Promise<Checkpoint> {
  const folder = await NodeModelFolder.open(directory);
  const checkpointFolder: CheckpointFolder = {
    location: directory,
    exists: (name) => folder.exists(name),
    readText: (name) => folder.readText(name),
    openBytes: (name) => fileByteSource(join(directory, name)),
  };
  return Checkpoint.open(checkpointFolder);
}
