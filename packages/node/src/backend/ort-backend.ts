import { registerBackend } from '@qwen-vl/core';
import type { Backend, Device, DeviceAvailability, InferenceSessionHandle, ModelSource, SessionOptions } from '@qwen-vl/core';
import { env } from 'onnxruntime-node';
import { deviceAvailability, requireExecutionProvider } from './device-support.js';
import { openOrtSession } from './ort-session.js';

export const NODE_BACKEND_NAME = 'onnxruntime-node';

// onnxruntime's own log is quieted to fatal errors: what it would print (a provider library
// that fails to load...) reaches the caller inside the QwenVLError's message and cause, and
// stray lines before the CLI's one-line error only confuse. onnxruntime reads the level when
// it opens its first session, so a caller who wants its log sets onnxruntime-node's
// `env.logLevel` after importing this package.
env.logLevel = 'fatal';

/** Above onnxruntime-web's, should both be loaded in one Node process. */
const NODE_BACKEND_PRIORITY = 100;

export const onnxruntimeNodeBackend: Backend = {
  name: NODE_BACKEND_NAME,

  availability(device: Device): Promise<DeviceAvailability> {
    return deviceAvailability(device);
  },

  async createSession(model: ModelSource, options: SessionOptions): Promise<InferenceSessionHandle> {
    return openOrtSession(model, options, await requireExecutionProvider(options.device));
  },
};

/** Makes onnxruntime-node the backend `resolveBackend` / `createSession` find in Node. */
export function registerNodeBackend(): void {
  registerBackend(NODE_BACKEND_NAME, onnxruntimeNodeBackend, NODE_BACKEND_PRIORITY);
}
