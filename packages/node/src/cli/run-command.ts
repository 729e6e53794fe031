import { QwenVLError, hostTensor } from '@qwen-vl/core';
import type { GenerationConfig } from '@qwen-vl/core';
import { TRANSFORMERS_JS_DTYPES, TRANSFORMERS_JS_PARTS, loadFolderConfigs } from '@qwen-vl/pipeline';
import type { TransformersJsDtype, TransformersJsDtypeChoice, TransformersJsModelName } from '@qwen-vl/pipeline';
import { resolveSearchOptions } from '@qwen-vl/decoder';
import type { SearchOptionNames, SearchOptionsInput } from '@qwen-vl/decoder';
import { DEFAULT_MAX_NEW_TOKENS, withDefaultLength } from '../default-length.js';
import { assertDumpTargetFree, writeNpyFolder } from '../dump.js';
import { NodeModelFolder } from '../model-folder.js';
import { NODE_DEVICES, QwenVL } from '../qwen-vl.js';
import type { ChatResult, ChatStream, NodeDevice } from '../qwen-vl.js';
import { subcommand } from './command-args.js';
import type { CliOutput, OptionValues } from './command-args.js';
import { choiceFlag, decimalFlag, integerFlag } from './flag-values.js';
import { UsageError } from './usage-error.js';

export { DEFAULT_MAX_NEW_TOKENS } from '../default-length.js';

export const RUN_HELP = `Usage: qwen-vl run --model DIR [--image PATH ...] [--video FRAMES ...] --prompt TEXT [options]

Runs Qwen2.5-VL on images, videos and a prompt and streams the answer to stdout. DIR is a folder
made by "qwen-vl build" (any --layout), by onnxruntime-genai's model builder, or a transformers.js
(onnx-community) one. Search options not given come from DIR/generation_config.json
(genai_config.json's "search" in a genai folder).

Options:
  --model DIR               model folder written by "qwen-vl build" (any --layout), a genai
                            folder, or a transformers.js one (onnx/*.onnx)
  --image PATH              an image file (JPEG, PNG, WebP, GIF, AVIF, TIFF); repeat for
                            several images, in prompt order; none for a text-only prompt
  --video FRAMES            a video as its sampled frames: image files separated by commas,
                            in time order; repeat for several videos, placed after the images
  --fps F                   the rate the --video frames were sampled at (default 2)
  --prompt TEXT             the user's text, placed after the images and videos
  --system TEXT             system prompt (default: the chat template's own)
  --max-new-tokens N        stop after N new tokens (default: generation_config.json's
                            limit, else ${DEFAULT_MAX_NEW_TOKENS})
  --temperature T           sampling temperature (> 0)
  --top-p P                 nucleus sampling: keep the most likely tokens up to mass P (0 < P <= 1)
  --top-k K                 keep the K most likely tokens (0: no limit)
  --repetition-penalty R    penalty on tokens already in the sequence (1: none)
  --seed S                  seed of the sampler, for repeatable sampled answers
  --greedy                  pick the most likely token each step (no sampling), whatever
                            generation_config.json says
  --ignore-eos              keep generating through end-of-sequence tokens until the
                            length limit (for comparisons over a fixed token count)
  --device D                cpu (default), cuda, dml or webgpu
  --dtype D                 transformers.js folders: the models to run by their dtype (file
                            suffix: ${TRANSFORMERS_JS_DTYPES.join(', ')}), or one per model as
                            MODEL=D,... (vision_encoder, embed_tokens, decoder_model_merged);
                            default config.json's transformers.js_config.dtype, else fp32
  --json                    print one JSON object at the end instead of streaming:
                            {"tokens", "logprobs", "text", "finish_reason", "prompt_tokens", "timings"}
  --dump OUT                also write each step's raw logits as OUT/logits.npy
                            (float32 [steps, vocab]) into the new folder OUT
  -h, --help                show this help
`;

