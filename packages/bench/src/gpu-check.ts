import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { dropSwiftShaderVulkanDriver } from '@qwen-vl/test-support';
import { detectGpus } from './gpu/detect-gpus.js';
import { runGpuCheck } from './gpu/run-gpu-check.js';
import { runStep } from './gpu/run-step.js';

/**
 * `pnpm test:gpu` at the repository root: the conformance suite and the benchmarks on every GPU
 * device this machine has, one summary table; without a GPU it says so and exits 0. Not part
 * of the package API.
 */

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const LOG_DIR = join(ROOT, '.cache/test-gpu');

// A shell's SwiftShader driver would stand in for the GPU, for the probe and every step after.
dropSwiftShaderVulkanDriver();
await rm(LOG_DIR, { recursive: true, force: true });
await mkdir(LOG_DIR, { recursive: true });
process.exitCode = await runGpuCheck({
  root: ROOT,
  detect: detectGpus,
  runStep: (step) => runStep(step, ROOT, LOG_DIR),
  print: (line) => console.log(line),
});
