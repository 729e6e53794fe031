import { QwenVLError } from '@qwen-vl/core';
import type { Device, DeviceAvailability } from '@qwen-vl/core';
import type { WebDevice } from './ort-web-runtime.js';

/** Just what the device checks use of WebGPU's `navigator.gpu`. */
interface GpuLike {
  requestAdapter(): Promise<GpuAdapterLike | null>;
}

/**
 * What says that an adapter is a software one (SwiftShader, WARP): `info.isFallbackAdapter`
 * in the current spec, `isFallbackAdapter` on the adapter itself in older Chromium.
 */
interface GpuAdapterLike {
  readonly info?: { readonly isFallbackAdapter?: boolean };
  readonly isFallbackAdapter?: boolean;
}

interface WebGpuProbe {
  readonly availability: DeviceAvailability;
  /** Whether the adapter is a software one. */
  readonly fallback: boolean;
}

const checks = new Map<Device, Promise<DeviceAvailability>>();
let webGpuProbe: Promise<WebGpuProbe> | undefined;

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

/**
 * Whether WebGPU runs here on a hardware adapter. A fallback (software) adapter runs WebGPU on
 * the CPU, slower than onnxruntime-web's WASM; it is still available to ask for by name.
 */
export async function hasHardwareWebGpu(): Promise<boolean> {
  const { availability, fallback } = await probeWebGpu();
  return availability.available && !fallback;
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
  return (await probeWebGpu()).availability;
}

/** The WebGPU adapter check, made once per page. */
function probeWebGpu(): Promise<WebGpuProbe> {
  webGpuProbe ??= requestWebGpuAdapter();
  return webGpuProbe;
}

async function requestWebGpuAdapter(): Promise<WebGpuProbe> {
  const unavailable = (reason: string): WebGpuProbe => ({ availability: { available: false, reason }, fallback: false });
  const gpu = (globalThis as { navigator?: { gpu?: GpuLike } }).navigator?.gpu;
  if (gpu === undefined) {
    return unavailable(
      "navigator.gpu is missing: this runtime has no WebGPU (it needs a browser with WebGPU enabled, e.g. Chrome or Edge 113+ over https or localhost; in Node, use @qwen-vl/node's webgpu device); use the wasm device instead",
    );
  }
  let adapter: GpuAdapterLike | null;
  try {
    adapter = await gpu.requestAdapter();
  } catch (cause) {
    return unavailable(`navigator.gpu.requestAdapter() failed (${(cause as Error).message}); use the wasm device instead`);
  }
  if (adapter === null) {
    return unavailable('navigator.gpu.requestAdapter() found no GPU adapter (WebGPU is disabled or this GPU is blocklisted); use the wasm device instead');
  }
  return { availability: { available: true }, fallback: (adapter.info?.isFallbackAdapter ?? adapter.isFallbackAdapter) === true };
}
