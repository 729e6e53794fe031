import { afterEach, describe, expect, it, vi } from 'vitest';

/** The package afresh: it asks for the WebGPU adapter once per page, that is once per module instance. */
async function freshPackage(): Promise<typeof import('../src/index.js')> {
  vi.resetModules();
  return import('../src/index.js');
}

/** A browser whose `navigator.gpu.requestAdapter()` gives `adapter`. */
function stubGpu(adapter: object | null): void {
  vi.stubGlobal('navigator', { gpu: { requestAdapter: async () => adapter } });
}

afterEach(() => {
  vi.unstubAllGlobals();
});

describe('pickWebDevice', () => {
  it.each([
    { what: 'a hardware adapter', adapter: { info: { isFallbackAdapter: false } }, device: 'webgpu' },
    { what: 'a hardware adapter of an older Chromium (no adapter.info)', adapter: { isFallbackAdapter: false }, device: 'webgpu' },
    { what: 'a fallback adapter (adapter.info.isFallbackAdapter)', adapter: { info: { isFallbackAdapter: true } }, device: 'wasm' },
    { what: 'a fallback adapter of an older Chromium (adapter.isFallbackAdapter)', adapter: { isFallbackAdapter: true }, device: 'wasm' },
    { what: 'no adapter', adapter: null, device: 'wasm' },
  ])('with $what picks $device', async ({ adapter, device }) => {
    stubGpu(adapter);
    const { pickWebDevice } = await freshPackage();
    expect(await pickWebDevice()).toBe(device);
  });

  it('picks wasm where there is no navigator.gpu', async () => {
    vi.stubGlobal('navigator', {});
    const { pickWebDevice } = await freshPackage();
    expect(await pickWebDevice()).toBe('wasm');
  });

  it('leaves webgpu available on a fallback adapter to a caller who asks for it by name', async () => {
    stubGpu({ info: { isFallbackAdapter: true } });
    const { onnxruntimeWebBackend, pickWebDevice } = await freshPackage();
    expect(await pickWebDevice()).toBe('wasm');
    expect(await onnxruntimeWebBackend.availability('webgpu')).toEqual({ available: true });
  });
});
