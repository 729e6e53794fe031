import { mkdir, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GraphBuilder, float16ToFloat32, float32ToFloat16, serializeModel, writeOnnxModel } from '@qwen-vl/builder';
import { createSession, hostTensor, isDeviceTensor, isQwenVLError } from '@qwen-vl/core';
import type { HostTensor, InferenceSessionHandle, ModelSource } from '@qwen-vl/core';
import type { OnnxModel } from '@qwen-vl/builder';
import { onnxruntimeNodeBackend } from '../src/index.js';
import { useTempDir } from './helpers/temp-dir.js';

const dir = useTempDir('qwen-vl-ort-');

const N = 3;
const IN = 8;
const HIDDEN = 300; // 300·8·4 bytes: W1 and W2 go to external data, the biases stay inline
const OUT = 5;

/** Deterministic values in [-scale, scale) that differ per element. */
function pseudoRandom(length: number, seed: number, scale: number): Float32Array {
  let state = seed;
  return Float32Array.from({ length }, () => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return (state / 2 ** 31 - 0.5) * 2 * scale;
  });
}

const x = pseudoRandom(N * IN, 1, 1);
const w1 = pseudoRandom(IN * HIDDEN, 2, 0.5);
const b1 = pseudoRandom(HIDDEN, 3, 0.1);
const w2 = pseudoRandom(HIDDEN * OUT, 4, 0.2);
const b2 = pseudoRandom(OUT, 5, 0.1);

/** erf by its Taylor series: terms stay below 1e9 for |t| ≤ 5, so float64 keeps ~1e-7 absolute. */
function erf(t: number): number {
  if (Math.abs(t) > 5) return Math.sign(t);
  let sum = 0;
  let power = t; // t^(2n+1) / n!
  for (let n = 0; n < 200; n++) {
    const term = power / (2 * n + 1);
    sum += n % 2 === 0 ? term : -term;
    if (Math.abs(term) < 1e-17) break;
    power *= (t * t) / (n + 1);
  }
  return (2 / Math.sqrt(Math.PI)) * sum;
}

/** softmax(gelu(x·W1 + b1)·W2 + b2) in float64, the reference for the models below. */
function referenceMlp(weight1: Float32Array, weight2: Float32Array): Float64Array {
  const out = new Float64Array(N * OUT);
  for (let n = 0; n < N; n++) {
    const hidden = new Float64Array(HIDDEN);
    for (let h = 0; h < HIDDEN; h++) {
      let v = b1[h];
      for (let i = 0; i < IN; i++) v += x[n * IN + i] * weight1[i * HIDDEN + h];
      hidden[h] = 0.5 * v * (1 + erf(v / Math.SQRT2));
    }
    const logits = Array.from({ length: OUT }, (_, o) => {
      let v = b2[o];
      for (let h = 0; h < HIDDEN; h++) v += hidden[h] * weight2[h * OUT + o];
      return v;
    });
    const max = Math.max(...logits);
    const exps = logits.map((v) => Math.exp(v - max));
    const total = exps.reduce((a, b) => a + b, 0);
    exps.forEach((e, o) => (out[n * OUT + o] = e / total));
  }
  return out;
}

/** The same MLP with float32 weights, or float16 weights Cast to float32 inside the graph. */
function mlpModel(weights: 'float32' | 'float16'): OnnxModel {
  const g = new GraphBuilder('mlp');
  const input = g.input('x', 'float32', ['n', IN]);
  const weight = (name: string, dims: number[], values: Float32Array) =>
    weights === 'float32' ? g.initializer(name, 'float32', dims, values) : g.op('Cast', [g.initializer(name, 'float16', dims, float32ToFloat16(values))], { to: 1 });
  const hidden = g.op('Add', [g.op('MatMul', [input, weight('w1', [IN, HIDDEN], w1)]), g.initializer('b1', 'float32', [HIDDEN], b1)]);
  const logits = g.op('Add', [g.op('MatMul', [g.op('Gelu', [hidden]), weight('w2', [HIDDEN, OUT], w2)]), g.initializer('b2', 'float32', [OUT], b2)]);
  g.output(g.op('Softmax', [logits], { axis: -1 }), 'probs', 'float32', ['n', OUT]);
  g.output(logits, 'logits', 'float32', ['n', OUT]);
  return g.build({ producer: 'qwen-vl-test' });
}

