import { describe, expect, it } from 'vitest';
import type { ModelFolder } from '@qwen-vl/core';
import { FORMAT_VERSION, MANIFEST_FILE, isPlainFileName, readBuildManifest } from '../src/index.js';

/** A folder holding only a manifest with `parts`. */
function folderWith(parts: unknown): ModelFolder {
  const text = JSON.stringify({ format: 'qwen-vl', formatVersion: FORMAT_VERSION, producer: 'test', precision: 'fp32', parts });
  return {
    location: 'https://models.example/m',
    exists: (name) => Promise.resolve(name === MANIFEST_FILE),
    readText: () => Promise.resolve(text),
    readBytes: () => Promise.resolve(new TextEncoder().encode(text)),
  };
}

describe('readBuildManifest', () => {
  it('reads a manifest whose files are names inside the folder', async () => {
    const parts = [{ name: 'decoder', model: 'decoder.onnx', externalData: ['decoder.onnx.data', 'embed.onnx.data'] }];
    expect((await readBuildManifest(folderWith(parts)))?.parts).toEqual(parts);
  });

  // A hostile folder's manifest could make the web loader fetch any URL, or Node open any path.
  it('refuses file names that reach outside the folder, naming the entry', async () => {
    const cases: Array<[unknown, string]> = [
      [[{ name: 'd', model: '../../x.onnx', externalData: [] }], 'parts[0].model'],
      [[{ name: 'd', model: 'd.onnx', externalData: ['ok.data', 'https://other.example/x.bin'] }], 'parts[0].externalData[1]'],
      [[{ name: 'd', model: '/etc/passwd', externalData: [] }], 'parts[0].model'],
      [[{ name: 'd', model: 'd.onnx', externalData: ['..\\x.bin'] }], 'parts[0].externalData[0]'],
    ];
    for (const [parts, field] of cases) {
      await expect(readBuildManifest(folderWith(parts))).rejects.toMatchObject({
        code: 'INVALID_MODEL',
        message: expect.stringContaining(`qwen-vl.json: field "${field}" must be a file name inside the model folder`),
      });
    }
  });

  it('knows a plain file name', () => {
    expect(['vision.onnx', 'decoder.onnx.data', 'a b.bin'].every(isPlainFileName)).toBe(true);
    expect(['', '.', '..', 'a/b', 'a\\b', 'c:x', 'https://x', 'x\0'].some(isPlainFileName)).toBe(false);
  });
});
