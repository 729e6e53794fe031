import { fork } from 'node:child_process';
import type { BenchOptions } from './bench-options.js';
import { FP32, INT4_LEVELS, int4, printDecoderRows, text3B, writeBenchModel } from './decoder.bench.js';
import { modelThreads, threadsLabel } from './bench-options.js';
import { measureBandwidth } from './memory-bandwidth.js';
import type { BenchModel, BenchModelFiles, Row } from './decoder.bench.js';
import { withTempDir } from './temp-dir.js';

/**
 * The whole Qwen2.5-VL-3B text model (all 36 layers; config.json on the Hub), random weights
 * written straight to ONNX, at fp32, fp16 weights and int4 (each accuracy level the builder
 * offers as a choice, and level 4 in blocks of 64). Each precision is written by this process and then loaded and run by a
 * child process of its own, whose peak resident memory is then that model's alone (loading,
 * prefill, decode), not the build's.
 */
export const MODEL_3B: BenchModel = {
  label: '3B-shaped, 36 layers',
  text: text3B(36),
  promptTokens: 128,
  newTokens: 16,
  followUpTokens: 32,
  runs: 1,
  // Blocks of 64 at level 4: half the per-block scales and sums that level 4's kernels keep
  // beside the packed weights (the row that fits the 3 GB budget).
  precisions: [FP32, { label: 'fp16 weights', options: { precision: 'fp16' } }, ...INT4_LEVELS, int4(64, 4)],
};

/** What the child process (`decoder-3b-child.ts`) is asked to run. */
export interface ChildRequest {
  precisionIndex: number;
  files: BenchModelFiles;
  options: BenchOptions;
}

/** Loads and runs one written precision in a fresh process; its row carries that process's peak RSS. */
function runInChild(request: ChildRequest): Promise<Row> {
  return new Promise((resolve, reject) => {
    const child = fork(new URL('./decoder-3b-child.js', import.meta.url), [JSON.stringify(request)], { stdio: 'inherit' });
    let row: Row | undefined;
    child.on('message', (message) => (row = message as Row));
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (row !== undefined && code === 0) resolve(row);
      else reject(new Error(`the 3B-shaped ${MODEL_3B.precisions[request.precisionIndex].label} run ended with ${signal ?? `exit code ${code}`} before reporting`));
    });
  });
}

export async function runDecoder3bBench(options: BenchOptions): Promise<void> {
  const { device } = options;
  const bandwidth = await measureBandwidth(modelThreads(options));
  const rows: Row[] = [];
  for (const [precisionIndex, precision] of MODEL_3B.precisions.entries()) {
    console.log(`  ${MODEL_3B.label}, ${precision.label}: writing…`);
    rows.push(await withTempDir('qwen-vl-decoder-3b-bench-', async (dir) => runInChild({ precisionIndex, files: await writeBenchModel(MODEL_3B, precision, dir, device), options })));
    const row = rows[rows.length - 1];
    console.log(`  ${row.label}: ${row.decodeTokS.toFixed(2)} tokens/s, peak RSS ${row.peakRssGB?.toFixed(2)} GB`);
  }
  printDecoderRows(
    `Text decoder, the whole 3B-shaped text model, onnxruntime-node ${device} (${threadsLabel(options)}), random weights; greedy, ${MODEL_3B.promptTokens}-token prompt, ${MODEL_3B.newTokens} new tokens, next turn +${MODEL_3B.followUpTokens} tokens; each precision loaded and run in a process of its own (peak RSS)`,
    rows,
    bandwidth,
  );
  const fp32 = rows[0];
  for (const row of rows.slice(1)) {
    console.log(
      `${row.label}: decode ${(row.decodeTokS / fp32.decodeTokS).toFixed(2)}× fp32's tokens/s; weights read at ${((100 * row.weightGBs) / bandwidth.copyGBs).toFixed(0)}% of the copy bandwidth`,
    );
  }
  console.log('targets: int4 decode ≥ 4× fp32 and ≥ 80% of its bandwidth bound; peak RSS of int4 under 3 GB');
}