function expectClose(actual: HostTensor, expected: Float64Array, tolerance: number): void {
  expect(actual.type).toBe('float32');
  expect(actual.dims).toEqual([N, OUT]);
  let worst = 0;
  for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs((actual.data[i] as number) - expected[i]));
  expect(worst).toBeLessThan(tolerance);
}

async function runProbs(source: ModelSource): Promise<HostTensor> {
  const session = await onnxruntimeNodeBackend.createSession(source, { device: 'cpu' });
  try {
    const out = await session.run({ x: hostTensor('float32', x, [N, IN]) }, ['probs']);
    expect(Object.keys(out)).toEqual(['probs']);
    return out.probs;
  } finally {
    await session.dispose();
  }
}

async function expectQwenVLError(promise: Promise<unknown>, code: string, pattern: RegExp): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isQwenVLError(error)).toBe(true);
  expect((error as { code: string }).code).toBe(code);
  expect((error as Error).message).toMatch(pattern);
}

describe('onnxruntime-node CPU runs builder-written models', () => {
  it('fp32 weights in an external data file next to the model', async () => {
    const path = join(dir(), 'mlp32.onnx');
    const written = await writeOnnxModel(path, mlpModel('float32'));
    expect(written.externalDataPath).toBe(`${path}.data`);
    expect((await stat(`${path}.data`)).size).toBe(written.externalDataByteLength);
    expect(written.externalDataByteLength).toBeGreaterThanOrEqual((IN * HIDDEN + HIDDEN * OUT) * 4);
    // The weights are not in the .onnx file itself.
    expect((await stat(path)).size).toBeLessThan(4096);
    expectClose(await runProbs({ model: path }), referenceMlp(w1, w2), 1e-6);
  });

  it('fp16 weights cast to float32 in the graph', async () => {
    const path = join(dir(), 'mlp16.onnx');
    await writeOnnxModel(path, mlpModel('float16'));
    const asStored = (values: Float32Array) => float16ToFloat32(float32ToFloat16(values));
    const expected = referenceMlp(asStored(w1), asStored(w2));
    expectClose(await runProbs({ model: path }), expected, 1e-6);
    // The fp16 rounding is visible: the fp32 reference is measurably different.
    const fp32 = referenceMlp(w1, w2);
    expect(Math.max(...expected.map((v, i) => Math.abs(v - fp32[i])))).toBeGreaterThan(1e-6);
  });

  it('model bytes with external data given as bytes or as a path', async () => {
    const files = serializeModel(mlpModel('float32'), { externalData: { location: 'weights.bin' } });
    const dataPath = join(dir(), 'loose-weights.bin');
    await writeFile(dataPath, Buffer.concat(files.externalData));
    const expected = referenceMlp(w1, w2);
    expectClose(await runProbs({ model: files.model, externalData: [{ path: 'weights.bin', data: new Uint8Array(await readFile(dataPath)) }] }), expected, 1e-6);
    expectClose(await runProbs({ model: files.model, externalData: [{ path: 'weights.bin', data: dataPath }] }), expected, 1e-6);
  });

  it('is what core createSession finds for cpu once @qwen-vl/node is loaded', async () => {
    const path = join(dir(), 'via-core.onnx');
    await writeOnnxModel(path, mlpModel('float32'));
    const session = await createSession({ model: path }, { device: 'cpu', intraOpThreads: 1, graphOptimization: 'disabled' });
    try {
      expect(session.inputNames).toEqual(['x']);
      expect(session.outputNames).toEqual(['probs', 'logits']);
      const out = await session.run({ x: hostTensor('float32', x, [N, IN]) });
      expect(Object.keys(out).sort()).toEqual(['logits', 'probs']);
      expectClose(out.probs, referenceMlp(w1, w2), 1e-6);
    } finally {
      await session.dispose();
    }
  });
});

