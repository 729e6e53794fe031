import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { hostTensor, parseGenerationConfig, parseModelConfig } from '@qwen-vl/core';
import type { DecoderAttention, OnnxModel, TextExportOptions } from '@qwen-vl/builder';
import type { ExecutionProvider } from '@qwen-vl/pipeline';
import type { InferenceSessionHandle, TextConfig } from '@qwen-vl/core';
import { DecoderSession, Generator, resolveSearchOptions } from '@qwen-vl/decoder';
import { PROVIDER_ATTENTION, buildDecoderModel, buildEmbedModel, computeTypeFor, textTensors, writeOnnxModel } from '@qwen-vl/builder';
import { QwenTokenizer } from '@qwen-vl/preprocess';
import { onnxruntimeNodeBackend, NodeModelFolder } from '@qwen-vl/node';
import { measure, median, timeOnce } from './measure.js';
import { randomWeights } from './random-weights.js';
import { withTempDir } from './temp-dir.js';
import { measureBandwidth } from './memory-bandwidth.js';
import type { Bandwidth } from './memory-bandwidth.js';
import { modelThreads, threadsLabel } from './bench-options.js';
import type { BenchOptions } from './bench-options.js';

/**
 * Text generation on onnxruntime-node (CPU unless `--device`), random weights, each decoder in
 * the attention its device's build gets (`PROVIDER_ATTENTION`), per precision (fp32; int4 at
 * accuracy levels 0 and 4): time to first token, decode speed, the time per token spent
 * outside onnxruntime's run calls, and the weight bytes a decode step reads against this
 * machine's measured memory bandwidth (a decode step reads every decoder weight and the
 * lm_head once, so it is bandwidth-bound). Then the decoder's two attentions against each
 * other (`ATTENTION_COMPARISON`): the CPU build's GroupQueryAttention and the portable plain ops.
 */

export interface BenchPrecision {
  label: string;
  options: TextExportOptions;
}

export const FP32: BenchPrecision = { label: 'fp32', options: { precision: 'fp32' } };
/** int4 in blocks of `blockSize` at `accuracyLevel`. */
export const int4 = (blockSize: number, accuracyLevel: 0 | 4): BenchPrecision => ({
  label: `int4 (block ${blockSize}, accuracy level ${accuracyLevel})`,
  options: { precision: 'int4', quantization: { blockSize, accuracyLevel } },
});
export const INT4_LEVELS: BenchPrecision[] = [int4(32, 0), int4(32, 4)];

export interface BenchModel {
  label: string;
  text: TextConfig;
  promptTokens: number;
  newTokens: number;
  /** Tokens the next turn of the conversation adds (a follow-up question). */
  followUpTokens: number;
  /** Measured generations; the fastest counts, as the one least disturbed by other processes. */
  runs: number;
  precisions: BenchPrecision[];
}

/** The vision tower is not benchmarked here, but config.json must describe one. */
const VISION_CONFIG = { depth: 1, hidden_size: 32, num_heads: 2, intermediate_size: 64, out_hidden_size: 32 };

const textConfig = (sizes: Record<string, unknown>): TextConfig =>
  parseModelConfig({ vocab_size: 151936, max_position_embeddings: 128000, rope_theta: 1000000, rms_norm_eps: 1e-6, vision_config: VISION_CONFIG, ...sizes }).text;

/** Qwen2.5-VL-3B's text model (config.json on the Hub) with `layers` of its 36 layers. */
export const text3B = (layers: number): TextConfig =>
  textConfig({
    hidden_size: 2048,
    num_hidden_layers: layers,
    num_attention_heads: 16,
    num_key_value_heads: 2,
    intermediate_size: 11008,
    rope_scaling: { type: 'mrope', mrope_section: [16, 24, 24] },
    tie_word_embeddings: true,
  });

