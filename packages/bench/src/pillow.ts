import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { decodeNpy } from '@qwen-vl/core';
import type { MeasureOptions, Timing } from './measure.js';

/**
 * The reference the preprocessing benchmark compares against: Hugging Face's slow image
 * processor as Pillow + NumPy run it (pillow_preprocess.py), timed in its own Python
 * process on the same file in the same run.
 */

const run = promisify(execFile);
const SCRIPT = fileURLToPath(new URL('../pillow_preprocess.py', import.meta.url));
/** Debian's python3-pil and python3-numpy live here; QWEN_VL_BENCH_PYTHON names another interpreter. */
const PYTHON = process.env.QWEN_VL_BENCH_PYTHON ?? '/usr/bin/python3';

export interface PillowRun {
  timing: Timing;
  /** "Pillow 9.4.0 + NumPy 1.24.2". */
  versions: string;
  /** Its last pixel_values, [patches · 1176] row-major. */
  pixelValues: Float32Array;
}

/** Why the reference cannot run here, or undefined when it can. */
export async function pillowUnavailable(): Promise<string | undefined> {
  try {
    await run(PYTHON, ['-c', 'import PIL, numpy, resource']);
    return undefined;
  } catch (error) {
    const { code, stderr } = error as { code?: unknown; stderr?: string };
    if (code === 'ENOENT') return `${PYTHON} not found (QWEN_VL_BENCH_PYTHON names another interpreter)`;
    const lastLine = (stderr ?? '').trim().split('\n').pop();
    return `${PYTHON} cannot import Pillow and NumPy (${lastLine || (error as Error).message.split('\n')[0]})`;
  }
}

/** Times `image` → pixel_values in Python, keeping the last `held` results alive; `dir` receives its output. */
export async function runPillow(image: string, { warmup, runs }: MeasureOptions, held: number, dir: string): Promise<PillowRun> {
  const out = join(dir, 'pillow_pixel_values.npy');
  const { stdout } = await run(PYTHON, [SCRIPT, image, String(warmup), String(runs), String(held), out], { maxBuffer: 1 << 20 });
  const report = JSON.parse(stdout) as Timing & { pillow: string; numpy: string };
  const tensor = decodeNpy(await readFile(out), out);
  if (!(tensor.data instanceof Float32Array)) throw new Error(`${out}: expected float32 pixel values, got ${tensor.type}`);
  return {
    timing: { wallMs: report.wallMs, cpuMs: report.cpuMs, pageFaults: report.pageFaults },
    versions: `Pillow ${report.pillow} + NumPy ${report.numpy}`,
    pixelValues: tensor.data,
  };
}
