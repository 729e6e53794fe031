import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { buildModelFolder, MODEL_PARTS, writeTinyModelFolder } from '@qwen-vl/builder';
import { FORMAT_VERSION, MANIFEST_FILE } from '@qwen-vl/pipeline';
import type { BuildManifest } from '@qwen-vl/pipeline';
import { runRun } from './run-command.js';
import { subcommand } from './command-args.js';
import type { OptionValues } from './command-args.js';
import { UsageError } from './usage-error.js';

/** Seed of the demo's random checkpoint: every machine gets the same model, and the same answer. */
export const DEMO_SEED = 42;
/** The environment variable that moves the cache (the --cache flag wins over it). */
export const CACHE_ENV = 'QWEN_VL_CACHE';

const DEFAULT_PROMPT = 'What is in this picture?';
const DEFAULT_MAX_NEW_TOKENS = '24';

export const DEMO_HELP = `Usage: qwen-vl demo --tokenizer DIR --image PATH [options]

Runs the whole pipeline with no download: generates a tiny Qwen2.5-VL checkpoint with
random weights (fixed seed), builds it as "qwen-vl build" does, and runs the image and a
prompt through it as "qwen-vl run" does, streaming the answer. Random weights answer with
random tokens: the output is noise; it shows the machinery works. The built model is
cached, so only the first run generates and builds it.

Options:
  --tokenizer DIR       a folder with the Qwen2.5 tokenizer files (tokenizer.json,
                        tokenizer_config.json, chat_template.json), e.g. any
                        Qwen2.5-VL checkpoint folder
  --image PATH          the image to ask about
  --prompt TEXT         the question (default: "${DEFAULT_PROMPT}")
  --max-new-tokens N    answer length (default ${DEFAULT_MAX_NEW_TOKENS})
  --cache DIR           where the tiny model is kept (default: $${CACHE_ENV}, else
                        .cache in the current folder); it goes to DIR/tiny-default
  --device D            cpu (default), cuda, dml or webgpu
  -h, --help            show this help
`;

export interface DemoCommand {
  tokenizer: string;
  image: string;
  prompt: string;
  maxNewTokens: string;
  cache: string;
  device: string | undefined;
}

const DEMO_OPTIONS = {
  tokenizer: { type: 'string' },
  image: { type: 'string' },
  prompt: { type: 'string' },
  'max-new-tokens': { type: 'string' },
  cache: { type: 'string' },
  device: { type: 'string' },
} as const;

/** The command the flags given to `demo` ask for, in the environment `env`. */
function demoCommand(values: OptionValues<typeof DEMO_OPTIONS>, env: Readonly<Record<string, string | undefined>>): DemoCommand {
  if (values.tokenizer === undefined) throw new UsageError('demo needs --tokenizer DIR (a folder with the Qwen2.5 tokenizer files)');
  if (values.image === undefined) throw new UsageError('demo needs --image PATH');
  const cacheRoot = values.cache ?? (env[CACHE_ENV] !== undefined && env[CACHE_ENV] !== '' ? env[CACHE_ENV] : '.cache');
  return {
    tokenizer: values.tokenizer,
    image: values.image,
    prompt: values.prompt ?? DEFAULT_PROMPT,
    maxNewTokens: values['max-new-tokens'] ?? DEFAULT_MAX_NEW_TOKENS,
    cache: resolve(cacheRoot, 'tiny-default'),
    device: values.device,
  };
}

/** Whether `model` is a complete build of what this version exports (a stale cache is rebuilt). */
async function isCurrentBuild(model: string): Promise<boolean> {
  try {
    const manifest = JSON.parse(await readFile(join(model, MANIFEST_FILE), 'utf8')) as BuildManifest;
    const parts = manifest.parts.map((part) => part.name);
    return manifest.formatVersion === FORMAT_VERSION && MODEL_PARTS.every((part) => parts.includes(part.name));
  } catch {
    return false;
  }
}

/**
 * The built tiny model in `cache`: `checkpoint/` (the generated Hugging Face folder) and
 * `model/` (its build), made on first use. The build is atomic, so an interrupted first run
 * is simply redone.
 */
export async function ensureDemoModel(cache: string, tokenizer: string, log: (line: string) => void): Promise<string> {
  const model = join(cache, 'model');
  if (await isCurrentBuild(model)) return model;
  const checkpoint = join(cache, 'checkpoint');
  log(`qwen-vl demo: generating a tiny random checkpoint (seed ${DEMO_SEED}) in ${checkpoint}\n`);
  await writeTinyModelFolder(checkpoint, tokenizer, { seed: DEMO_SEED });
  log(`qwen-vl demo: building it into ${model}\n`);
  await buildModelFolder(checkpoint, model, { force: true });
  return model;
}

export const runDemo = subcommand(
  DEMO_HELP,
  DEMO_OPTIONS,
  (values) => demoCommand(values, process.env),
  async (command, output) => {
    const model = await ensureDemoModel(command.cache, command.tokenizer, output.stderr);
    output.stderr(`qwen-vl demo: random weights, so the answer is noise:\n`);
    await runRun.run(
      [
        '--model',
        model,
        '--image',
        command.image,
        '--prompt',
        command.prompt,
        '--max-new-tokens',
        command.maxNewTokens,
        '--seed',
        String(DEMO_SEED),
        ...(command.device !== undefined ? ['--device', command.device] : []),
      ],
      output,
    );
  },
);