const MODELS: BenchModel[] = [
  {
    label: 'tiny (golden shape)',
    text: textConfig({
      hidden_size: 32,
      num_hidden_layers: 2,
      num_attention_heads: 2,
      num_key_value_heads: 1,
      intermediate_size: 64,
      rope_scaling: { type: 'mrope', mrope_section: [2, 3, 3] },
      tie_word_embeddings: false,
    }),
    promptTokens: 128,
    newTokens: 64,
    followUpTokens: 32,
    runs: 5,
    precisions: [FP32],
  },
  {
    // Qwen2.5-VL-3B's text model cut to 4 of its 36 layers.
    label: '3B-shaped, 4 layers',
    text: text3B(4),
    promptTokens: 128,
    newTokens: 16,
    followUpTokens: 32,
    runs: 2,
    precisions: [FP32, ...INT4_LEVELS],
  },
];

/**
 * The decoder of a GroupQueryAttention build (`--execution-provider cpu`, or `cuda` under
 * `--device cuda`: com.microsoft GroupQueryAttention) against the portable one (`webgpu`,
 * `dml`: MatMul and Softmax), on the 3B-shaped model at int4 accuracy level 4 (the build a CPU runs; its fast linear layers leave attention a larger
 * share): a 576-token prompt (about one 448×448 image and a question) prefilled in one run,
 * then decoding after it. Medians of `runs`, wall and CPU time (the CPU time barely moves
 * when other processes compete for the cores).
 */
const ATTENTION_COMPARISON = {
  model: MODELS[1],
  precision: INT4_LEVELS[1],
  promptTokens: 576,
  newTokens: 16,
  runs: 5,
};

/** The Qwen tokenizer of the repository's golden model, so detokenizing costs what it costs in use. */
const TOKENIZER_DIR = fileURLToPath(new URL('../../../testdata/golden/tiny/model/', import.meta.url));

/** Milliseconds spent inside the sessions' run calls, summed. */
class RunClock {
  ms = 0;

  wrap(session: InferenceSessionHandle): InferenceSessionHandle {
    const timed = async <T>(run: () => Promise<T>): Promise<T> => {
      const start = performance.now();
      try {
        return await run();
      } finally {
        this.ms += performance.now() - start;
      }
    };
    const runWithDeviceTensors = session.runWithDeviceTensors?.bind(session);
    return {
      inputNames: session.inputNames,
      outputNames: session.outputNames,
      run: (feeds, fetches) => timed(() => session.run(feeds, fetches)),
      ...(runWithDeviceTensors !== undefined && { runWithDeviceTensors: (feeds, fetches, options) => timed(() => runWithDeviceTensors(feeds, fetches, options)) }),
      dispose: () => session.dispose(),
    };
  }
}

/** Bytes a decode step reads from weights: every initializer of the decoder, lm_head included. */
function weightBytes(model: OnnxModel): number {
  return model.initializers.reduce((sum, init) => sum + init.byteLength, 0);
}

export interface Row {
  label: string;
  weightGB: number;
  buildS: number;
  loadS: number;
  ttftMs: number;
  /** First token of the next turn, extending the cached conversation / prefilling all of it. */
  nextTurnCachedMs: number;
  nextTurnFullMs: number;
  decodeTokS: number;
  outsideRunMsPerToken: number;
  /** The Generator's own account: time outside DecoderSession calls (logits processing, sampling, detokenizing). */
  outsideSessionMsPerToken: number;
  weightGBs: number;
  /** Peak resident memory of a process that only loaded and ran this model (`decoder-3b`). */
  peakRssGB?: number;
}

/** A prompt of ordinary text tokens (ids below the special tokens), fixed by a seed. */
function promptIds(count: number): Int32Array {
  let state = 2024;
  return Int32Array.from({ length: count }, () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state % 150000;
  });
}

export interface BenchModelFiles {
  embed: string;
  decoder: string;
  /** What a decode step reads from weights (`weightBytes`). */
  weightBytes: number;
  buildS: number;
}

/** What `device`'s build of the text models at `precision` gets: its attention and its arithmetic (float16 on cuda and dml, `computeTypeFor`). */
function deviceBuild(precision: BenchPrecision, device: ExecutionProvider): TextExportOptions & { attention: DecoderAttention } {
  return { ...precision.options, attention: PROVIDER_ATTENTION[device], activations: computeTypeFor(precision.options.precision ?? 'fp32', device) };
}

