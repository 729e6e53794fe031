import { parsePreprocessorConfig } from '@qwen-vl/core';
import { imageBatchShape, processImages } from '@qwen-vl/preprocess';
import { decodeImage } from '@qwen-vl/node';
import { measure } from './measure.js';

/**
 * One qwen-vl side of `pnpm bench preprocess`'s comparison with results held, run by it in
 * a process of its own as the Pillow side is, so that what earlier stages left in the
 * allocator cannot decide whether memory is reused:
 *
 *   node held-preprocess.js IMAGE new|buffers WARMUP RUNS HELD
 *
 * times file → pixel_values of IMAGE with each result kept until HELD newer ones exist,
 * into a new array per call (`new`) or into HELD + 1 buffers handed out in turn
 * (`buffers`: the one written is never one a kept result uses), and prints the Timing as
 * one line of JSON.
 */

const [path, mode, warmup, runs, held] = process.argv.slice(2);
if (path === undefined || (mode !== 'new' && mode !== 'buffers') || [warmup, runs, held].some((n) => !Number.isInteger(Number(n)))) {
  throw new Error('usage: node held-preprocess.js IMAGE new|buffers WARMUP RUNS HELD');
}
const config = parsePreprocessorConfig({});
const heldCount = Number(held);
const first = await decodeImage(path);
const { patchCount, rowSize } = imageBatchShape([first], config);
const buffers = mode === 'buffers' ? Array.from({ length: heldCount + 1 }, () => new Float32Array(patchCount * rowSize)) : [];
const kept: unknown[] = [];
let turn = 0;

const timing = await measure(
  async () => {
    const output = mode === 'buffers' ? buffers[turn++ % buffers.length] : undefined;
    kept.push(processImages([await decodeImage(path)], config, { output }));
    if (kept.length > heldCount) kept.shift();
  },
  { warmup: Number(warmup), runs: Number(runs) },
);
console.log(JSON.stringify(timing));
