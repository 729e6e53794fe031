import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { COMMANDS } from '../src/cli/run.js';
import { MODEL_DIR } from '@qwen-vl/test-support';
import { runCli } from './helpers/cli.js';

const ROOT_README = new URL('../../../README.md', import.meta.url);

/**
 * The flags each command of the root README's CLI summary (the sh block of "## The CLI")
 * names: its `pnpm qwen-vl COMMAND ...` lines, `\` continuations joined, comments dropped.
 */
function readmeSummaryFlags(): Map<string, string[]> {
  const section = readFileSync(ROOT_README, 'utf8')
    .split(/^## /m)
    .find((text) => text.startsWith('The CLI\n'));
  const block = /^```sh\n([\s\S]*?)^```$/m.exec(section ?? '')?.[1];
  if (block === undefined) throw new Error('README.md has no sh block under "## The CLI"');
  const summary = new Map<string, string[]>();
  for (const line of block.replace(/\\\n\s*/g, ' ').split('\n')) {
    const usage = /^pnpm qwen-vl (\w+)([^#]*)/.exec(line);
    if (usage !== null) summary.set(usage[1], [...new Set(usage[2].match(/--[a-z][a-z-]*/g))].sort());
  }
  return summary;
}

describe('qwen-vl', () => {
  it('--version and -v print the version of @qwen-vl/node', async () => {
    const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
    for (const flag of ['--version', '-v']) {
      const result = await runCli([flag]);
      expect(result).toEqual({ code: 0, stdout: `${version}\n`, stderr: '' });
    }
  });

  it("the root README's CLI summary names every command and exactly the flags its parser takes", () => {
    const parsers = new Map(
      [...COMMANDS].map(([name, command]) => [
        name,
        Object.keys(command.options)
          .map((option) => `--${option}`)
          .sort(),
      ]),
    );
    expect(parsers.get('run')).toContain('--repetition-penalty');
    expect(readmeSummaryFlags()).toEqual(parsers);
  });

  // util.parseArgs alone refuses these as "ambiguous" before the flag's own check can say what it needs.
  it.each([
    ['--max-new-tokens -3', ['run', '--model', 'm', '--prompt', 'x', '--max-new-tokens', '-3'], '--max-new-tokens must be an integer ≥ 1, got "-3"'],
    ['--max-new-tokens=-3', ['run', '--model', 'm', '--prompt', 'x', '--max-new-tokens=-3'], '--max-new-tokens must be an integer ≥ 1, got "-3"'],
    ['--top-k -1', ['run', '--model', 'm', '--prompt', 'x', '--top-k', '-1'], '--top-k must be an integer ≥ 0, got "-1"'],
    ['--fps -.5', ['run', '--model', 'm', '--prompt', 'x', '--fps', '-.5'], '--fps must be a positive number, got "-.5"'],
    ['--min-pixels -5', ['prepare', '--model', 'm', '--prompt', 'x', '--min-pixels', '-5'], '--min-pixels must be a positive integer, got "-5"'],
  ])("takes the negative number after a flag as its value and refuses it by the flag's rule: %s", async (_name, args, message) => {
    const result = await runCli(args);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(`qwen-vl: ${message} (see "qwen-vl ${args[0]} --help")\n`);
  });

  it.each(['0', '-1'])('words the refusal of --temperature %s for the command line: it suggests --greedy', async (temperature) => {
    // The search options are checked against generation_config.json before any model is loaded.
    const result = await runCli(['run', '--model', MODEL_DIR, '--prompt', 'x', '--temperature', temperature]);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(`qwen-vl: --temperature: must be > 0 when sampling, got ${temperature}; use --greedy for deterministic decoding (see "qwen-vl run --help")\n`);
  });
});
