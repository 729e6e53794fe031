import { readFile, stat } from 'node:fs/promises';
import { QwenVLError } from '@qwen-vl/core';

/**
 * Reads a whole regular file, turning the file system's failures into `MISSING_FILE` errors
 * that name the full path: the caller's user needs the path, not an errno stack. A device,
 * pipe or folder is refused before reading (following links): `/dev/zero` would read forever.
 */
export async function readLocalFile(path: string): Promise<Uint8Array> {
  const info = await stat(path).catch((cause: NodeJS.ErrnoException) => cause);
  if (info instanceof Error) throw new QwenVLError('MISSING_FILE', reasonOf(info), { source: path, cause: info });
  if (!info.isFile()) throw new QwenVLError('MISSING_FILE', info.isDirectory() ? 'is a folder, not a file' : 'is a device, pipe or socket, not a regular file', { source: path });
  try {
    return await readFile(path);
  } catch (cause) {
    throw new QwenVLError('MISSING_FILE', reasonOf(cause as NodeJS.ErrnoException), { source: path, cause });
  }
}

function reasonOf(cause: NodeJS.ErrnoException): string {
  return cause.code === 'ENOENT' || cause.code === 'ENOTDIR' ? 'file does not exist' : `cannot be read (${cause.message})`;
}
