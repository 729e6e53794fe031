import { describe, expect, it } from 'vitest';
import type { ModelFolder } from '@qwen-vl/core';
import type { Device } from '@qwen-vl/core';
import { EXECUTION_PROVIDERS, FORMAT_VERSION, MANIFEST_FILE, checkExecutionProvider, isPlainFileName, readBuildManifest } from '../src/index.js';
import type { BuildManifest, ExecutionProvider } from '../src/index.js';

/** A folder holding only a manifest with `parts` (and `fields`). */
function folderWith(parts: unknown, fields: Record<string, unknown> = {}): ModelFolder {
  const text = JSON.stringify({ format: 'qwen-vl', formatVersion: FORMAT_VERSION, producer: 'test', precision: 'fp32', executionProvider: 'cpu', parts, ...fields });
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

  it('refuses a manifest without a known execution provider, naming the field', async () => {
    for (const executionProvider of [undefined, 'tensorrt']) {
      await expect(readBuildManifest(folderWith([], { executionProvider }))).rejects.toMatchObject({
        code: 'INVALID_MODEL',
        message: expect.stringContaining('qwen-vl.json: field "executionProvider" must be one of cpu, cuda, dml, webgpu'),
      });
    }
    expect((await readBuildManifest(folderWith([], { executionProvider: 'webgpu' })))?.executionProvider).toBe('webgpu');
  });

  it('knows a plain file name', () => {
    expect(['vision.onnx', 'decoder.onnx.data', 'a b.bin'].every(isPlainFileName)).toBe(true);
    expect(['', '.', '..', 'a/b', 'a\\b', 'c:x', 'https://x', 'x\0'].some(isPlainFileName)).toBe(false);
  });
});

describe('checkExecutionProvider', () => {
  const manifest = (executionProvider: ExecutionProvider) => ({ executionProvider }) as BuildManifest;
  const devices: readonly Device[] = ['cpu', 'cuda', 'dml', 'webgpu', 'wasm'];
  // GroupQueryAttention builds: on the CPU kernels (wasm is those too) and, for cuda's, CUDA.
  const opensOn: Record<ExecutionProvider, readonly Device[]> = { cpu: ['cpu', 'wasm'], cuda: ['cuda', 'cpu', 'wasm'], dml: devices, webgpu: devices };

  it('lets a folder open on the devices that run its decoder, and refuses the others naming the build to make', () => {
    for (const provider of EXECUTION_PROVIDERS) {
      for (const device of devices) {
        const check = () => checkExecutionProvider(manifest(provider), device, 'm/qwen-vl.json');
        if (opensOn[provider].includes(device)) {
          expect(check, `${provider} build on ${device}`).not.toThrow();
          continue;
        }
        expect(check, `${provider} build on ${device}`).toThrow(
          expect.objectContaining({
            code: 'INVALID_MODEL',
            message: `m/qwen-vl.json field "executionProvider": is "${provider}": the decoder attends with com.microsoft GroupQueryAttention, which qwen-vl does not run on ${device}; rebuild the folder with "qwen-vl build --execution-provider ${device}"`,
          }),
        );
      }
    }
  });

  it('lets a folder without a manifest open anywhere', () => {
    for (const device of devices) expect(() => checkExecutionProvider(undefined, device, 'm/qwen-vl.json')).not.toThrow();
  });
});
