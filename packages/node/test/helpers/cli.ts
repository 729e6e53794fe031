import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The built CLI, run as users run it (the package's `build` must have run first). */
const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `qwen-vl ARGS` in a new Node process (in `cwd` if given), with `env` added to this process's environment. */
export function runCli(args: readonly string[], env: Readonly<Record<string, string>> = {}, cwd?: string): Promise<CliResult> {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run "pnpm build" in packages/node first`);
  return new Promise((resolve) => {
    // Room for a --json run's full answer: execFile's default 1 MiB would cut it off.
    execFile(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, cwd, maxBuffer: 64 * 2 ** 20 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : (error.code as number), stdout, stderr });
    });
  });
}
