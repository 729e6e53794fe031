import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ModelFolder } from '@qwen-vl/core';

/**
 * A ModelFolder over a directory on disk. `overrides` replaces a file's text, or hides the
 * file when set to null, so error paths can be tested without writing fixture folders.
 */
export function fsModelFolder(dir: string, overrides: Record<string, string | null> = {}): ModelFolder {
  const location = dir.replace(/\/$/, '');
  const filePath = (name: string) => join(location, name);
  const exists = (name: string) => (name in overrides ? overrides[name] !== null : existsSync(filePath(name)));
  const readBytes = async (name: string): Promise<Uint8Array> => {
    const override = overrides[name];
    if (override !== undefined && override !== null) return new TextEncoder().encode(override);
    if (!exists(name)) throw new Error(`${location}/${name} does not exist`);
    return readFileSync(filePath(name));
  };
  return {
    location,
    exists: async (name) => exists(name),
    readBytes,
    readText: async (name) => new TextDecoder().decode(await readBytes(name)),
  };
}
