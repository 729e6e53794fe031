import { QwenVLError } from '@qwen-vl/core';
import type { Device, DeviceAvailability } from '@qwen-vl/core';
import type { WebDevice } from './ort-web-runtime.js';

/** Just what the availability check uses of WebGPU's `navigator.gpu`. */
interface GpuLike {
  requestAdapter(): Promise<unknown>;
}

const checks = new Map<Device, Promise<DeviceAvailability>>();

export function isWebDevice(device: Device): device is WebDevice {
  return device === 'webgpu' || device === 'wasm';
}

/** Whether onnxruntime-web can run on `device` here; the answer is cached per page. */
export function webDeviceAvailability(device: Device): Promise<DeviceAvailability> {
  let check = checks.get(device);
  if (check === undefined) {
    check = checkDevice(device);
    checks.set(device, check);
  }
  return check;
}

/** `device` as an onnxruntime-web device, or BACKEND_UNAVAILABLE saying what is missing. */
export async function requireWebDevice(device: Device): Promise<WebDevice> {
  const availability = await webDeviceAvailability(device);
  if (!availability.available) throw new QwenVLError('BACKEND_UNAVAILABLE', availability.reason, { source: `onnxruntime-web device "${device}"` });
  // Only webgpu and wasm are ever available.
  return device as WebDevice;
}

async function checkDevice(device: Device): Promise<DeviceAvailability> {
  if (!isWebDevice(device)) {
    return { available: false, reason: `onnxruntime-web runs on webgpu or wasm; ${device} is a device of @qwen-vl/node (onnxruntime-node)` };
  }
  if (device === 'wasm') {
    return typeof WebAssembly === 'object' ? { available: true } : { available: false, reason: 'this runtime has no WebAssembly' };
  }
  const gpu = (globalThis as { navigator?: { gpu?: GpuLike } }).navigator?.gpu;
  if (gpu === undefined) {
    return {
      available: false,
      reason: 'navigator.gpu is missing: this runtime has no WebGPU (it needs a browser with WebGPU enabled, e.g. Chrome or Edge 113+ over https or localhost; in Node, use @qwen-vl/node\'s webgpu device); use the wasm device instead',
    };
  }
  try {
    if ((await gpu.requestAdapter()) === null) {
      return { available: false, reason: 'navigator.gpu.requestAdapter() found no GPU adapter (WebGPU is disabled or this GPU is blocklisted); use the wasm device instead' };
    }
  } catch (cause) {
    return { available: false, reason: `navigator.gpu.requestAdapter() failed (${(cause as Error).message}); use the wasm device instead` };
  }
  return { available: true };
}
