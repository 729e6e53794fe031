import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GraphBuilder, serializeModel } from '@qwen-vl/builder';
import { createSession, hostTensor, isDeviceTensor } from '@qwen-vl/core';
import type { HostTensor, InferenceSessionHandle } from '@qwen-vl/core';
import { onnxruntimeNodeBackend } from '@qwen-vl/node';
import { onnxruntimeWebBackend } from '../src/index.js';

/** plus_one = x + 1 and twice = 2x, so a kept output fed back shows it went through unchanged. */
function deviceModel(): Uint8Array {
  const g = new GraphBuilder('device');
  const x = g.input('x', 'float32', ['n']);
  g.output(g.op('Add', [x, g.constFloat(1)], {}, { output: 'plus_one' }), 'plus_one', 'float32', ['n']);
  g.output(g.op('Mul', [x, g.constFloat(2)], {}, { output: 'twice' }), 'twice', 'float32', ['n']);
  return serializeModel(g.build({ producer: 't' })).model;
}

function values(tensor: unknown): number[] {
  return Array.from((tensor as HostTensor).data as Float32Array);
}

describe('onnxruntime-web backend, wasm device (in Node)', () => {
  let session: InferenceSessionHandle;
  beforeAll(async () => {
    session = await onnxruntimeWebBackend.createSession({ model: deviceModel(), name: 'device.onnx' }, { device: 'wasm', deviceOutputs: ['plus_one'] });
  });
  afterAll(() => session.dispose());

  it('runs a model given as bytes', async () => {
    const out = await session.run({ x: hostTensor('float32', Float32Array.of(1, 2, 3), [3]) });
    expect(values(out.plus_one)).toEqual([2, 3, 4]);
    expect(values(out.twice)).toEqual([2, 4, 6]);
  });

  it("keeps outputs as device tensors and takes them back as feeds, refusing another runtime's", async () => {
    const run = session.runWithDeviceTensors!.bind(session);
    const first = await run({ x: hostTensor('float32', Float32Array.of(1, 2, 3), [3]) }, ['plus_one', 'twice'], { keepOnDevice: ['plus_one'] });
    expect(first.plus_one).toMatchObject({ kind: 'device', type: 'float32', dims: [3] });
    expect(isDeviceTensor(first.twice)).toBe(false);
    const second = await run({ x: first.plus_one }, ['twice'], { keepOnDevice: [] });
    expect(values(second.twice)).toEqual([4, 6, 8]);

    const nodeSession = await onnxruntimeNodeBackend.createSession({ model: deviceModel(), name: 'node.onnx' }, { device: 'cpu', deviceOutputs: ['plus_one'] });
    try {
      const fromNode = await nodeSession.runWithDeviceTensors!({ x: hostTensor('float32', Float32Array.of(1), [1]) }, ['plus_one'], { keepOnDevice: ['plus_one'] });
      await expect(run({ x: fromNode.plus_one }, ['twice'], { keepOnDevice: [] })).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
        message: expect.stringContaining('is a device tensor of another backend; onnxruntime-web takes only its own'),
      });
    } finally {
      await nodeSession.dispose();
    }
  });

  it("is what core's registry picks for wasm once @qwen-vl/web is imported", async () => {
    const viaRegistry = await createSession({ model: deviceModel() }, { device: 'wasm' });
    try {
      expect(values((await viaRegistry.run({ x: hostTensor('float32', Float32Array.of(5), [1]) })).twice)).toEqual([10]);
    } finally {
      await viaRegistry.dispose();
    }
  });

  it('refuses webgpu in Node, saying navigator.gpu is missing', async () => {
    await expect(onnxruntimeWebBackend.createSession({ model: deviceModel() }, { device: 'webgpu' })).rejects.toMatchObject({
      code: 'BACKEND_UNAVAILABLE',
      source: 'onnxruntime-web device "webgpu"',
      message: expect.stringContaining('navigator.gpu is missing'),
    });
  });

  it('refuses profileFilePrefix: onnxruntime-web writes no profile file', async () => {
    await expect(onnxruntimeWebBackend.createSession({ model: deviceModel() }, { device: 'wasm', profileFilePrefix: 'trace' })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      source: 'profileFilePrefix',
      message: expect.stringContaining('onnxruntime-web writes no profile file'),
    });
  });

  it('names the model it cannot load', async () => {
    await expect(onnxruntimeWebBackend.createSession({ model: new Uint8Array([1, 2, 3]), name: 'broken.onnx' }, { device: 'wasm' })).rejects.toMatchObject({
      code: 'INVALID_MODEL',
      source: 'broken.onnx',
    });
  });
});
