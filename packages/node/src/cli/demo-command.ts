import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { buildModelFolder, CHECKPOINT_FILES, MODEL_PARTS } from '@qwen-vl/builder';
import { MODEL_FILES, QwenVLError, loadModelConfigs } from '@qwen-vl/core';
import { FORMAT_VERSION, MANIFEST_FILE } from '@qwen-vl/pipeline';
import type { BuildManifest } from '@qwen-vl/pipeline';
import { NodeModelFolder } from '../model-folder.js';
import { QwenVL } from '../qwen-vl.js';
import type { NodeDevice } from '../qwen-vl.js';
import { subcommand } from './command-args.js';
import type { CliOutput, OptionValues } from './command-args.js';
import { integerFlag } from './flag-values.js';
import { deviceFlag, printAnswer, runSearchOptions } from './run-command.js';
import { UsageError } from './usage-error.js';

/** The environment variable that moves the cache (the --cache flag wins over it). */
export const CACHE_ENV = 'QWEN_VL_CACHE';
/** The file beside an image that lists, by image file name, the questions the demo asks about it. */
export const QUESTIONS_FILE = 'shapes.json';
/** The file beside the build that records the checkpoint it was built from. */
export const CHECKPOINT_STAMP = 'checkpoint.json';
/** The checkpoint's files whose content the stamp records: a change to one of them means the build is stale. */
export const STAMPED_FILES: readonly string[] = [CHECKPOINT_FILES.single, MODEL_FILES.config, MODEL_FILES.preprocessor, MODEL_FILES.generation];
/**
 * What the demo's build is shaped for: the plain-op decoder, which every device runs, so that
 * one cached build serves every --device and the browser demo (WebGPU included).
 */
const DEMO_EXECUTION_PROVIDER = 'webgpu';
/** The model card section printed before the answers. */
const CARD_SECTION = 'What it knows';

export const DEMO_HELP = `Usage: qwen-vl demo --checkpoint DIR --image PATH [--prompt TEXT ...] [options]

Builds the Hugging Face Qwen2.5-VL folder DIR as "qwen-vl build --execution-provider
webgpu" does, whose decoder every device runs (once: the build is cached, and made again
when DIR's weights or configs change; the browser demo serves the same build), prints the "${CARD_SECTION}"
section of DIR/README.md (the model card) when it has one, then asks each question about
the image, each in a chat of its own, with greedy decoding, printing "Q: <question>" and
streaming the answer. In this repository, "pnpm demo" runs it on models/tiny-shapes.

Options:
  --checkpoint DIR      a Hugging Face Qwen2.5-VL folder (model.safetensors, config.json,
                        preprocessor_config.json, tokenizer files), e.g. models/tiny-shapes
  --image PATH          the image to ask about
  --prompt TEXT         a question; repeat for several (default: the questions listed for
                        the image's file name in the ${QUESTIONS_FILE} beside it)
  --max-new-tokens N    answer length (default: DIR's generation_config.json, else 512)
  --cache DIR           where the build is kept (default: $${CACHE_ENV}, else .cache in
                        the current folder); it goes to DIR/<checkpoint folder name>/model
  --device D            cpu (default), cuda, dml or webgpu
  -h, --help            show this help
`;

export interface DemoCommand {
  checkpoint: string;
  image: string;
  /** The questions given with --prompt; none asks the ones of the image's questions file. */
  prompts: string[];
  maxNewTokens: number | undefined;
  /** The checkpoint's folder in the cache: the build is its `model/`. */
  cache: string;
  device: NodeDevice;
}

const DEMO_OPTIONS = {
  checkpoint: { type: 'string' },
  image: { type: 'string' },
  prompt: { type: 'string', multiple: true },
  'max-new-tokens': { type: 'string' },
  cache: { type: 'string' },
  device: { type: 'string' },
} as const;

