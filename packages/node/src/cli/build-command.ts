import { BUILD_LAYOUT_NAMES, buildLayout, buildModelFolder } from '@qwen-vl/builder';
import type { BuildProgress } from '@qwen-vl/builder';
import { ACCURACY_LEVELS, EXECUTION_PROVIDERS, VISION_PRECISIONS, WEIGHT_PRECISIONS } from '@qwen-vl/pipeline';
import type { AccuracyLevel, ExecutionProvider, FolderLayoutName, VisionPrecision, WeightPrecision } from '@qwen-vl/pipeline';
import { subcommand } from './command-args.js';
import { choiceFlag, positiveIntegerFlag } from './flag-values.js';
import type { OptionValues } from './command-args.js';
import { UsageError } from './usage-error.js';

export const BUILD_HELP = `Usage: qwen-vl build --input HF_DIR --output OUT_DIR [--layout ${BUILD_LAYOUT_NAMES.join('|')}]
                      [--precision fp32|fp16|int4] [--vision-precision fp32|fp16|int8|int4]
                      [--block-size N] [--accuracy-level 0-4]
                      [--execution-provider ${EXECUTION_PROVIDERS.join('|')}] [--force]

Exports a Hugging Face Qwen2.5-VL checkpoint to the ONNX models qwen-vl runs: writes
vision.onnx, embed.onnx and decoder.onnx (each with its .onnx.data) into OUT_DIR, copies
the configs and tokenizer files, and adds a qwen-vl.json manifest; or, with --layout, the
same weights in another runtime's folder layout (onnxruntime-genai's, transformers.js's).
Prints one JSON line when done; progress goes to stderr.

Options:
  --input HF_DIR     Hugging Face model folder: config.json, preprocessor_config.json,
                     tokenizer.json and model.safetensors (or model.safetensors.index.json
                     with its shards); generation_config.json, chat_template.jinja,
                     chat_template.json and tokenizer_config.json are copied when present
  --output OUT_DIR   the folder to create; it appears only once complete
  --layout L         the folder layout: qwen-vl (default), the folder above; genai: the
                     same weights as onnxruntime-genai's Qwen2.5-VL folder (vision.onnx,
                     embedding.onnx, text.onnx with its graph names, genai_config.json,
                     processor_config.json, the tokenizer files); or transformers.js:
                     onnx/vision_encoder, onnx/embed_tokens and onnx/decoder_model_merged
                     (+ the dtype suffix of --precision: _fp16, _q4; each with its
                     .onnx_data) with the graph inputs transformers.js feeds, and the
                     configs in its form. Each opens in its runtime, and in qwen-vl
  --precision P      how the text weights are stored: fp32 (default); fp16 (half the
                     files; computation stays float32); int4 (the decoder's linear layers
                     and the embedding table in 4 bits, block-quantized: MatMulNBits and
                     GatherBlockQuantized; a tied lm_head reads the same bytes)
  --vision-precision P
                     the vision tower's: fp32, fp16, int8 or int4 (its blocks' and
                     merger's linear layers quantized); default fp16 with --precision
                     fp16, else fp32
  --block-size N     input elements per quantization scale: 16, 32, 64, 128 or 256
                     (default 32)
  --accuracy-level N MatMulNBits' accuracy_level, 0-4: 0 computes in float32 on the
                     dequantized weights (reproducible), 4 (default) lets the CPU use
                     int8 arithmetic (fast)
  --execution-provider EP
                     the onnxruntime execution provider the text decoder is shaped for:
                     cpu (default) and cuda attend with com.microsoft GroupQueryAttention
                     in the form their kernels take (cuda's: float16), webgpu and dml
                     with plain ONNX ops. The folder then opens on the devices that run
                     its decoder: a cpu build on cpu (and onnxruntime-web's wasm), a cuda
                     build on cuda, cpu and wasm, a webgpu or dml build on any; the
                     others refuse it, naming the build to make. --layout transformers.js
                     (no manifest to record it): webgpu (default) or dml
  --force            replace an existing OUT_DIR (only after the new one is complete);
                     refused when OUT_DIR is HF_DIR, holds it, holds the current or the
                     home folder, or is a git repository
  -h, --help         show this help
`;

export interface BuildCommand {
  input: string;
  output: string;
  layout: FolderLayoutName;
  precision: WeightPrecision;
  visionPrecision: VisionPrecision | undefined;
  blockSize: number | undefined;
  accuracyLevel: AccuracyLevel | undefined;
  executionProvider: ExecutionProvider | undefined;
  force: boolean;
}

const BUILD_OPTIONS = {
  input: { type: 'string' },
  output: { type: 'string' },
  layout: { type: 'string' },
  precision: { type: 'string' },
  'vision-precision': { type: 'string' },
  'block-size': { type: 'string' },
  'accuracy-level': { type: 'string' },
  'execution-provider': { type: 'string' },
  force: { type: 'boolean' },
} as const;

