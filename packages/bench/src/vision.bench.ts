import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { parseModelConfig } from '@qwen-vl/core';
import type { VisionConfig } from '@qwen-vl/core';
import type { Grid } from '@qwen-vl/mrope';
import { VisionEncoder } from '@qwen-vl/vision';
import { buildVisionGraph, visionTensors, writeOnnxModel } from '@qwen-vl/builder';
import type { AttentionLayout } from '@qwen-vl/vision';
import { onnxruntimeNodeBackend } from '@qwen-vl/node';
import { timeOnce } from './measure.js';
import { randomWeights } from './random-weights.js';
import { printTable } from './table.js';
import { withTempDir } from './temp-dir.js';

/**
 * The vision encoder of a Qwen2.5-VL-3B-shaped tower on onnxruntime-node CPU, fp32, random
 * weights: the segmented attention the exporter writes against a dense N×N block mask.
 * One image of 1024×768 (grid 54×74, 3996 patches) is about 5 TFLOP, so each layout runs
 * it once, after one warm-up run on a 224×224 image.
 */

// Qwen2.5-VL-3B's vision_config (config.json on the Hub); parsing fills in the rest.
const TOWER_3B: VisionConfig = parseModelConfig({
  hidden_size: 2048,
  num_attention_heads: 16,
  num_hidden_layers: 36,
  intermediate_size: 11008,
  vocab_size: 151936,
  rope_scaling: { type: 'mrope', mrope_section: [16, 24, 24] },
  vision_config: { depth: 32, hidden_size: 1280, num_heads: 16, intermediate_size: 3420, out_hidden_size: 2048, fullatt_block_indexes: [7, 15, 23, 31], window_size: 112 },
}).vision;

const WARMUP_GRID: Grid = [1, 16, 16]; // 224×224
const BENCH_GRID: Grid = [1, 54, 74]; // 1024×768 after smart_resize: 756×1036

function randomPixels(patches: number): Float32Array {
  let state = 12345;
  return Float32Array.from({ length: patches * 1176 }, () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return (state / 2 ** 32) * 4 - 2;
  });
}

const patchCount = ([t, h, w]: Grid) => t * h * w;

interface Row {
  layout: AttentionLayout;
  buildS: number;
  fileGB: number;
  loadS: number;
  warmupS: number;
  runS: number;
  cpuS: number;
}

async function benchLayout(dir: string, layout: AttentionLayout): Promise<{ row: Row; warmupFeatures: Float32Array }> {
  const path = join(dir, `vision-${layout}.onnx`);
  const { result: written, seconds: buildS } = await timeOnce(() => writeOnnxModel(path, buildVisionGraph(randomWeights(visionTensors(TOWER_3B)), TOWER_3B, { attention: layout })));
  const { result: encoder, seconds: loadS } = await timeOnce(
    async () => new VisionEncoder(await onnxruntimeNodeBackend.createSession({ model: path }, { device: 'cpu' }), TOWER_3B, { attention: layout }),
  );
  try {
    const { result: warmup, seconds: warmupS } = await timeOnce(() => encoder.encode(randomPixels(patchCount(WARMUP_GRID)), [WARMUP_GRID]));
    const pixels = randomPixels(patchCount(BENCH_GRID));
    const cpuStart = process.cpuUsage();
    const { seconds: runS } = await timeOnce(() => encoder.encode(pixels, [BENCH_GRID]));
    const cpu = process.cpuUsage(cpuStart);
    const row = { layout, buildS, fileGB: written.externalDataByteLength / 1e9, loadS, warmupS, runS, cpuS: (cpu.user + cpu.system) / 1e6 };
    console.log(`  ${layout}: done in ${runS.toFixed(1)} s`);
    return { row, warmupFeatures: warmup.features };
  } finally {
    await encoder.dispose();
    await rm(path, { force: true });
    if (written.externalDataPath !== undefined) await rm(written.externalDataPath, { force: true });
  }
}

export async function runVisionBench(): Promise<void> {
  const patches = patchCount(BENCH_GRID);
  console.log(`vision encoder, Qwen2.5-VL-3B-shaped tower (random weights, fp32), onnxruntime-node CPU: 1024×768 image, grid ${BENCH_GRID.join('×')} = ${patches} patches`);
  const rows: Row[] = [];
  const warmups: Float32Array[] = [];
  await withTempDir('qwen-vl-bench-vision-', async (dir) => {
    for (const layout of ['segmented', 'dense-mask'] as const) {
      const { row, warmupFeatures } = await benchLayout(dir, layout);
      rows.push(row);
      warmups.push(warmupFeatures);
    }
  });
  let agreement = 0;
  let largest = 0;
  for (let i = 0; i < warmups[0].length; i++) {
    agreement = Math.max(agreement, Math.abs(warmups[0][i] - warmups[1][i]));
    largest = Math.max(largest, Math.abs(warmups[0][i]));
  }
  printLayoutTable(rows, patches);
  // NaN propagates through Math.max, so a broken run shows here.
  console.log(`warm-up image features: max |x| = ${largest.toPrecision(3)}; the two layouts differ by at most ${agreement.toExponential(2)}`);
}

function printLayoutTable(rows: Row[], patches: number): void {
  const header = ['attention', 'build+write (s)', 'weights (GB)', 'load (s)', 'warm-up 224² (s)', `${patches} patches (s)`, 'CPU (s)', 'patches/s'];
  printTable(
    header,
    rows.map((r) => [r.layout, r.buildS.toFixed(1), r.fileGB.toFixed(2), r.loadS.toFixed(1), r.warmupS.toFixed(1), r.runS.toFixed(1), r.cpuS.toFixed(1), (patches / r.runS).toFixed(1)]),
  );
}
