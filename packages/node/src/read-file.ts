import { readFile } from 'node:fs/promises';
import { QwenVLError } from '@qwen-vl/core';

/**
 * Reads a whole file, turning the file system's failures into `MISSING_FILE` errors that
 * name the full path: the caller's user needs the path, not an errno stack.
 */
export async function readLocalFile(path: string): Promise<Uint8Array> {
  try {
    return await readFile(path);
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' || code === 'ENOTDIR' ? 'file does not exist'
      : code === 'EISDIR' ? 'is a folder, not a file'
      : `cannot be read (${(cause as Error).message})`;
    throw new QwenVLError('MISSING_FILE', reason, { source: path, cause });
  }
}
