import { parseArgs } from 'node:util';
import type { ParseArgsConfig } from 'node:util';
import { UsageError, isParseArgsError } from './usage-error.js';

/** Where a command writes (the process's streams, or a test's buffers), and what stops it. */
export interface CliOutput {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /**
   * Aborted on Ctrl-C or SIGTERM: the command stops at the next safe point and removes what
   * it had half-written (its temporary folders), then fails with ABORTED.
   */
  readonly signal?: AbortSignal;
}

type OptionsConfig = NonNullable<ParseArgsConfig['options']>;
/** What `util.parseArgs` gives for `options`: a string, boolean or array per flag given. */
export type OptionValues<T extends OptionsConfig> = ReturnType<typeof parseArgs<{ strict: true; allowPositionals: false; options: T }>>['values'];

/** Every subcommand answers -h/--help with its help text instead of running. */
const HELP_OPTION = { help: { type: 'boolean', short: 'h' } } as const;

/** A value that starts like a negative number: `-3`, `-0.5`, `-.5`, `-1e-3`. */
const NEGATIVE_NUMBER = /^-\.?[0-9]/;

/**
 * `util.parseArgs` refuses a value that starts with "-" after a flag ("argument is
 * ambiguous"), so `--max-new-tokens -3` would never reach the flag's own check, which says
 * what the value must be. No option is spelled like a number, so a negative number after a
 * flag that takes a value is that flag's value: it is joined as `--flag=-3`, the form
 * parseArgs takes.
 */
function joinNegativeValues(args: readonly string[], options: OptionsConfig): string[] {
  const joined: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    // After "--" every argument is a positional.
    if (arg === '--') return [...joined, ...args.slice(i)];
    const name = arg.startsWith('--') ? arg.slice(2) : '';
    const takesValue = Object.hasOwn(options, name) && options[name].type === 'string';
    const next = args[i + 1];
    if (takesValue && next !== undefined && NEGATIVE_NUMBER.test(next)) {
      joined.push(`${arg}=${next}`);
      i++;
    } else {
      joined.push(arg);
    }
  }
  return joined;
}

/**
 * The option values of a subcommand's arguments, or undefined when --help was asked for.
 * Subcommands take no positionals; what `util.parseArgs` rejects (an unknown option, a
 * missing value, a stray argument) is a mistake in the command line, so a UsageError.
 */
function parseCommandArgs<const T extends OptionsConfig>(args: readonly string[], options: T): OptionValues<T> | undefined {
  let values;
  try {
    ({ values } = parseArgs({ args: joinNegativeValues(args, options), strict: true, allowPositionals: false, options: { ...options, ...HELP_OPTION } }));
  } catch (error) {
    if (isParseArgsError(error)) throw new UsageError(error.message);
    throw error;
  }
  return (values as { help?: boolean }).help === true ? undefined : values;
}

export interface Subcommand {
  /** The flags the command takes besides -h/--help (the root README's CLI summary is checked against them). */
  readonly options: OptionsConfig;
  run(args: readonly string[], output: CliOutput): Promise<void>;
}

/**
 * A subcommand from its flags, what it makes of their values (throwing a UsageError for a
 * bad one) and its work: prints `help` to stdout when asked, runs the command otherwise.
 */
export function subcommand<const T extends OptionsConfig, C>(help: string, options: T, interpret: (values: OptionValues<T>) => C, run: (command: C, output: CliOutput) => Promise<void>): Subcommand {
  return {
    options,
    async run(args, output) {
      const values = parseCommandArgs(args, options);
      if (values === undefined) {
        output.stdout(help);
        return;
      }
      await run(interpret(values), output);
    },
  };
}