describe('tensor conversion', () => {
  let session: InferenceSessionHandle;
  beforeAll(async () => {
    // ids (int64) → gathered rows (float32), their float16 copy, and a bool mask.
    const g = new GraphBuilder('types');
    const ids = g.input('ids', 'int64', ['n']);
    const table = g.initializer('table', 'float32', [4, 2], new Float32Array([0, 1, 10, 11, 20, 21, 30, 31]));
    const rows = g.op('Gather', [table, ids], { axis: 0 }, { output: 'rows' });
    g.output(rows, 'rows', 'float32', ['n', 2]);
    g.output(g.op('Cast', [rows], { to: 10 }), 'rows_f16', 'float16', ['n', 2]);
    g.output(g.op('Greater', [rows, g.constFloat(15)]), 'big', 'bool', ['n', 2]);
    session = await onnxruntimeNodeBackend.createSession({ model: serializeModel(g.build({ producer: 't' })).model, name: 'types.onnx' }, { device: 'cpu' });
  });
  afterAll(() => session.dispose());

  it('reads inputs that are views into a larger buffer and returns each element type', async () => {
    const backing = new BigInt64Array([99n, 3n, 0n, 2n, 99n]);
    const out = await session.run({ ids: hostTensor('int64', backing.subarray(1, 4), [3]) });
    expect(out.rows.data).toEqual(new Float32Array([30, 31, 0, 1, 20, 21]));
    expect(out.rows_f16.type).toBe('float16');
    expect(out.rows_f16.data).toEqual(float32ToFloat16(new Float32Array([30, 31, 0, 1, 20, 21])));
    expect(out.big.type).toBe('bool');
    expect([...out.big.data]).toEqual([1, 1, 0, 0, 1, 1]);
    expect(out.big.dims).toEqual([3, 2]);
  });

  it("narrows a float32 feed of a float16 input (an fp16 export's inputs_embeds, pixel_values) to float16", async () => {
    const g = new GraphBuilder('half-input');
    const x = g.input('x', 'float16', ['n']);
    g.output(g.op('Add', [x, x]), 'y', 'float16', ['n']);
    const half = await onnxruntimeNodeBackend.createSession({ model: serializeModel(g.build({ producer: 't' })).model, name: 'half.onnx' }, { device: 'cpu' });
    try {
      const out = await half.run({ x: hostTensor('float32', Float32Array.of(0.5, -3, 1 / 3), [3]) });
      expect(out.y.type).toBe('float16');
      expect(Array.from(float16ToFloat32(out.y.data as Uint16Array))).toEqual(Array.from(float16ToFloat32(float32ToFloat16(Float32Array.of(1, -6, 2 / 3)))));
    } finally {
      await half.dispose();
    }
  });

  it('rejects unknown or missing feeds and fetches by name', async () => {
    const ids = hostTensor('int64', new BigInt64Array([1n]), [1]);
    await expectQwenVLError(session.run({}), 'INVALID_ARGUMENT', /types\.onnx: feeds lack input\(s\) ids/);
    await expectQwenVLError(session.run({ ids, extra: ids }), 'INVALID_ARGUMENT', /feeds name\(s\) extra are not in the model \(it has ids\)/);
    await expectQwenVLError(session.run({ ids }, ['nope']), 'INVALID_ARGUMENT', /fetches name\(s\) nope are not in the model/);
    await expectQwenVLError(session.run({ ids: hostTensor('float32', new Float32Array([1]), [1]) }), 'INVALID_ARGUMENT', /types\.onnx: onnxruntime failed to run/);
  });
});