/** The command the flags given to `demo` ask for, in the environment `env`. */
function demoCommand(values: OptionValues<typeof DEMO_OPTIONS>, env: Readonly<Record<string, string | undefined>>): DemoCommand {
  if (values.checkpoint === undefined) throw new UsageError('demo needs --checkpoint DIR (a Hugging Face Qwen2.5-VL folder, e.g. models/tiny-shapes)');
  if (values.image === undefined) throw new UsageError('demo needs --image PATH');
  const cacheRoot = values.cache ?? (env[CACHE_ENV] !== undefined && env[CACHE_ENV] !== '' ? env[CACHE_ENV] : '.cache');
  return {
    checkpoint: values.checkpoint,
    image: values.image,
    prompts: values.prompt ?? [],
    maxNewTokens: integerFlag(values['max-new-tokens'], '--max-new-tokens', 1),
    cache: resolve(cacheRoot, basename(resolve(values.checkpoint))),
    device: deviceFlag(values.device),
  };
}

function isMissing(error: unknown): boolean {
  return (error as NodeJS.ErrnoException).code === 'ENOENT';
}

/** The questions `QUESTIONS_FILE` beside `image` lists for it: `{"<file name>": [{"question": ...}, ...]}`; undefined without that file or entry. */
export async function listedQuestions(image: string): Promise<string[] | undefined> {
  const file = join(dirname(image), QUESTIONS_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if (isMissing(error)) return undefined;
    throw error;
  }
  let listed: unknown;
  try {
    listed = JSON.parse(text);
  } catch (error) {
    throw new QwenVLError('INVALID_ARGUMENT', `is not valid JSON (${(error as Error).message})`, { source: file, cause: error });
  }
  const name = basename(image);
  if (typeof listed !== 'object' || listed === null || !Object.hasOwn(listed, name)) return undefined;
  const entries = (listed as Record<string, unknown>)[name];
  const questions = Array.isArray(entries) ? entries.map((entry) => (entry as { question?: unknown } | null)?.question) : [];
  if (questions.length === 0 || !questions.every((question) => typeof question === 'string' && question !== '')) {
    throw new QwenVLError('INVALID_ARGUMENT', `entry ${JSON.stringify(name)} must be a list of {"question": TEXT, ...}`, { source: file });
  }
  return questions as string[];
}

/** The demo's questions: --prompt's, else the listed ones; neither is a usage error naming --prompt. */
async function demoQuestions(command: DemoCommand): Promise<string[]> {
  if (command.prompts.length > 0) return command.prompts;
  const listed = await listedQuestions(command.image);
  if (listed === undefined) throw new UsageError(`demo needs --prompt TEXT: no ${QUESTIONS_FILE} beside ${command.image} lists questions for it`);
  return listed;
}

/** Whether `model` is a complete build of what this version exports (a stale cache is rebuilt). */
async function isCurrentBuild(model: string): Promise<boolean> {
  try {
    const manifest = JSON.parse(await readFile(join(model, MANIFEST_FILE), 'utf8')) as BuildManifest;
    const parts = manifest.parts.map((part) => part.name);
    return manifest.formatVersion === FORMAT_VERSION && manifest.executionProvider === DEMO_EXECUTION_PROVIDER && MODEL_PARTS.every((part) => parts.includes(part.name));
  } catch {
    return false;
  }
}

/** The sha256 (hex) of each of the checkpoint's `STAMPED_FILES` that exists. */
async function checkpointHashes(checkpoint: string): Promise<Record<string, string>> {
  const hashes: Record<string, string> = {};
  for (const name of STAMPED_FILES) {
    const hash = createHash('sha256');
    try {
      for await (const chunk of createReadStream(join(checkpoint, name))) hash.update(chunk as Buffer);
    } catch (error) {
      if (isMissing(error)) continue;
      throw error;
    }
    hashes[name] = hash.digest('hex');
  }
  return hashes;
}