/** Writes `model` at `precision` (random weights) into `dir`, as `device`'s build has it. */
export async function writeBenchModel(model: BenchModel, precision: BenchPrecision, dir: string, device: ExecutionProvider): Promise<BenchModelFiles> {
  const { text } = model;
  const files = { embed: join(dir, 'embed.onnx'), decoder: join(dir, 'decoder.onnx') };
  const { result: decoderModel, seconds: buildS } = await timeOnce(async () => {
    const weights = randomWeights(textTensors(text));
    const options = deviceBuild(precision, device);
    const built = buildDecoderModel(weights, text, options);
    await writeOnnxModel(files.embed, buildEmbedModel(weights, text, options));
    await writeOnnxModel(files.decoder, built);
    return built;
  });
  return { ...files, weightBytes: weightBytes(decoderModel), buildS };
}

/** The Qwen tokenizer every decoder bench detokenizes with. */
export function benchTokenizer(): Promise<QwenTokenizer> {
  return QwenTokenizer.fromFolder(new NodeModelFolder(TOKENIZER_DIR));
}

/** Loads the written model on `device` and generates with it: first token, next turn, decode speed. */
export async function runBenchModel(model: BenchModel, precision: BenchPrecision, files: BenchModelFiles, tokenizer: QwenTokenizer, { device, intraOpThreads }: BenchOptions): Promise<Row> {
  const { text } = model;
  const clock = new RunClock();
  const { result: session, seconds: loadS } = await timeOnce(async () => {
    const [embed, decoder] = await Promise.all([files.embed, files.decoder].map((path) => onnxruntimeNodeBackend.createSession({ model: path }, { device, intraOpThreads })));
    return new DecoderSession(clock.wrap(embed), clock.wrap(decoder), text);
  });
  const generator = new Generator(session, (ids) => tokenizer.decode(ids, { skipSpecialTokens: true }), { padTokenId: 151643 });

  const options = (newTokens: number) => resolveSearchOptions({ greedy: true, ignoreEos: true, maxNewTokens: newTokens }, parseGenerationConfig({ eos_token_id: [151645] }));
  /** Text-only: every position is the token's index, in all three rows. */
  const positions = (length: number) => Int32Array.from({ length: 3 * length }, (_, i) => i % length);

  /** Generates after `ids` (the first `cached` of them already in the session's cache), timing the first token and the decode. */
  const generate = async (ids: Int32Array, newTokens: number, cached = 0) => {
    const inputIds = hostTensor('int32', ids, [1, ids.length]);
    const newIds = hostTensor('int32', ids.subarray(cached), [1, ids.length - cached]);
    const begin = performance.now();
    const stream = generator.stream(
      {
        inputIds,
        cachedTokens: cached,
        inputsEmbeds: await session.embed(newIds),
        attentionMask: hostTensor('int32', new Int32Array(ids.length).fill(1), [1, ids.length]),
        positions: { positionIds: positions(ids.length), ropeDeltas: [0] },
      },
      options(newTokens),
    );
    let first = 0;
    let runAtFirst = 0;
    let tokens = 0;
    for (;;) {
      const next = await stream.next();
      if (next.done === true) {
        const end = performance.now();
        const steps = tokens - 1;
        return {
          ttftMs: first - begin,
          decodeMs: end - first,
          steps,
          outsideRunMs: end - first - (clock.ms - runAtFirst),
          outsideSessionMs: next.value.timings.overheadMsPerToken,
          tokens: next.value.rows[0].tokens,
        };
      }
      if (tokens++ === 0) {
        first = performance.now();
        runAtFirst = clock.ms;
      }
    }
  };

  /**
   * The next turn of a conversation: `followUpTokens` more after the previous prompt and
   * answer, first over the cache that generation left (its prompt and all answer tokens but
   * the last), then prefilled whole.
   */
  const nextTurn = async (prompt: Int32Array, answer: readonly number[]) => {
    const conversation = Int32Array.from([...prompt, ...answer, ...promptIds(model.followUpTokens)]);
    const cached = await generate(conversation, 1, prompt.length + answer.length - 1);
    const full = await generate(conversation, 1);
    return { cachedMs: cached.ttftMs, fullMs: full.ttftMs };
  };

  await generate(promptIds(16), 4); // warm-up: first runs allocate and pick kernels
  const runs = [];
  const nextTurns = [];
  for (let i = 0; i < model.runs; i++) {
    const prompt = promptIds(model.promptTokens);
    const run = await generate(prompt, model.newTokens);
    runs.push(run);
    nextTurns.push(await nextTurn(prompt, run.tokens));
  }
  await session.dispose();
  const run = runs.reduce((best, next) => (next.decodeMs < best.decodeMs ? next : best));
  const ttftMs = Math.min(...runs.map((r) => r.ttftMs));
  const msPerToken = run.decodeMs / run.steps;
  const bytes = files.weightBytes;
  return {
    label: `${model.label}, ${precision.label}`,
    weightGB: bytes / 1e9,
    buildS: files.buildS,
    loadS,
    ttftMs,
    nextTurnCachedMs: Math.min(...nextTurns.map((turn) => turn.cachedMs)),
    nextTurnFullMs: Math.min(...nextTurns.map((turn) => turn.fullMs)),
    decodeTokS: 1000 / msPerToken,
    outsideRunMsPerToken: run.outsideRunMs / run.steps,
    outsideSessionMsPerToken: run.outsideSessionMs,
    weightGBs: bytes / (msPerToken * 1e6),
  };
}