export interface RunCommand {
  model: string;
  images: string[];
  /** Each video's frame files. */
  videos: string[][];
  fps: number | undefined;
  prompt: string;
  system: string | undefined;
  search: SearchOptionsInput;
  device: NodeDevice;
  dtype: TransformersJsDtypeChoice | undefined;
  json: boolean;
  dump: string | undefined;
}

/** The command-line flag of each search option, so a bad value is reported as the user typed it. */
const FLAGS: Readonly<Record<string, string>> = {
  maxNewTokens: '--max-new-tokens',
  temperature: '--temperature',
  topP: '--top-p',
  topK: '--top-k',
  repetitionPenalty: '--repetition-penalty',
  randomSeed: '--seed',
  greedy: '--greedy',
  ignoreEos: '--ignore-eos',
};

/** The search options as this command line spells them: its flags, and --greedy as the way to greedy decoding. */
const FLAG_NAMES: SearchOptionNames = {
  option: (name) => FLAGS[name] ?? name,
  greedy: FLAGS.greedy,
};

const RUN_OPTIONS = {
  model: { type: 'string' },
  image: { type: 'string', multiple: true },
  video: { type: 'string', multiple: true },
  fps: { type: 'string' },
  prompt: { type: 'string' },
  system: { type: 'string' },
  'max-new-tokens': { type: 'string' },
  temperature: { type: 'string' },
  'top-p': { type: 'string' },
  'top-k': { type: 'string' },
  'repetition-penalty': { type: 'string' },
  seed: { type: 'string' },
  greedy: { type: 'boolean' },
  'ignore-eos': { type: 'boolean' },
  device: { type: 'string' },
  dtype: { type: 'string' },
  json: { type: 'boolean' },
  dump: { type: 'string' },
} as const;

/** The --device flag's value: cpu when absent, one of the devices onnxruntime-node knows otherwise. */
export function deviceFlag(value: string | undefined): NodeDevice {
  return choiceFlag(value, NODE_DEVICES, '--device') ?? 'cpu';
}

/** The --dtype flag's value: a dtype for every model, or `MODEL=DTYPE` pairs separated by commas; undefined when absent. */
export function dtypeFlag(value: string | undefined): TransformersJsDtypeChoice | undefined {
  if (value === undefined || !value.includes('=')) return choiceFlag(value, TRANSFORMERS_JS_DTYPES, '--dtype');
  const models = Object.values(TRANSFORMERS_JS_PARTS);
  const choice: Partial<Record<TransformersJsModelName, TransformersJsDtype>> = {};
  for (const pair of value.split(',')) {
    const [model, dtype, ...rest] = pair.split('=');
    if (rest.length > 0 || !(models as readonly string[]).includes(model)) {
      throw new UsageError(`--dtype must be a dtype or MODEL=DTYPE pairs with MODEL one of ${models.join(', ')}, got ${JSON.stringify(pair)}`);
    }
    choice[model as TransformersJsModelName] = choiceFlag(dtype, TRANSFORMERS_JS_DTYPES, `--dtype ${model}`);
  }
  return choice;
}

/** The command the flags given to `run` ask for. */
function runCommand(values: OptionValues<typeof RUN_OPTIONS>): RunCommand {
  if (values.model === undefined) throw new UsageError('run needs --model DIR');
  if (values.prompt === undefined) throw new UsageError('run needs --prompt TEXT');
  const videos = (values.video ?? []).map((frames) => frames.split(','));
  if (videos.some((frames) => frames.some((frame) => frame === ''))) throw new UsageError('--video must be frame files separated by commas, with none empty');
  const fps = decimalFlag(values.fps, '--fps');
  if (fps !== undefined && !(fps > 0)) throw new UsageError(`--fps must be a positive number, got ${JSON.stringify(values.fps)}`);
  const device = deviceFlag(values.device);
  const search: SearchOptionsInput = {
    maxNewTokens: integerFlag(values['max-new-tokens'], '--max-new-tokens', 1),
    temperature: decimalFlag(values.temperature, '--temperature'),
    topP: decimalFlag(values['top-p'], '--top-p'),
    topK: integerFlag(values['top-k'], '--top-k', 0),
    repetitionPenalty: decimalFlag(values['repetition-penalty'], '--repetition-penalty'),
    randomSeed: integerFlag(values.seed, '--seed', 0),
    ...(values.greedy === true && { greedy: true }),
    ...(values['ignore-eos'] === true && { ignoreEos: true }),
  };
  return {
    model: values.model,
    images: values.image ?? [],
    videos,
    fps,
    prompt: values.prompt,
    system: values.system,
    search: Object.fromEntries(Object.entries(search).filter(([, value]) => value !== undefined)),
    device,
    dtype: dtypeFlag(values.dtype),
    json: values.json === true,
    dump: values.dump,
  };
}

