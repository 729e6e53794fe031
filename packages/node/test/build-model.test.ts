import { existsSync } from 'node:fs';
import { cp, mkdir, readFile, readdir, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { hostTensor, parseModelConfig } from '@qwen-vl/core';
import type { DecoderSession } from '@qwen-vl/decoder';
import { ChatTemplate } from '@qwen-vl/preprocess';
import { visionTensors, buildModelFolder, DECODER_PART, EMBED_PART, VISION_PART, openLocalCheckpoint, writeTinyModelFolder } from '@qwen-vl/builder';
import { MODEL_DIR, goldenModelConfig, maxAbsDiff } from '@qwen-vl/test-support';
import { NodeModelFolder } from '../src/index.js';
import type { BuildProgress } from '@qwen-vl/builder';
import { progressDisplay } from '../src/cli/build-command.js';
import { exportTextModels, openDecoder } from './decoder-fixtures.js';
import { newFolder, useTempDir } from './helpers/temp-dir.js';

const dir = useTempDir('qwen-vl-build-');

const visionTensorCount = visionTensors(goldenModelConfig().vision).length;

describe('buildModelFolder', () => {
  it('reports progress per weight tensor, ending at every tensor and byte', async () => {
    const reports: BuildProgress[] = [];
    const built = await buildModelFolder(MODEL_DIR, join(await newFolder(dir(), 'progress'), 'out'), { parts: [VISION_PART], onProgress: (p) => reports.push({ ...p }) });
    expect(reports).toHaveLength(visionTensorCount);
    expect(reports.map((p) => p.tensorsWritten)).toEqual(Array.from({ length: visionTensorCount }, (_, i) => i + 1));
    const last = reports[reports.length - 1];
    expect(last).toEqual({ part: 'vision', tensorsWritten: visionTensorCount, tensorCount: visionTensorCount, bytesWritten: built.totalBytes, totalBytes: built.totalBytes });
    expect(built.manifest.parts).toEqual([{ name: 'vision', model: 'vision.onnx', externalData: ['vision.onnx.data'] }]);
  });

  it('copies chat_template.jinja with the configs, and the built folder renders with it', async () => {
    const checkpoint = await newFolder(dir(), 'jinja-checkpoint');
    await cp(MODEL_DIR, checkpoint, { recursive: true });
    await writeFile(join(checkpoint, 'chat_template.jinja'), '{% for m in messages %}[{{ m.role }}:{{ m.content }}]{% endfor %}');
    const out = join(await newFolder(dir(), 'jinja-built'), 'out');
    await buildModelFolder(checkpoint, out, { parts: [VISION_PART] });
    expect(await readFile(join(out, 'chat_template.jinja'), 'utf8')).toContain('[{{ m.role }}:');
    const template = await ChatTemplate.fromFolder(new NodeModelFolder(out));
    expect(template.render([{ role: 'user', content: 'hi' }])).toBe('[user:hi]');
  });

  it("stores a tied checkpoint's embedding table once: decoder.onnx reads its lm_head from embed.onnx.data, with the same logits", async () => {
    const checkpoint = join(await newFolder(dir(), 'tied-checkpoint'), 'hf');
    await writeTinyModelFolder(checkpoint, MODEL_DIR, { seed: 3, text: { tieWordEmbeddings: true } });
    const built = await buildModelFolder(checkpoint, join(await newFolder(dir(), 'tied-built'), 'out'));
    const decoderPart = built.manifest.parts.find((part) => part.name === 'decoder');
    expect(decoderPart?.externalData).toEqual(['decoder.onnx.data', 'embed.onnx.data']);
    const config = parseModelConfig(JSON.parse(await readFile(join(checkpoint, 'config.json'), 'utf8')));
    const table = config.text.vocabSize * config.text.hiddenSize * 4;
    const sizes = async (folder: string) => Object.fromEntries(await Promise.all(['embed.onnx.data', 'decoder.onnx.data'].map(async (file) => [file, (await stat(join(folder, file))).size])));
    const shared = await sizes(built.output);
    expect(shared['embed.onnx.data']).toBe(table);

    // The same graphs (the default cpu build's decoder) written on their own, each with its own copy of the table.
    const alone = await newFolder(dir(), 'tied-alone');
    const files = await exportTextModels(await openLocalCheckpoint(checkpoint), config.text, alone, { attention: 'group-query' });
    const own = await sizes(alone);
    console.info(`tied checkpoint: decoder.onnx.data ${shared['decoder.onnx.data']} bytes shared against ${own['decoder.onnx.data']} alone (embedding table ${table})`);
    expect(own['decoder.onnx.data'] - shared['decoder.onnx.data']).toBeGreaterThanOrEqual(table);

    const prompt = { ids: [151644, 872, 198, 9707, 151645, 198, 151644, 77091, 198] };
    const logitsOf = async (decoder: DecoderSession) => {
      try {
        const ids = hostTensor('int32', Int32Array.from(prompt.ids), [1, prompt.ids.length]);
        const positions = Int32Array.from({ length: 3 * prompt.ids.length }, (_, i) => i % prompt.ids.length);
        return (
          await decoder.prefill({
            inputsEmbeds: await decoder.embed(ids),
            attentionMask: hostTensor('int32', new Int32Array(prompt.ids.length).fill(1), ids.dims),
            positions: { positionIds: positions, ropeDeltas: [0] },
          })
        ).data;
      } finally {
        await decoder.dispose();
      }
    };
    const sharedLogits = await logitsOf(await openDecoder({ embed: join(built.output, 'embed.onnx'), decoder: join(built.output, 'decoder.onnx') }, config.text));
    const ownLogits = await logitsOf(await openDecoder(files, config.text));
    expect(maxAbsDiff(sharedLogits, ownLogits)).toBe(0);
  });

  it("exports the weights it is given instead of the folder's, which then needs no safetensors", async () => {
    const configsOnly = await newFolder(dir(), 'configs-only');
    for (const name of await readdir(MODEL_DIR)) if (!name.endsWith('.safetensors')) await cp(join(MODEL_DIR, name), join(configsOnly, name));
    const given = await buildModelFolder(configsOnly, join(await newFolder(dir(), 'given-weights'), 'out'), { parts: [VISION_PART], weights: await openLocalCheckpoint(MODEL_DIR) });
    const own = await buildModelFolder(MODEL_DIR, join(await newFolder(dir(), 'own-weights'), 'out'), { parts: [VISION_PART] });
    for (const file of ['vision.onnx', 'vision.onnx.data']) expect((await readFile(join(given.output, file))).equals(await readFile(join(own.output, file))), file).toBe(true);
  });

  it('leaves nothing behind when stopped half-way', async () => {
    const parent = await newFolder(dir(), 'aborted');
    const abort = new AbortController();
    const build = buildModelFolder(MODEL_DIR, join(parent, 'out'), {
      signal: abort.signal,
      onProgress: (p) => p.tensorsWritten === 10 && abort.abort(),
    });
    await expect(build).rejects.toMatchObject({ code: 'ABORTED' });
    expect(await readdir(parent)).toEqual([]);
  });

  it('keeps an existing folder when a forced rebuild fails', async () => {
    const parent = await newFolder(dir(), 'forced-failure');
    const bad = join(dir(), 'bad-model');
    await cp(MODEL_DIR, bad, { recursive: true });
    await truncate(join(bad, 'model.safetensors'), 1000);
    const out = join(parent, 'out');
    await mkdir(out);
    await writeFile(join(out, 'keep.txt'), 'old');
    await expect(buildModelFolder(bad, out, { force: true })).rejects.toMatchObject({ code: 'INVALID_WEIGHTS' });
    expect(await readdir(parent)).toEqual(['out']);
    expect(await readdir(out)).toEqual(['keep.txt']);
  });

  it('refuses, before any work, a forced output that is empty or would delete the input', async () => {
    const input = join(dir(), 'api-input');
    await cp(MODEL_DIR, input, { recursive: true });
    const before = (await readdir(input)).sort();
    await expect(buildModelFolder(input, '', { force: true })).rejects.toThrow('output: is empty');
    await expect(buildModelFolder(input, input, { force: true })).rejects.toThrow(`${input}: is the input model folder`);
    await expect(buildModelFolder(input, dir(), { force: true })).rejects.toThrow(/holds the input model folder/);
    expect((await readdir(input)).sort()).toEqual(before);
  });

  it('rejects an unknown precision, vision precision or accuracy level before doing any work', async () => {
    await expect(buildModelFolder(MODEL_DIR, join(dir(), 'never'), { precision: 'int8' as 'fp16' })).rejects.toThrow(/precision: must be one of fp32, fp16, int4, got "int8"/);
    await expect(buildModelFolder(MODEL_DIR, join(dir(), 'never'), { visionPrecision: 'int2' as 'int8' })).rejects.toThrow(/visionPrecision: must be one of fp32, fp16, int8, int4, got "int2"/);
    await expect(buildModelFolder(MODEL_DIR, join(dir(), 'never'), { accuracyLevel: 5 as 4 })).rejects.toThrow(/accuracyLevel: must be one of 0, 1, 2, 3, 4, got 5/);
    await expect(buildModelFolder(MODEL_DIR, join(dir(), 'never'), { executionProvider: 'tensorrt' as 'cpu' })).rejects.toThrow(
      /executionProvider: must be one of cpu, cuda, dml, webgpu, got "tensorrt"/,
    );
    // transformers.js folders carry no manifest, so no reader could refuse a GroupQueryAttention decoder on WebGPU.
    await expect(buildModelFolder(MODEL_DIR, join(dir(), 'never'), { layout: 'transformers.js', executionProvider: 'cpu' })).rejects.toThrow(
      /executionProvider: must be one of webgpu, dml for the transformers.js layout, got "cpu"/,
    );
    expect(existsSync(join(dir(), 'never'))).toBe(false);
  });

  it('records the execution provider the decoder is shaped for: cpu by default, webgpu by default for transformers.js (which records nothing)', async () => {
    const text = { parts: [EMBED_PART, DECODER_PART] };
    const built = async (name: string, options: Parameters<typeof buildModelFolder>[2]) => buildModelFolder(MODEL_DIR, join(await newFolder(dir(), name), 'out'), { ...text, ...options });
    const cpu = await built('provider-default', {});
    expect(cpu.manifest.executionProvider).toBe('cpu');
    expect(JSON.parse(await readFile(join(cpu.output, 'qwen-vl.json'), 'utf8')).executionProvider).toBe('cpu');
    for (const executionProvider of ['cuda', 'dml', 'webgpu'] as const) {
      const folder = await built(`provider-${executionProvider}`, { executionProvider });
      expect(JSON.parse(await readFile(join(folder.output, 'qwen-vl.json'), 'utf8')).executionProvider).toBe(executionProvider);
    }
    const genai = await built('provider-genai', { layout: 'genai', parts: undefined, executionProvider: 'cuda' });
    expect(JSON.parse(await readFile(join(genai.output, 'qwen-vl.json'), 'utf8'))).toMatchObject({ layout: 'genai', executionProvider: 'cuda' });
    expect((await built('provider-transformers-js', { layout: 'transformers.js' })).manifest.executionProvider).toBe('webgpu');
  });
});

describe('build progress display', () => {
  const progress = (bytesWritten: number): BuildProgress => ({ part: 'vision', tensorsWritten: bytesWritten / 10, tensorCount: 100, bytesWritten, totalBytes: 1000 });

  it('rewrites one line on a terminal', () => {
    const written: string[] = [];
    const display = progressDisplay((text) => written.push(text), true);
    display.update(progress(500));
    display.update(progress(1000));
    display.end();
    expect(written).toEqual(['\r\x1b[Kbuilding vision: 50/100 tensors, 0.0 MB of 0.0 MB (50%)', '\r\x1b[Kbuilding vision: 100/100 tensors, 0.0 MB of 0.0 MB (100%)', '\n']);
  });

  it('prints a plain line per quarter elsewhere', () => {
    const written: string[] = [];
    const display = progressDisplay((text) => written.push(text), false);
    for (let bytes = 10; bytes <= 1000; bytes += 10) display.update(progress(bytes));
    display.end();
    expect(written.map((line) => line.match(/\((\d+)%\)\n$/)?.[1])).toEqual(['25', '50', '75', '100']);
  });
});
