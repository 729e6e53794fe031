import { registerBackend } from '@qwen-vl/core';
import type { Backend, Device, DeviceAvailability, InferenceSessionHandle, ModelSource, SessionOptions } from '@qwen-vl/core';
import { loadOrtWeb } from './ort-web-runtime.js';
import { openOrtWebSession } from './ort-web-session.js';
import { requireWebDevice, webDeviceAvailability } from './web-device-support.js';

export const WEB_BACKEND_NAME = 'onnxruntime-web';

/** Below onnxruntime-node's, which is the faster choice should both be loaded in one Node process. */
const WEB_BACKEND_PRIORITY = 50;

export const onnxruntimeWebBackend: Backend = {
  name: WEB_BACKEND_NAME,

  availability(device: Device): Promise<DeviceAvailability> {
    return webDeviceAvailability(device);
  },

  async createSession(model: ModelSource, options: SessionOptions): Promise<InferenceSessionHandle> {
    const device = await requireWebDevice(options.device);
    return openOrtWebSession(await loadOrtWeb(device), model, options, device);
  },
};

/** Makes onnxruntime-web a backend `resolveBackend` / `createSession` find. */
export function registerWebBackend(): void {
  registerBackend(WEB_BACKEND_NAME, onnxruntimeWebBackend, WEB_BACKEND_PRIORITY);
}
