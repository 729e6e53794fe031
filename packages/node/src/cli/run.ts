import { createRequire } from 'node:module';
import { runBuild } from './build-command.js';
import type { CliOutput, Subcommand } from './command-args.js';
import { runDemo } from './demo-command.js';
import { runPrepare } from './prepare-command.js';
import { runRun } from './run-command.js';
import { runServe } from './serve-command.js';
import { isQwenVLError } from '@qwen-vl/core';
import { UsageError } from './usage-error.js';

const HELP = `Usage: qwen-vl <command> [options]

Commands:
  build      export a Hugging Face checkpoint to the ONNX models qwen-vl runs
  run        answer a prompt about images with a built model, streaming the answer
  prepare    turn images and a prompt into model inputs; print a summary, optionally dump .npy
  demo       build a checkpoint once (cached) and ask it questions about an image
  serve      serve a built model over HTTP with OpenAI's chat completions API

Run "qwen-vl <command> --help" for the options of a command, "qwen-vl --version" for the
version of qwen-vl.
`;

/** The version of @qwen-vl/node, read from its package.json so that it is the published one. */
const VERSION = (createRequire(import.meta.url)('../../package.json') as { version: string }).version;

export const COMMANDS: ReadonlyMap<string, Subcommand> = new Map([
  ['build', runBuild],
  ['run', runRun],
  ['prepare', runPrepare],
  ['demo', runDemo],
  ['serve', runServe],
]);

/** Collapses a message to the one line the CLI promises on stderr. */
function oneLine(message: string): string {
  return message.replace(/\s*\n\s*/g, '; ');
}

/**
 * Runs the CLI and returns its exit code: 0 on success, 1 when the work fails (unreadable
 * image, missing model file, bad config field...), 2 for a malformed command line, 130 when
 * `output.signal` stopped it.
 */
export async function runCli(argv: readonly string[], output: CliOutput): Promise<number> {
  const [name, ...args] = argv;
  if (name === '-h' || name === '--help') {
    output.stdout(HELP);
    return 0;
  }
  // -v as node, npm and pnpm spell it.
  if (name === '-v' || name === '--version') {
    output.stdout(`${VERSION}\n`);
    return 0;
  }
  const command = name === undefined ? undefined : COMMANDS.get(name);
  if (command === undefined) {
    output.stderr(name === undefined ? HELP : `qwen-vl: unknown command ${JSON.stringify(name)}\n${HELP}`);
    return 2;
  }
  try {
    await command.run(args, output);
    return 0;
  } catch (error) {
    if (error instanceof UsageError) {
      output.stderr(`qwen-vl: ${oneLine(error.message)} (see "qwen-vl ${name} --help")\n`);
      return 2;
    }
    output.stderr(`qwen-vl: ${oneLine(error instanceof Error ? error.message : String(error))}\n`);
    // 128 + SIGINT, as shells report a command stopped by Ctrl-C.
    return isQwenVLError(error, 'ABORTED') ? 130 : 1;
  }
}
