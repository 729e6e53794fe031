import { beforeEach, describe, expect, it, vi } from 'vitest';
import type { Backend, Device, InferenceSessionHandle } from '../src/backend.js';

/** A fresh registry per test (the module holds it as state), with the error class it throws. */
async function freshRegistry() {
  vi.resetModules();
  return { ...(await import('../src/backend.js')), ...(await import('../src/errors.js')) };
}

function fakeBackend(name: string, devices: readonly Device[]): Backend & { created: Device[] } {
  const created: Device[] = [];
  return {
    name,
    created,
    availability: async (device) => (devices.includes(device) ? { available: true } : { available: false, reason: `${name} lacks ${device}` }),
    createSession: async (_model, options) => {
      created.push(options.device);
      return { inputNames: [], outputNames: [], run: async () => ({}), dispose: async () => undefined } satisfies InferenceSessionHandle;
    },
  };
}

describe('backend registry', () => {
  let registry: Awaited<ReturnType<typeof freshRegistry>>;
  beforeEach(async () => {
    registry = await freshRegistry();
  });

  it('says to import a backend package when none is registered', async () => {
    const error = await registry.resolveBackend('cpu').catch((e: unknown) => e);
    expect(registry.isQwenVLError(error, 'BACKEND_UNAVAILABLE')).toBe(true);
    expect((error as Error).message).toMatch(/device "cpu".*no backend is registered; import @qwen-vl\/node/);
  });

  it('picks the highest-priority backend that has the device', async () => {
    const web = fakeBackend('web', ['wasm', 'webgpu', 'cpu']);
    const node = fakeBackend('node', ['cpu', 'cuda']);
    registry.registerBackend('web', web, 10);
    registry.registerBackend('node', node, 100);
    expect((await registry.resolveBackend('cpu')).name).toBe('node');
    expect((await registry.resolveBackend('wasm')).name).toBe('web');
    await registry.createSession({ model: 'm.onnx' }, { device: 'webgpu' });
    expect(web.created).toEqual(['webgpu']);
    expect(node.created).toEqual([]);
  });

  it('lists every backend\'s reason when none has the device', async () => {
    registry.registerBackend('web', fakeBackend('web', ['wasm']), 10);
    registry.registerBackend('node', fakeBackend('node', ['cpu']), 100);
    const error = await registry.createSession({ model: 'm.onnx' }, { device: 'cuda' }).catch((e: unknown) => e);
    expect(registry.isQwenVLError(error, 'BACKEND_UNAVAILABLE')).toBe(true);
    expect((error as Error).message).toBe('device "cuda": no registered backend can run on it (node: node lacks cuda; web: web lacks cuda)');
  });

  it('replaces a backend registered again under the same name', async () => {
    registry.registerBackend('node', fakeBackend('old', ['cpu']), 1);
    registry.registerBackend('node', fakeBackend('new', ['cpu']), 1);
    expect((await registry.resolveBackend('cpu')).name).toBe('new');
  });
});