interface AttentionRow {
  attention: DecoderAttention;
  prefill: { wallMs: number; cpuMs: number };
  decode: { wallMs: number; cpuMs: number };
}

/** Prefill and decode timings of each attention in `attentions`, the same weights in every decoder. */
async function benchAttentions(dir: string, attentions: readonly DecoderAttention[], { device, intraOpThreads }: BenchOptions): Promise<AttentionRow[]> {
  const { model, precision, promptTokens, newTokens, runs } = ATTENTION_COMPARISON;
  const { text } = model;
  const weights = randomWeights(textTensors(text));
  const embedFile = join(dir, 'embed.onnx');
  const build = deviceBuild(precision, device);
  await writeOnnxModel(embedFile, buildEmbedModel(weights, text, build));
  const ids = promptIds(promptTokens);
  const promptInput = async (session: DecoderSession) => ({
    inputsEmbeds: await session.embed(hostTensor('int32', ids, [1, promptTokens])),
    attentionMask: hostTensor('int32', new Int32Array(promptTokens).fill(1), [1, promptTokens]),
    // Text-only: every position is the token's index, in all three rows.
    positions: { positionIds: Int32Array.from({ length: 3 * promptTokens }, (_, i) => i % promptTokens), ropeDeltas: [0] },
  });
  const rows: AttentionRow[] = [];
  for (const attention of attentions) {
    const decoderFile = join(dir, `decoder-${attention}.onnx`);
    await writeOnnxModel(decoderFile, buildDecoderModel(weights, text, { ...build, attention }));
    const [embed, decoder] = await Promise.all([embedFile, decoderFile].map((path) => onnxruntimeNodeBackend.createSession({ model: path }, { device, intraOpThreads })));
    const session = new DecoderSession(embed, decoder, text, { prefillChunkTokens: promptTokens });
    const input = await promptInput(session);
    const prefill = await measure(() => session.prefill(input), { warmup: 1, runs });
    // Each decode run starts after a fresh prefill (untimed), so every step sees the same cache lengths.
    const decodeSteps = async () => {
      for (let token = 0; token < newTokens; token++) await session.step([ids[token]]);
    };
    const decodeRuns: { wallMs: number; cpuMs: number }[] = [];
    for (let run = 0; run < runs; run++) {
      await session.prefill(input);
      decodeRuns.push(await measure(decodeSteps, { warmup: 0, runs: 1 }));
    }
    await session.dispose();
    rows.push({ attention, prefill, decode: { wallMs: median(decodeRuns.map((r) => r.wallMs)), cpuMs: median(decodeRuns.map((r) => r.cpuMs)) } });
  }
  return rows;
}

