import { describe, expect, it } from 'vitest';
import { formatRequiredDevices, parseRequiredDevices } from '../src/required-devices.js';
import { expectQwenVLError } from '../src/errors.js';

describe('parseRequiredDevices', () => {
  it('requires nothing when the variable is unset or blank', () => {
    expect([...parseRequiredDevices(undefined)]).toEqual([]);
    expect([...parseRequiredDevices('')]).toEqual([]);
    expect([...parseRequiredDevices(' , ')]).toEqual([]);
  });

  it('reads names separated by commas or spaces, each once', () => {
    expect([...parseRequiredDevices('cuda,webgpu')]).toEqual(['cuda', 'webgpu']);
    expect([...parseRequiredDevices(' dml  cuda,, dml ')]).toEqual(['dml', 'cuda']);
  });

  it('refuses an unknown name with a typed error naming the variable, so a typo cannot quietly skip a device', () => {
    expectQwenVLError(() => parseRequiredDevices('cuda,webgpu2'), 'INVALID_ARGUMENT', /^QWEN_VL_REQUIRE_DEVICES: unknown device\(s\) "webgpu2"; name any of cuda, dml, webgpu$/);
    // cpu and wasm always run: requiring them means nothing, so they are not accepted either.
    expectQwenVLError(() => parseRequiredDevices('cpu'), 'INVALID_ARGUMENT', /"cpu"/);
    expectQwenVLError(() => parseRequiredDevices('CUDA'), 'INVALID_ARGUMENT', /"CUDA"/);
  });
});

describe('formatRequiredDevices', () => {
  it('writes the devices in a fixed order that parseRequiredDevices reads back', () => {
    const value = formatRequiredDevices(['webgpu', 'cuda', 'webgpu']);
    expect(value).toBe('cuda,webgpu');
    expect([...parseRequiredDevices(value)]).toEqual(['cuda', 'webgpu']);
    expect(formatRequiredDevices([])).toBe('');
  });
});
