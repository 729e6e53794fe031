import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GraphBuilder, serializeModel } from '@qwen-vl/builder';
import { createSession, hostTensor, isDeviceTensor, isQwenVLError } from '@qwen-vl/core';
import type { DeviceTensor, HostTensor, InferenceSessionHandle, ModelConfig } from '@qwen-vl/core';
import { DecoderSession, argmax, decoderDeviceOutputs } from '@qwen-vl/decoder';
import { goldenPrompt } from '@qwen-vl/test-support';
import { onnxruntimeNodeBackend } from '../src/index.js';
import { embedPrompts, exportTextModels, goldenModel } from './decoder-fixtures.js';
import type { TextModelFiles } from './decoder-fixtures.js';
import { useTempDir } from './helpers/temp-dir.js';

/** Device tensors on onnxruntime-node CPU: the contract, and the KV cache kept in them. */

async function expectError(promise: Promise<unknown>, pattern: RegExp): Promise<void> {
  const error = await promise.catch((e: unknown) => e);
  expect(isQwenVLError(error, 'INVALID_ARGUMENT')).toBe(true);
  expect((error as Error).message).toMatch(pattern);
}

describe('onnxruntime-node device tensors', () => {
  let session: InferenceSessionHandle;
  beforeAll(async () => {
    // plus_one = x + 1 and twice = 2x, so a kept output fed back shows it went through unchanged.
    const g = new GraphBuilder('device');
    const x = g.input('x', 'float32', ['n']);
    g.output(g.op('Add', [x, g.constFloat(1)], {}, { output: 'plus_one' }), 'plus_one', 'float32', ['n']);
    g.output(g.op('Mul', [x, g.constFloat(2)], {}, { output: 'twice' }), 'twice', 'float32', ['n']);
    session = await onnxruntimeNodeBackend.createSession({ model: serializeModel(g.build({ producer: 't' })).model, name: 'device.onnx' }, { device: 'cpu', deviceOutputs: ['plus_one'] });
  });
  afterAll(() => session.dispose());

  it('returns kept outputs as device tensors and takes them back as feeds', async () => {
    const run = session.runWithDeviceTensors!.bind(session);
    const first = await run({ x: hostTensor('float32', Float32Array.of(1, 2, 3), [3]) }, ['plus_one', 'twice'], { keepOnDevice: ['plus_one'] });
    expect(isDeviceTensor(first.plus_one)).toBe(true);
    expect(first.plus_one).toMatchObject({ kind: 'device', type: 'float32', dims: [3] });
    expect(isDeviceTensor(first.twice)).toBe(false);
    expect(Array.from((first.twice as HostTensor).data as Float32Array)).toEqual([2, 4, 6]);

    const second = await run({ x: first.plus_one }, ['twice'], { keepOnDevice: [] });
    expect(Array.from((second.twice as HostTensor).data as Float32Array)).toEqual([4, 6, 8]);
  });

  it('refuses a disposed device tensor, one of another backend, and keeping an output not fetched', async () => {
    const run = session.runWithDeviceTensors!.bind(session);
    const { plus_one: kept } = await run({ x: hostTensor('float32', Float32Array.of(1), [1]) }, ['plus_one'], { keepOnDevice: ['plus_one'] });
    (kept as DeviceTensor).dispose();
    await expectError(run({ x: kept }, ['twice'], { keepOnDevice: [] }), /device\.onnx feed "x": is a device tensor that was disposed/);

    const foreign: DeviceTensor = { kind: 'device', type: 'float32', dims: [1], dispose: () => undefined };
    await expectError(run({ x: foreign }, ['twice'], { keepOnDevice: [] }), /feed "x": is a device tensor of another backend/);
    await expectError(
      run({ x: hostTensor('float32', Float32Array.of(1), [1]) }, ['twice'], { keepOnDevice: ['plus_one'] }),
      /keepOnDevice name\(s\) plus_one are not among the fetched outputs \(twice\)/,
    );
  });

  it('refuses deviceOutputs the model does not have', async () => {
    const g = new GraphBuilder('identity');
    g.output(g.op('Identity', [g.input('x', 'float32', [1])], {}, { output: 'y' }), 'y', 'float32', [1]);
    const opening = onnxruntimeNodeBackend.createSession({ model: serializeModel(g.build({ producer: 't' })).model, name: 'identity.onnx' }, { device: 'cpu', deviceOutputs: ['present.0.key'] });
    await expectError(opening, /identity\.onnx: deviceOutputs name\(s\) present\.0\.key are not in the model \(it has y\)/);
  });
});

describe('DecoderSession with the KV cache in device tensors', () => {
  const dir = useTempDir('qwen-vl-device-cache-');
  let config: ModelConfig;
  let files: TextModelFiles;
  beforeAll(async () => {
    const golden = await goldenModel();
    config = golden.config;
    files = await exportTextModels(golden.checkpoint, config.text, dir());
  });

  /** The decoder session as a backend without device tensors would give it: `run` only. */
  function hostOnly(session: InferenceSessionHandle): InferenceSessionHandle {
    return { inputNames: session.inputNames, outputNames: session.outputNames, run: (feeds, fetches) => session.run(feeds, fetches), dispose: () => session.dispose() };
  }

  async function openDecoder(deviceCache: boolean): Promise<DecoderSession> {
    const embed = await createSession({ model: files.embed }, { device: 'cpu' });
    const decoder = await createSession({ model: files.decoder }, { device: 'cpu', deviceOutputs: decoderDeviceOutputs(config.text) });
    return new DecoderSession(embed, deviceCache ? decoder : hostOnly(decoder), config.text);
  }

  /** Logits of the prefill and 7 greedy steps over the two_images prompt (copies: the decoder reuses its logits buffers). */
  async function greedyLogits(decoder: DecoderSession): Promise<Float32Array[]> {
    const { inputsEmbeds, attentionMask, positions } = await embedPrompts(decoder, [goldenPrompt('two_images')], config);
    const all = [(await decoder.prefill({ inputsEmbeds, attentionMask, positions })).data.slice()];
    for (let step = 1; step < 8; step++) all.push((await decoder.step([argmax(all[step - 1])])).data.slice());
    return all;
  }

  it('gives the same logits, bit for bit, as the cache passed through host tensors', async () => {
    const [onDevice, onHost] = await Promise.all([openDecoder(true), openDecoder(false)]);
    try {
      const device = await greedyLogits(onDevice);
      const host = await greedyLogits(onHost);
      expect(device).toHaveLength(8);
      device.forEach((logits, step) => expect(logits, `step ${step}`).toEqual(host[step]));
    } finally {
      await Promise.all([onDevice.dispose(), onHost.dispose()]);
    }
  });
});
