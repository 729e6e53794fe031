import { spawn } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { MODEL_DIR, goldenImage } from '@qwen-vl/test-support';
import { newFolder, useTempDir } from './helpers/temp-dir.js';

const CLI = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
const dir = useTempDir('qwen-vl-interrupt-');

/**
 * Runs `qwen-vl ARGS` in `cwd` and sends SIGINT once stderr has printed `after` (or at once)
 * and, `times` > 1, again right after: the user pressing Ctrl-C repeatedly. Resolves with the
 * exit code.
 */
function interrupted(args: readonly string[], cwd: string, times: number, after?: RegExp): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    let sent = false;
    const press = () => {
      if (sent) return;
      sent = true;
      for (let i = 0; i < times; i++) setTimeout(() => child.kill('SIGINT'), 20 * i);
    };
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      if (after !== undefined && after.test(stderr)) press();
    });
    if (after === undefined) setTimeout(press, 700);
    child.on('exit', (code) => resolve({ code, stderr }));
  });
}

describe('Ctrl-C', { timeout: 120_000 }, () => {
  it('during a build, pressed twice, leaves neither the output nor its temporary folder', async () => {
    const parent = await newFolder(dir(), 'build');
    const { code, stderr } = await interrupted(['build', '--input', MODEL_DIR, '--output', 'out'], parent, 2, /building \w+: /);
    // A second press used to kill the process before it removed `.out.tmp-*`.
    expect(code).toBe(130);
    expect(stderr).toMatch(/qwen-vl: .*stopped/);
    expect(await readdir(parent)).toEqual([]);
  });

  it('during prepare --dump leaves either the whole dump or nothing', async () => {
    const parent = await newFolder(dir(), 'prepare');
    const args = ['prepare', '--model', MODEL_DIR, '--image', goldenImage('checker_640x480.jpg'), '--prompt', 'x', '--dump', 'out'];
    const { code } = await interrupted(args, parent, 2);
    // Whether the press came before or after the dump was written, no `.out.tmp-*` remains
    // (a press while Node itself starts ends it before anything is opened).
    expect(await readdir(parent)).toEqual(code === 0 ? ['out'] : []);
  });
});
