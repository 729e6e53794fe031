import { QwenVLError } from '@qwen-vl/core';

/**
 * The GPU devices a conformance run must have, named by an environment variable: a row on a
 * device named there fails when the device is missing, where it would otherwise be skipped.
 * `pnpm test:gpu` sets it to the devices it found, so that a GPU that stopped working shows
 * up as a failure and not as a quiet skip. Plain strings, no Node imports.
 */
export const REQUIRED_DEVICES_VARIABLE = 'QWEN_VL_REQUIRE_DEVICES';

export type GpuDevice = 'cuda' | 'dml' | 'webgpu';

export const GPU_DEVICES: readonly GpuDevice[] = ['cuda', 'dml', 'webgpu'];

function isGpuDevice(name: string): name is GpuDevice {
  return (GPU_DEVICES as readonly string[]).includes(name);
}

/**
 * The devices `value` (the variable's text: names separated by commas or spaces) requires;
 * unset or blank requires none. An unknown name is an INVALID_ARGUMENT error, so that a typo
 * cannot turn a required device back into a skipped one.
 */
export function parseRequiredDevices(value: string | undefined): ReadonlySet<GpuDevice> {
  const names = (value ?? '').split(/[\s,]+/).filter((name) => name !== '');
  const unknown = names.filter((name) => !isGpuDevice(name));
  if (unknown.length > 0) {
    throw new QwenVLError('INVALID_ARGUMENT', `unknown device(s) ${unknown.map((name) => JSON.stringify(name)).join(', ')}; name any of ${GPU_DEVICES.join(', ')}`, {
      source: REQUIRED_DEVICES_VARIABLE,
    });
  }
  return new Set(names.filter(isGpuDevice));
}

/** The variable's value requiring `devices` (in GPU_DEVICES order), what parseRequiredDevices reads back. */
export function formatRequiredDevices(devices: Iterable<GpuDevice>): string {
  const wanted = new Set(devices);
  return GPU_DEVICES.filter((device) => wanted.has(device)).join(',');
}
