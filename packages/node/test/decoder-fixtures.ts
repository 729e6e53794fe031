import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Checkpoint, memoryByteSource, buildDecoderModel, buildEmbedModel, writeOnnxModel } from '@qwen-vl/builder';
import { createSession, hostTensor } from '@qwen-vl/core';
import type { CheckpointFolder, DecoderExportOptions } from '@qwen-vl/builder';
import type { HostTensor, ModelConfig, TextConfig } from '@qwen-vl/core';
import { DecoderSession, argmax, mergeVisionFeatures } from '@qwen-vl/decoder';
import type { DecoderSessionOptions, SearchOptions } from '@qwen-vl/decoder';
import { getRopeIndex } from '@qwen-vl/mrope';
import type { Grid } from '@qwen-vl/mrope';
// Registers onnxruntime-node, which createSession below finds.
import '../src/index.js';
import { GOLDEN_STEPS, MODEL_DIR, goldenModelConfig } from '@qwen-vl/test-support';
import type { GoldenPrompt } from '@qwen-vl/test-support';

/** Shared set-up of the decoder tests: checkpoints on disk, exported text graphs, batches of golden prompts. */

/** Qwen's <|endoftext|>, what the processor pads batches with. */
export const PAD_TOKEN_ID = 151643;

/** A checkpoint folder on disk, read whole (the test models are a few MB). */
export function folderCheckpoint(directory: string): Promise<Checkpoint> {
  const folder: CheckpointFolder = {
    location: directory,
    exists: async (name) => (await stat(join(directory, name)).catch(() => undefined))?.isFile() === true,
    readText: (name) => readFile(join(directory, name), 'utf8'),
    openBytes: async (name) => memoryByteSource(name, new Uint8Array(await readFile(join(directory, name)))),
  };
  return Checkpoint.open(folder);
}

export async function goldenModel(): Promise<{ checkpoint: Checkpoint; config: ModelConfig }> {
  return { checkpoint: await folderCheckpoint(MODEL_DIR), config: goldenModelConfig() };
}

export interface TextModelFiles {
  readonly embed: string;
  readonly decoder: string;
}

/** Exports `embed.onnx` and `decoder.onnx` (each with its `.data`) into `directory`; `options` beyond the precision shape the decoder alone. */
export async function exportTextModels(checkpoint: Checkpoint, text: TextConfig, directory: string, options: DecoderExportOptions = {}): Promise<TextModelFiles> {
  const files = { embed: join(directory, 'embed.onnx'), decoder: join(directory, 'decoder.onnx') };
  await writeOnnxModel(files.embed, buildEmbedModel(checkpoint, text, options));
  await writeOnnxModel(files.decoder, buildDecoderModel(checkpoint, text, options));
  return files;
}

/** A DecoderSession over fresh onnxruntime-node CPU sessions of `files`. */
export async function openDecoder(files: TextModelFiles, text: TextConfig, options: DecoderSessionOptions = {}): Promise<DecoderSession> {
  const [embed, decoder] = await Promise.all([createSession({ model: files.embed }, { device: 'cpu' }), createSession({ model: files.decoder }, { device: 'cpu' })]);
  return new DecoderSession(embed, decoder, text, options);
}

/** The golden tiny model's text graphs, exported into `directory` and opened. */
export async function openGoldenDecoder(directory: string): Promise<{ config: ModelConfig; files: TextModelFiles; session: DecoderSession }> {
  const { checkpoint, config } = await goldenModel();
  const files = await exportTextModels(checkpoint, config.text, directory);
  return { config, files, session: await openDecoder(files, config.text) };
}

/**
 * Left-pads `rows` with `padId` into one batch and computes its rope index, as a caller of
 * DecoderSession does: ids and mask `[B, S]`, positions `[3, B, S]` with per-row deltas.
 */