describe('kept outputs and provider options', () => {
  it('a kept output (a device tensor) is read back by download as a copy, and stays usable', async () => {
    const g = new GraphBuilder('double');
    const input = g.input('x', 'float32', ['n']);
    g.output(g.op('Add', [input, input], {}, { output: 'y' }), 'y', 'float32', ['n']);
    const session = await onnxruntimeNodeBackend.createSession({ model: serializeModel(g.build({ producer: 't' })).model, name: 'double.onnx' }, { device: 'cpu', deviceOutputs: ['y'] });
    try {
      const { y } = await session.runWithDeviceTensors!({ x: hostTensor('float32', Float32Array.of(1, 2, 3), [3]) }, ['y'], { keepOnDevice: ['y'] });
      if (!isDeviceTensor(y) || y.download === undefined) throw new Error('expected a device tensor with download');
      const host = await y.download();
      expect(host).toMatchObject({ type: 'float32', dims: [3] });
      expect(host.data).toEqual(Float32Array.of(2, 4, 6));
      host.data[0] = 99;
      const again = await session.runWithDeviceTensors!({ x: y }, ['y'], { keepOnDevice: [] });
      expect((again.y as HostTensor).data).toEqual(Float32Array.of(4, 8, 12));
      y.dispose();
    } finally {
      await session.dispose();
    }
  });

  it("writes onnxruntime's trace of every run, each operator's kernel time, when a session opened with profileFilePrefix is disposed", async () => {
    const model = { model: serializeModel(mlpModel('float32')).model, name: 'mlp.onnx' };
    const profiles = join(dir(), 'profiles');
    await mkdir(profiles);
    const session = await onnxruntimeNodeBackend.createSession(model, { device: 'cpu', profileFilePrefix: join(profiles, 'mlp') });
    await session.run({ x: hostTensor('float32', x, [N, IN]) });
    await session.run({ x: hostTensor('float32', x, [N, IN]) });
    await session.dispose();
    const files = await readdir(profiles);
    expect(files).toEqual([expect.stringMatching(/^mlp.*\.json$/)]);
    const trace = JSON.parse(await readFile(join(profiles, files[0]), 'utf8')) as { cat: string; name: string; args?: { op_name?: string } }[];
    expect(trace.filter((event) => event.name === 'model_run')).toHaveLength(2);
    const kernels = trace.filter((event) => event.cat === 'Node' && event.name.endsWith('_kernel_time'));
    expect(kernels.map((event) => event.args?.op_name)).toContain('Softmax');
    await expectQwenVLError(onnxruntimeNodeBackend.createSession(model, { device: 'cpu', profileFilePrefix: '' }), 'INVALID_ARGUMENT', /^profileFilePrefix: must be a non-empty path prefix, got ""/);
  });

  it('refuses a provider option onnxruntime-node would ignore, naming it (cpu takes none; cuda and dml take device_id)', async () => {
    const model = { model: serializeModel(mlpModel('float32')).model, name: 'mlp.onnx' };
    await expectQwenVLError(
      onnxruntimeNodeBackend.createSession(model, { device: 'cpu', providerOptions: { device_id: '0' } }),
      'INVALID_ARGUMENT',
      /^provider option "device_id" of cpu: .*it takes none/,
    );
  });
});

