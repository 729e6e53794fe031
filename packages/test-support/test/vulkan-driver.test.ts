import { describe, expect, it } from 'vitest';
import { dropSwiftShaderVulkanDriver } from '../src/vulkan-driver.js';

describe('dropSwiftShaderVulkanDriver', () => {
  it('drops the SwiftShader driver pnpm test:conformance sets, and says which', () => {
    const env: NodeJS.ProcessEnv = { VK_ICD_FILENAMES: '/usr/lib/chromium/vk_swiftshader_icd.json', LD_LIBRARY_PATH: '/usr/lib/chromium' };
    expect(dropSwiftShaderVulkanDriver(env)).toBe('/usr/lib/chromium/vk_swiftshader_icd.json');
    expect(env).toEqual({ LD_LIBRARY_PATH: '/usr/lib/chromium' });
  });

  it('keeps a driver set by hand for a GPU, and does nothing when none is set', () => {
    const env: NodeJS.ProcessEnv = { VK_ICD_FILENAMES: '/usr/share/vulkan/icd.d/nvidia_icd.json' };
    expect(dropSwiftShaderVulkanDriver(env)).toBeUndefined();
    expect(env.VK_ICD_FILENAMES).toBe('/usr/share/vulkan/icd.d/nvidia_icd.json');
    expect(dropSwiftShaderVulkanDriver({})).toBeUndefined();
  });
});