/** The hashes the stamp in `cache` records, or undefined when there is no readable stamp. */
async function stampedHashes(cache: string): Promise<Record<string, string> | undefined> {
  try {
    const stamp = JSON.parse(await readFile(join(cache, CHECKPOINT_STAMP), 'utf8')) as { sha256?: Record<string, string> };
    return stamp.sha256;
  } catch {
    return undefined;
  }
}

function sameHashes(a: Record<string, string>, b: Record<string, string>): boolean {
  const names = Object.keys(a);
  return names.length === Object.keys(b).length && names.every((name) => a[name] === b[name]);
}

/**
 * The build of `checkpoint` in `cache` (its `model/`), made when there is none, when it is
 * not a current build, or when the checkpoint's files differ from those it was built from
 * (`CHECKPOINT_STAMP`, written once the build is complete). The build is atomic and the
 * stamp comes after it, so an interrupted run is simply redone.
 */
export async function ensureDemoModel(checkpoint: string, cache: string, output: CliOutput): Promise<string> {
  await NodeModelFolder.open(checkpoint);
  const model = join(cache, 'model');
  const hashes = await checkpointHashes(checkpoint);
  const stamped = await stampedHashes(cache);
  const current = await isCurrentBuild(model);
  if (current && stamped !== undefined && sameHashes(stamped, hashes)) return model;
  const why = current && stamped !== undefined ? `${checkpoint} changed since it was built; ` : '';
  output.stderr(`qwen-vl demo: ${why}building ${checkpoint} into ${model}\n`);
  await mkdir(cache, { recursive: true });
  await buildModelFolder(checkpoint, model, { executionProvider: DEMO_EXECUTION_PROVIDER, force: true, signal: output.signal });
  await writeFile(join(cache, CHECKPOINT_STAMP), `${JSON.stringify({ checkpoint: resolve(checkpoint), sha256: hashes }, null, 2)}\n`);
  return model;
}

/** The `## What it knows` section of a model card (heading included, surrounding blank lines dropped), or undefined. */
export function cardSection(card: string, title = CARD_SECTION): string | undefined {
  const lines = card.split(/\r?\n/);
  const start = lines.findIndex((line) => line.trim() === `## ${title}`);
  if (start < 0) return undefined;
  const length = lines.slice(start + 1).findIndex((line) => /^#{1,2}\s/.test(line));
  return lines
    .slice(start, length < 0 ? undefined : start + 1 + length)
    .join('\n')
    .trim();
}

/** The card section of the checkpoint's README.md, or undefined when it has no card or no such section. */
async function whatItKnows(checkpoint: string): Promise<string | undefined> {
  try {
    return cardSection(await readFile(join(checkpoint, 'README.md'), 'utf8'));
  } catch (error) {
    if (isMissing(error)) return undefined;
    throw error;
  }
}

export const runDemo = subcommand(
  DEMO_HELP,
  DEMO_OPTIONS,
  (values) => demoCommand(values, process.env),
  async (command, output) => {
    const questions = await demoQuestions(command);
    const model = await ensureDemoModel(command.checkpoint, command.cache, output);
    const card = await whatItKnows(command.checkpoint);
    if (card !== undefined) output.stderr(`${card}\n\n`);

    const { model: config, generation } = await loadModelConfigs(await NodeModelFolder.open(model));
    const search = runSearchOptions({ ...(command.maxNewTokens !== undefined && { maxNewTokens: command.maxNewTokens }), greedy: true }, generation, config.text.maxPositionEmbeddings);
    const qwen = await QwenVL.load(model, { device: command.device });
    try {
      for (const question of questions) {
        output.stdout(`Q: ${question}\n`);
        const stream = qwen.chatStream(
          [
            {
              role: 'user',
              content: [
                { type: 'image', image: command.image },
                { type: 'text', text: question },
              ],
            },
          ],
          { ...search, signal: output.signal },
        );
        await printAnswer(stream, output, 'demo');
      }
    } finally {
      await qwen.dispose();
    }
  },
);
