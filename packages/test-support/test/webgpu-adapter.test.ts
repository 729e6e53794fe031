import { describe, expect, it } from 'vitest';
import { softwareAdapterReason } from '../src/webgpu-adapter.js';

describe('softwareAdapterReason', () => {
  it('accepts a GPU adapter', () => {
    expect(softwareAdapterReason({ adapter: 'nvidia / hopper / NVIDIA H100 80GB HBM3', fallback: false, shaderF16: true })).toBeUndefined();
    expect(softwareAdapterReason({ adapter: 'intel / xe-lpg', shaderF16: false })).toBeUndefined();
  });

  it('names software rasterizers by vendor, architecture or description', () => {
    for (const adapter of ['google / swiftshader / SwiftShader Device (Subzero)', 'mesa / llvmpipe (LLVM 15.0.6, 256 bits)', 'mesa / lavapipe', 'microsoft / Microsoft Basic Render Driver']) {
      expect(softwareAdapterReason({ adapter, shaderF16: false })).toBe(`the WebGPU adapter (${adapter}) is a software rasterizer, not a GPU`);
    }
  });

  it("trusts the browser's own fallback flag over the name", () => {
    expect(softwareAdapterReason({ adapter: 'google / unknown', fallback: true, shaderF16: false })).toBe("the WebGPU adapter (google / unknown) is the browser's software fallback, not a GPU");
  });

  it('passes on why there is no adapter at all', () => {
    expect(softwareAdapterReason({ unavailable: 'navigator.gpu.requestAdapter() returned null (no adapter)', shaderF16: false })).toBe('navigator.gpu.requestAdapter() returned null (no adapter)');
  });
});
