import type * as OrtWeb from 'onnxruntime-web';

/** The devices onnxruntime-web runs on. */
export type WebDevice = 'webgpu' | 'wasm';

export type OrtWebModule = typeof OrtWeb;

const modules = new Map<WebDevice, Promise<OrtWebModule>>();

/**
 * The onnxruntime-web build for `device`, imported on first use. WebGPU takes
 * `onnxruntime-web/webgpu`, the native WebGPU provider compiled to WASM, which runs every op
 * the exported graphs use on the GPU; the default build's older WebGPU kernels do not. WASM
 * takes the default build, so a page on wasm never downloads the WebGPU one.
 */
export function loadOrtWeb(device: WebDevice): Promise<OrtWebModule> {
  let module = modules.get(device);
  if (module === undefined) {
    module = device === 'webgpu' ? import('onnxruntime-web/webgpu') : import('onnxruntime-web');
    modules.set(device, module);
  }
  return module;
}