/** `--accuracy-level`'s values as written on the command line. */
const ACCURACY_LEVEL_FLAGS = ACCURACY_LEVELS.map(String);

/** The command the flags given to `build` ask for. */
function buildCommand(values: OptionValues<typeof BUILD_OPTIONS>): BuildCommand {
  if (values.input === undefined) throw new UsageError('build needs --input HF_DIR');
  if (values.output === undefined) throw new UsageError('build needs --output OUT_DIR');
  // An unset shell variable gives "": that would name the current folder.
  if (values.input.trim() === '') throw new UsageError('--input is empty; name the Hugging Face model folder');
  if (values.output.trim() === '') throw new UsageError('--output is empty; name the folder to create');
  const accuracyLevel = choiceFlag(values['accuracy-level'], ACCURACY_LEVEL_FLAGS, '--accuracy-level');
  const layout = choiceFlag(values.layout, BUILD_LAYOUT_NAMES, '--layout') ?? 'qwen-vl';
  const executionProvider = choiceFlag(values['execution-provider'], EXECUTION_PROVIDERS, '--execution-provider');
  const layoutProviders = buildLayout(layout).executionProviders;
  if (executionProvider !== undefined && layoutProviders !== undefined && !layoutProviders.includes(executionProvider)) {
    throw new UsageError(`--execution-provider must be one of ${layoutProviders.join(', ')} with --layout ${layout}, got ${JSON.stringify(executionProvider)}`);
  }
  return {
    input: values.input,
    output: values.output,
    layout,
    precision: choiceFlag(values.precision, WEIGHT_PRECISIONS, '--precision') ?? 'fp32',
    visionPrecision: choiceFlag(values['vision-precision'], VISION_PRECISIONS, '--vision-precision'),
    blockSize: positiveIntegerFlag(values['block-size'], '--block-size'),
    accuracyLevel: accuracyLevel === undefined ? undefined : (Number(accuracyLevel) as AccuracyLevel),
    executionProvider,
    force: values.force === true,
  };
}

function gigabytes(bytes: number): string {
  return bytes >= 1e9 ? `${(bytes / 1e9).toFixed(2)} GB` : `${(bytes / 1e6).toFixed(1)} MB`;
}

function progressText(p: BuildProgress): string {
  const percent = p.totalBytes === 0 ? 100 : Math.floor((100 * p.bytesWritten) / p.totalBytes);
  return `building ${p.part}: ${p.tensorsWritten}/${p.tensorCount} tensors, ${gigabytes(p.bytesWritten)} of ${gigabytes(p.totalBytes)} (${percent}%)`;
}

/**
 * On a terminal, one line rewritten in place; otherwise (a log file, CI) a plain line at
 * every quarter of the bytes, so logs stay short.
 */
export function progressDisplay(write: (text: string) => void, isTTY: boolean): { update: (progress: BuildProgress) => void; end: () => void } {
  let quartersShown = 0;
  let shownOnTerminal = false;
  return {
    update(progress) {
      if (isTTY) {
        write(`\r\x1b[K${progressText(progress)}`);
        shownOnTerminal = true;
        return;
      }
      const quarters = progress.totalBytes === 0 ? 4 : Math.floor((4 * progress.bytesWritten) / progress.totalBytes);
      if (quarters > quartersShown) {
        quartersShown = quarters;
        write(`${progressText(progress)}\n`);
      }
    },
    end() {
      if (shownOnTerminal) write('\n');
    },
  };
}

export const runBuild = subcommand(BUILD_HELP, BUILD_OPTIONS, buildCommand, async (command, output) => {
  // Ctrl-C stops the build cleanly: the temporary folder is removed, OUT_DIR left as it was.
  const display = progressDisplay(output.stderr, process.stderr.isTTY === true);
  const started = performance.now();
  let built;
  try {
    built = await buildModelFolder(command.input, command.output, {
      layout: command.layout,
      precision: command.precision,
      visionPrecision: command.visionPrecision,
      blockSize: command.blockSize,
      accuracyLevel: command.accuracyLevel,
      executionProvider: command.executionProvider,
      force: command.force,
      onProgress: display.update,
      signal: output.signal,
    });
  } finally {
    display.end();
  }
  output.stdout(
    `${JSON.stringify({
      output: built.output,
      layout: command.layout,
      precision: built.manifest.precision,
      vision_precision: built.manifest.visionPrecision,
      ...(built.manifest.quantization === undefined ? {} : { block_size: built.manifest.quantization.blockSize, accuracy_level: built.manifest.quantization.accuracyLevel }),
      execution_provider: built.manifest.executionProvider,
      parts: built.manifest.parts.map((part) => part.name),
      weight_bytes: built.totalBytes,
      seconds: Number(((performance.now() - started) / 1000).toFixed(1)),
    })}\n`,
  );
});
