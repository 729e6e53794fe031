import { parseArgs } from 'node:util';
import type { ParseArgsConfig } from 'node:util';
import { UsageError, isParseArgsError } from './usage-error.js';

/** Where a command writes: the process's streams, or a test's buffers. */
export interface CliOutput {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

type OptionsConfig = NonNullable<ParseArgsConfig['options']>;
/** What `util.parseArgs` gives for `options`: a string, boolean or array per flag given. */
type OptionValues<T extends OptionsConfig> = ReturnType<typeof parseArgs<{ strict: true; allowPositionals: false; options: T }>>['values'];

/** Every subcommand answers -h/--help with its help text instead of running. */
const HELP_OPTION = { help: { type: 'boolean', short: 'h' } } as const;

/**
 * The option values of a subcommand's arguments, or undefined when --help was asked for.
 * Subcommands take no positionals; what `util.parseArgs` rejects (an unknown option, a
 * missing value, a stray argument) is a mistake in the command line, so a UsageError.
 */
export function parseCommandArgs<const T extends OptionsConfig>(args: readonly string[], options: T): OptionValues<T> | undefined {
  let values;
  try {
    ({ values } = parseArgs({ args: [...args], strict: true, allowPositionals: false, options: { ...options, ...HELP_OPTION } }));
  } catch (error) {
    if (isParseArgsError(error)) throw new UsageError(error.message);
    throw error;
  }
  return (values as { help?: boolean }).help === true ? undefined : values;
}

export type Subcommand = (args: readonly string[], output: CliOutput) => Promise<void>;

/**
 * A subcommand from its parser (undefined: --help was asked for) and its work: prints `help`
 * to stdout when asked, runs the parsed command otherwise.
 */
export function subcommand<C>(help: string, parse: (args: readonly string[]) => C | undefined, run: (command: C, output: CliOutput) => Promise<void>): Subcommand {
  return async (args, output) => {
    const command = parse(args);
    if (command === undefined) {
      output.stdout(help);
      return;
    }
    await run(command, output);
  };
}