export function batchInputs(rows: readonly number[][], grids: readonly Grid[], config: ModelConfig, padId: number) {
  const length = Math.max(...rows.map((row) => row.length));
  const ids = new Int32Array(rows.length * length).fill(padId);
  const mask = new Int32Array(rows.length * length);
  rows.forEach((row, b) => {
    ids.set(row, (b + 1) * length - row.length);
    mask.fill(1, (b + 1) * length - row.length, (b + 1) * length);
  });
  const inputs = { inputIds: hostTensor('int32', ids, [rows.length, length]), attentionMask: hostTensor('int32', mask, [rows.length, length]), imageGridThw: grids };
  return { ...inputs, positions: getRopeIndex(inputs, config) };
}

/**
 * The prompts left-padded into one batch (see `batchInputs`), embedded by `decoder` and merged
 * with their vision features: what a prefill takes.
 */
export async function embedPrompts(decoder: DecoderSession, prompts: readonly GoldenPrompt[], config: ModelConfig) {
  const { inputIds, attentionMask, positions } = batchInputs(
    prompts.map((p) => p.ids),
    prompts.flatMap((p) => p.grids),
    config,
    PAD_TOKEN_ID,
  );
  const features = stackFeatures(prompts.map((p) => p.imageFeatures));
  const inputsEmbeds = mergeVisionFeatures(await decoder.embed(inputIds), inputIds, features, undefined, config);
  return { inputIds, inputsEmbeds, attentionMask, positions };
}

/** Vision feature rows of several prompts, stacked in order, or undefined when none has any. */
export function stackFeatures(features: readonly (HostTensor<'float32'> | undefined)[]): HostTensor<'float32'> | undefined {
  const present = features.filter((f): f is HostTensor<'float32'> => f !== undefined);
  if (present.length === 0) return undefined;
  const data = new Float32Array(present.reduce((n, f) => n + f.data.length, 0));
  let offset = 0;
  for (const f of present) {
    data.set(f.data, offset);
    offset += f.data.length;
  }
  return hostTensor('float32', data, [data.length / present[0].dims[1], present[0].dims[1]]);
}

/**
 * Prefill over `prompts` (left-padded into one batch) and `steps − 1` greedy steps; logits per
 * step and row. With `feed`, each step is fed those tokens (teacher forcing: the logits of
 * another run's path) while `tokens` still records each step's argmax.
 */
export async function greedy(
  decoder: DecoderSession,
  prompts: readonly GoldenPrompt[],
  config: ModelConfig,
  steps: number,
  feed?: readonly (readonly number[])[],
): Promise<{ logits: Float32Array[][]; tokens: number[][] }> {
  const { inputsEmbeds, attentionMask, positions } = await embedPrompts(decoder, prompts, config);
  let logits = await decoder.prefill({ inputsEmbeds, attentionMask, positions });
  const vocab = config.text.vocabSize;
  const perStep: Float32Array[][] = [];
  const tokens: number[][] = prompts.map(() => []);
  for (let step = 0; step < steps; step++) {
    const rows = prompts.map((_, b) => logits.data.slice(b * vocab, (b + 1) * vocab));
    perStep.push(rows);
    rows.forEach((row, b) => tokens[b].push(argmax(row)));
    if (step < steps - 1) logits = await decoder.step((feed ?? tokens).map((row) => row[step]));
  }
  return { logits: perStep, tokens };
}

/** The golden run's search settings (greedy on raw logits, EOS ignored, `GOLDEN_STEPS` new tokens), with `overrides`. */
export function goldenSearchOptions(overrides: Partial<SearchOptions> = {}): SearchOptions {
  return {
    doSample: false,
    temperature: 1,
    topK: 0,
    topP: 1,
    repetitionPenalty: 1,
    minLength: 0,
    maxLength: undefined,
    maxNewTokens: GOLDEN_STEPS,
    randomSeed: undefined,
    stopStrings: [],
    eosTokenIds: [151645, 151643],
    ignoreEos: true,
    ...overrides,
  };
}