describe('load failures', () => {
  it('an invalid ONNX file is INVALID_MODEL naming the file', async () => {
    const path = join(dir(), 'garbage.onnx');
    await writeFile(path, 'this is not a protobuf');
    await expectQwenVLError(onnxruntimeNodeBackend.createSession({ model: path }, { device: 'cpu' }), 'INVALID_MODEL', new RegExp(`^${path.replace(/[.]/g, '\\.')}: onnxruntime cannot load it`));
  });

  it('a missing model or external data file is MISSING_FILE', async () => {
    const missing = join(dir(), 'nowhere.onnx');
    await expectQwenVLError(onnxruntimeNodeBackend.createSession({ model: missing }, { device: 'cpu' }), 'MISSING_FILE', /nowhere\.onnx: model file does not exist/);
    const path = join(dir(), 'no-data.onnx');
    await writeOnnxModel(path, mlpModel('float32'));
    await rm(`${path}.data`);
    await expectQwenVLError(onnxruntimeNodeBackend.createSession({ model: path }, { device: 'cpu' }), 'MISSING_FILE', /no-data\.onnx: an external data file is missing/);
  });
});

/** Why CUDA and WebGPU cannot run here (undefined where they can), known before the tests are declared. */
const unavailableHere: Record<'cuda' | 'webgpu', string | undefined> = Object.fromEntries(
  await Promise.all(
    (['cuda', 'webgpu'] as const).map(async (device) => {
      const availability = await onnxruntimeNodeBackend.availability(device);
      return [device, availability.available ? undefined : availability.reason] as const;
    }),
  ),
) as Record<'cuda' | 'webgpu', string | undefined>;

describe('devices', () => {
  it('cpu is always available', async () => {
    expect(await onnxruntimeNodeBackend.availability('cpu')).toEqual({ available: true });
  });

  it('wasm (web only) is unavailable here with the reason', async () => {
    await expectQwenVLError(onnxruntimeNodeBackend.createSession({ model: 'm.onnx' }, { device: 'wasm' }), 'BACKEND_UNAVAILABLE', /device "wasm".*wasm is the device of @qwen-vl\/web/);
  });

  // The Windows build of onnxruntime-node has DirectML; whether it then runs depends on the GPU.
  it.skipIf(process.platform === 'win32')(`dml is unavailable off Windows, saying so${process.platform === 'win32' ? ' (skipped here: this is Windows)' : ''}`, async () => {
    const dml = await onnxruntimeNodeBackend.availability('dml');
    expect(dml).toEqual({ available: false, reason: expect.stringMatching(/has no dml execution provider, only cpu.*DirectML is only in the Windows build/) });
  });

  // CUDA and WebGPU depend on the machine: where one starts, it must run the model; where it
  // does not, it must say what is missing. Each machine runs one of the two tests and skips the
  // other, naming the reason.
  for (const device of ['cuda', 'webgpu'] as const) {
    const unavailable = unavailableHere[device];

    it.skipIf(unavailable !== undefined)(`${device} runs the model${unavailable === undefined ? '' : ` (skipped here: ${unavailable})`}`, async () => {
      const path = join(dir(), `${device}.onnx`);
      await writeOnnxModel(path, mlpModel('float32'));
      const session = await onnxruntimeNodeBackend.createSession({ model: path }, { device });
      const out = await session.run({ x: hostTensor('float32', x, [N, IN]) }, ['probs']);
      await session.dispose();
      expectClose(out.probs, referenceMlp(w1, w2), 1e-4);
    });

    it.skipIf(unavailable === undefined)(`${device} is unavailable: BACKEND_UNAVAILABLE saying what is missing${unavailable === undefined ? ` (skipped here: ${device} runs)` : ''}`, async () => {
      const path = join(dir(), `${device}.onnx`);
      await writeOnnxModel(path, mlpModel('float32'));
      const hint = device === 'cuda' ? /could not start its cuda execution provider.*CUDA provider libraries/ : /could not start its webgpu execution provider.*WebGPU adapter/;
      expect(unavailable).toMatch(hint);
      await expectQwenVLError(onnxruntimeNodeBackend.createSession({ model: path }, { device }), 'BACKEND_UNAVAILABLE', hint);
      await expectQwenVLError(createSession({ model: path }, { device }), 'BACKEND_UNAVAILABLE', /no registered backend can run on it \(onnxruntime-node: /);
    });
  }
});