/**
 * The search options of the run, checked against generation_config.json before any model is
 * loaded. A value the options reject is a command-line mistake, reported with its flag.
 */
export function runSearchOptions(search: SearchOptionsInput, generation: GenerationConfig, contextLength: number): SearchOptionsInput {
  const options = withDefaultLength(search, generation);
  try {
    resolveSearchOptions(options, generation, contextLength, FLAG_NAMES);
  } catch (error) {
    const aboutFlag = error instanceof QwenVLError && error.code === 'INVALID_ARGUMENT' && Object.values(FLAGS).includes(error.source ?? '');
    throw aboutFlag ? new UsageError(error.message, { cause: error }) : error;
  }
  return options;
}

/** The --json object: Hugging Face-style snake_case keys, timings in milliseconds. */
export function resultJson(result: ChatResult): Record<string, unknown> {
  return {
    tokens: result.tokens,
    logprobs: result.logprobs,
    text: result.text,
    finish_reason: result.finishReason,
    prompt_tokens: result.promptTokenIds.length,
    timings: result.timings,
  };
}

/**
 * Writes the answer of `stream` to stdout: its text as it is generated, then a newline, or
 * with `json` nothing until the end and then one JSON object. An answer stopped by the
 * command's signal fails with ABORTED (about `command`) once what was generated is written.
 */
export async function printAnswer(stream: ChatStream, output: CliOutput, command: string, json = false): Promise<ChatResult> {
  for await (const chunk of stream) {
    if (!json && chunk.text !== '') output.stdout(chunk.text);
  }
  const result = await stream.result;
  output.stdout(json ? `${JSON.stringify(resultJson(result))}\n` : '\n');
  if (result.finishReason === 'aborted') throw new QwenVLError('ABORTED', 'stopped; the answer above is what was generated before', { source: command });
  return result;
}

export const runRun = subcommand(RUN_HELP, RUN_OPTIONS, runCommand, async (command, output) => {
  if (command.dump !== undefined) await assertDumpTargetFree(command.dump);
  const { model: config, generation } = await loadFolderConfigs(await NodeModelFolder.open(command.model));
  const search = runSearchOptions(command.search, generation, config.text.maxPositionEmbeddings);

  const model = await QwenVL.load(command.model, { device: command.device, dtype: command.dtype });
  try {
    const steps: Float32Array[] = [];
    const stream = model.chatStream(
      [
        {
          role: 'user',
          content: [
            ...command.images.map((image) => ({ type: 'image' as const, image })),
            ...command.videos.map((video) => ({ type: 'video' as const, video, ...(command.fps !== undefined && { fps: command.fps }) })),
            { type: 'text' as const, text: command.prompt },
          ],
        },
      ],
      {
        ...search,
        system: command.system,
        logprobs: command.json,
        signal: output.signal,
        ...(command.dump !== undefined && { onStepLogits: (_step: number, logits: Float32Array) => steps.push(logits.slice()) }),
      },
    );
    await printAnswer(stream, output, 'run', command.json);
    if (command.dump !== undefined) {
      const vocab = config.text.vocabSize;
      const logits = new Float32Array(steps.length * vocab);
      steps.forEach((step, k) => logits.set(step, k * vocab));
      await writeNpyFolder(command.dump, { logits: hostTensor('float32', logits, [steps.length, vocab]) }, output.signal);
    }
  } finally {
    await model.dispose();
  }
});