/** The decoder table: one row per model and precision, with the weight bytes read per second against `bandwidth`. */
export function printDecoderRows(title: string, rows: readonly Row[], bandwidth: Bandwidth): void {
  console.log(`\n${title}`);
  console.log(
    `Memory bandwidth of this machine (${bandwidth.threads} JS thread${bandwidth.threads === 1 ? '' : 's'} at once, as many as the model's, 512 MB arrays each): copy ${bandwidth.copyGBs.toFixed(1)} GB/s (read + write), sum ${bandwidth.readGBs.toFixed(1)} GB/s (read)`,
  );
  console.table(
    rows.map((row) => ({
      model: row.label,
      'decoder weights (GB)': row.weightGB.toFixed(3),
      'build (s)': row.buildS.toFixed(1),
      'load (s)': row.loadS.toFixed(1),
      ...(row.peakRssGB !== undefined && { 'peak RSS (GB)': row.peakRssGB.toFixed(2) }),
      'first token (ms)': row.ttftMs.toFixed(1),
      'next turn, cache reused (ms)': row.nextTurnCachedMs.toFixed(1),
      'next turn, all prefilled (ms)': row.nextTurnFullMs.toFixed(1),
      'decode (tokens/s)': row.decodeTokS.toFixed(1),
      'outside ort run (ms/token)': row.outsideRunMsPerToken.toFixed(2),
      'of which generation logic': row.outsideSessionMsPerToken.toFixed(2),
      'weights read (GB/s)': row.weightGBs.toFixed(2),
      'of copy bandwidth': `${((100 * row.weightGBs) / bandwidth.copyGBs).toFixed(0)}%`,
      'of read bandwidth': `${((100 * row.weightGBs) / bandwidth.readGBs).toFixed(0)}%`,
    })),
  );
}

export async function runDecoderBench(options: BenchOptions): Promise<void> {
  const { device } = options;
  const bandwidth = await measureBandwidth(modelThreads(options));
  const tokenizer = await benchTokenizer();
  const rows: Row[] = [];
  for (const model of MODELS) {
    for (const precision of model.precisions) {
      rows.push(await withTempDir('qwen-vl-decoder-bench-', async (dir) => runBenchModel(model, precision, await writeBenchModel(model, precision, dir, device), tokenizer, options)));
    }
  }
  printDecoderRows(
    `Text decoder, onnxruntime-node ${device} (${PROVIDER_ATTENTION[device]} attention, ${threadsLabel(options)}), random weights; greedy, ${MODELS.map((m) => `${m.label}: ${m.promptTokens}-token prompt, ${m.newTokens} new tokens, next turn +${m.followUpTokens} tokens, best of ${m.runs}`).join('; ')}`,
    rows,
    bandwidth,
  );

  // Only the providers whose build has a GroupQueryAttention graph have two attentions to compare.
  if (PROVIDER_ATTENTION[device] === 'plain') return;
  const attentionRows = await withTempDir('qwen-vl-attention-bench-', (dir) => benchAttentions(dir, ['plain', PROVIDER_ATTENTION[device]], options));
  const { model, precision, promptTokens, newTokens, runs } = ATTENTION_COMPARISON;
  console.log(
    `\nDecoder attention, onnxruntime-node ${device}, ${model.label}, ${precision.label}, random weights: a ${promptTokens}-token prompt in one prefill, then ${newTokens} decode steps; medians of ${runs}`,
  );
  const [plain] = attentionRows;
  console.table(
    attentionRows.map((row) => ({
      attention: row.attention === 'plain' ? 'plain ops (webgpu, dml builds)' : `GroupQueryAttention (${device} build)`,
      'prefill (ms)': row.prefill.wallMs.toFixed(0),
      'prefill CPU (ms)': row.prefill.cpuMs.toFixed(0),
      'prefill vs plain': `${(plain.prefill.cpuMs / row.prefill.cpuMs).toFixed(2)}×`,
      'decode (tokens/s)': ((1000 * newTokens) / row.decode.wallMs).toFixed(2),
      'decode CPU (ms/token)': (row.decode.cpuMs / newTokens).toFixed(1),
      'decode vs plain': `${(plain.decode.cpuMs / row.decode.cpuMs).toFixed(2)}×`,
    })),
  );
}
