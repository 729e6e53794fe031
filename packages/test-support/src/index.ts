export * from './golden-cases.js';
export * from './golden.js';
export * from './errors.js';
export * from './genai-config-schema.js';
export * from './required-devices.js';
export * from './webgpu-adapter.js';
export * from './chromium.js';
export * from './vulkan-driver.js';
