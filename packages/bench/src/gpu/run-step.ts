import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import type { GpuStep } from './gpu-plan.js';

/** How a step ended. */
export interface StepOutcome {
  /** The command's exit status; a signal or a command that did not start counts as 1. */
  readonly exitCode: number;
  readonly seconds: number;
  /** The end of its output (what the headline is read from). */
  readonly outputTail: string;
  /** Its whole output, stdout and stderr as they came. */
  readonly logFile: string;
}

/** Enough of the end of the output for vitest's closing summary and the tables above it. */
const TAIL_CHARACTERS = 64 * 1024;

/**
 * Runs `step` at `root`, its output shown as it comes (the run takes long, and the benchmarks
 * print their progress) and written to `logDir`/<name>.log.
 */
export async function runStep(step: GpuStep, root: string, logDir: string): Promise<StepOutcome> {
  const logFile = join(logDir, `${step.name}.log`);
  const log = createWriteStream(logFile);
  const started = performance.now();
  let outputTail = '';
  const record = (chunk: Buffer, echo: NodeJS.WriteStream) => {
    echo.write(chunk);
    log.write(chunk);
    outputTail = (outputTail + chunk.toString()).slice(-TAIL_CHARACTERS);
  };
  const [command, ...args] = step.command;
  const child = spawn(command, args, { cwd: root, env: { ...process.env, ...step.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.on('data', (chunk: Buffer) => record(chunk, process.stdout));
  child.stderr.on('data', (chunk: Buffer) => record(chunk, process.stderr));
  let exitCode: number;
  try {
    const [code] = (await once(child, 'close')) as [number | null];
    exitCode = code ?? 1;
  } catch (cause) {
    // The command did not start (not installed): the error is its output.
    const message = `${step.description}: ${(cause as Error).message}\n`;
    record(Buffer.from(message), process.stderr);
    exitCode = 1;
  }
  log.end();
  await once(log, 'close');
  return { exitCode, seconds: (performance.now() - started) / 1000, outputTail, logFile };
}
