import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { decodeNpy } from '@qwen-vl/core';
import type { ModelFolder } from '@qwen-vl/core';

export const GOLDEN = new URL('../../../../testdata/golden/', import.meta.url);
export const TINY_MODEL = new URL('tiny/model/', GOLDEN);

/**
 * A ModelFolder over a directory on disk. `overrides` replaces a file's text, or hides the
 * file when set to null, so error paths can be tested without writing fixture folders.
 */
export function fsModelFolder(dir: URL, overrides: Record<string, string | null> = {}): ModelFolder {
  const location = fileURLToPath(dir).replace(/\/$/, '');
  const fileUrl = (name: string) => new URL(name, dir);
  const exists = (name: string) => (name in overrides ? overrides[name] !== null : existsSync(fileUrl(name)));
  const readBytes = async (name: string): Promise<Uint8Array> => {
    const override = overrides[name];
    if (override !== undefined && override !== null) return new TextEncoder().encode(override);
    if (!exists(name)) throw new Error(`${location}/${name} does not exist`);
    return readFileSync(fileUrl(name));
  };
  return {
    location,
    exists: async (name) => exists(name),
    readBytes,
    readText: async (name) => new TextDecoder().decode(await readBytes(name)),
  };
}

export interface GoldenCase {
  inputIds: number[];
  gridThw: Array<[number, number, number]>;
  patchCount: number;
}

export function readGoldenCase(name: string): GoldenCase {
  const json = JSON.parse(readFileSync(new URL(`cases/${name}.json`, GOLDEN), 'utf8')) as {
    grid_thw: Array<[number, number, number]>;
    pixel_values_shape: [number, number];
  };
  const ids = decodeNpy(readFileSync(new URL(`cases/${name}/input_ids.npy`, GOLDEN)), `${name}/input_ids.npy`);
  return { inputIds: Array.from(ids.data as BigInt64Array, Number), gridThw: json.grid_thw, patchCount: json.pixel_values_shape[0] };
}
