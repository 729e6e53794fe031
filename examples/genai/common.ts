// Shared by the examples, as common.py is shared by onnxruntime-genai's Python examples:
// the Config with the provider asked for, and the search options given on the command line.
import { createInterface } from 'node:readline';
import { Config } from '@qwen-vl/node';
import type { GenaiSearchOptions } from '@qwen-vl/node';

/** `-e` / `--execution_provider`: `follow_config` keeps the Config's own (qwen-vl's built folders name none: cpu). */
export const EXECUTION_PROVIDERS = ['follow_config', 'cpu', 'cuda', 'dml', 'webgpu'] as const;
export type ExecutionProvider = (typeof EXECUTION_PROVIDERS)[number];

export function isExecutionProvider(value: string): value is ExecutionProvider {
  return (EXECUTION_PROVIDERS as readonly string[]).includes(value);
}

/** The model folder's Config, its providers replaced by `provider` unless that is `follow_config`. */
export function getConfig(path: string, provider: ExecutionProvider, verbose = false): Config {
  const config = new Config(path);
  if (provider !== 'follow_config') {
    config.clearProviders();
    if (provider !== 'cpu') {
      if (verbose) console.log(`Setting model to ${provider}`);
      config.appendProvider(provider);
    }
  }
  return config;
}

/** The numeric search options given as command-line strings, by their genai names; the others stay unset. */
export function getSearchOptions(values: Readonly<Record<string, string | boolean | string[] | undefined>>): GenaiSearchOptions {
  const options: GenaiSearchOptions = {};
  const number = (name: string): number | undefined => {
    const value = values[name];
    if (typeof value !== 'string') return undefined;
    const parsed = Number(value);
    if (!Number.isFinite(parsed)) throw new Error(`--${name} must be a number, got ${JSON.stringify(value)}`);
    return parsed;
  };
  const set = <K extends keyof GenaiSearchOptions>(key: K, value: GenaiSearchOptions[K] | undefined) => {
    if (value !== undefined) options[key] = value;
  };
  set('maxLength', number('max_length'));
  set('minLength', number('min_length'));
  set('topP', number('top_p'));
  set('topK', number('top_k'));
  set('temperature', number('temperature'));
  set('repetitionPenalty', number('repetition_penalty'));
  set('maxNewTokens', number('max_new_tokens'));
  if (values.do_sample === true) options.doSample = true;
  return options;
}

/** Questions on the terminal, one line each; piped input works too (lines that come early wait their turn). */
export interface Terminal {
  /** The next line after printing `question`; undefined at the end of the input. */
  ask(question: string): Promise<string | undefined>;
  close(): void;
}

export function openTerminal(): Terminal {
  const lines = createInterface({ input: process.stdin, terminal: false });
  const iterator = lines[Symbol.asyncIterator]();
  return {
    async ask(question) {
      process.stdout.write(question);
      const next = await iterator.next();
      return next.done === true ? undefined : next.value;
    },
    close: () => lines.close(),
  };
}
