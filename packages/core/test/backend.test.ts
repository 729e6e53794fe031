import { beforeEach, describe, expect, it, vi } from 'vitest';
import { runKeepingOnDevice } from '../src/backend.js';
import type { Backend, Device, DeviceRunOptions, InferenceSessionHandle } from '../src/backend.js';
import { isQwenVLError } from '../src/errors.js';
import { hostTensor, isDeviceTensor } from '../src/tensor.js';
import type { DeviceTensor, HostTensor, SessionTensor } from '../src/tensor.js';

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

  it("lists every backend's reason when none has the device", async () => {
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

describe('runKeepingOnDevice', () => {
  const host = (value: number): HostTensor => hostTensor('float32', Float32Array.of(value), [1]);
  const device: DeviceTensor = { kind: 'device', type: 'float32', dims: [1], dispose: () => undefined };

  /** A session that records how it was called and answers with its feeds under the fetched names. */
  function recordingSession(withDeviceRun: boolean) {
    const calls: { method: string; feeds: Readonly<Record<string, SessionTensor>>; keepOnDevice?: readonly string[] }[] = [];
    const session: InferenceSessionHandle = {
      inputNames: ['x'],
      outputNames: ['y', 'z'],
      run: async (feeds) => {
        calls.push({ method: 'run', feeds });
        return { y: feeds.x, z: feeds.x };
      },
      dispose: async () => undefined,
      ...(withDeviceRun && {
        runWithDeviceTensors: async (feeds: Readonly<Record<string, SessionTensor>>, _fetches: readonly string[], options: DeviceRunOptions) => {
          calls.push({ method: 'runWithDeviceTensors', feeds, keepOnDevice: options.keepOnDevice });
          return { y: device, z: host(2) };
        },
      }),
    };
    return { session, calls };
  }

  it('asks a backend with device tensors to keep the named outputs, feeding device tensors through', async () => {
    const { session, calls } = recordingSession(true);
    const out = await runKeepingOnDevice(session, { x: device }, ['y', 'z'], ['y']);
    expect(calls).toEqual([{ method: 'runWithDeviceTensors', feeds: { x: device }, keepOnDevice: ['y'] }]);
    expect(isDeviceTensor(out.y)).toBe(true);
    expect(isDeviceTensor(out.z)).toBe(false);
  });

  it('falls back to run with host tensors on a backend without them, and refuses a device feed there', async () => {
    const { session, calls } = recordingSession(false);
    const x = host(1);
    const out = await runKeepingOnDevice(session, { x }, ['y'], ['y']);
    expect(calls.map((c) => c.method)).toEqual(['run']);
    expect(out.y).toBe(x);

    const error = await runKeepingOnDevice(session, { x: device }, ['y'], ['y']).catch((e: unknown) => e);
    expect(isQwenVLError(error, 'INVALID_ARGUMENT')).toBe(true);
    expect((error as Error).message).toBe('runKeepingOnDevice feeds: "x" is a device tensor, which this session cannot take (it has no runWithDeviceTensors)');
    expect(calls).toHaveLength(1);
  });

  it('tells device tensors from host tensors', () => {
    expect(isDeviceTensor(device)).toBe(true);
    expect(isDeviceTensor(host(0))).toBe(false);
  });
});
