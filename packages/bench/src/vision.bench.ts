import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { parseModelConfig } from '@qwen-vl/core';
import type { VisionConfig } from '@qwen-vl/core';
import type { Grid } from '@qwen-vl/mrope';
import { VisionEncoder } from '@qwen-vl/vision';
import { DEFAULT_QUANTIZATION, buildVisionGraph, computeTypeFor, visionTensors, writeOnnxModel } from '@qwen-vl/builder';
import type { VisionExportOptions } from '@qwen-vl/builder';
import type { AttentionLayout } from '@qwen-vl/vision';
import { onnxruntimeNodeBackend } from '@qwen-vl/node';
import { timeOnce } from './measure.js';
import { randomWeights } from './random-weights.js';
import { printTable } from './table.js';
import { withTempDir } from './temp-dir.js';
import { formatOperatorTimes, lastRunOperatorTimes, takeProfile } from './ort-profile.js';
import { threadsLabel } from './bench-options.js';
import type { BenchOptions } from './bench-options.js';

/**
 * The vision encoder of a Qwen2.5-VL-3B-shaped tower on onnxruntime-node (CPU unless `--device`), random weights:
 * at each vision precision (fp32, fp16, int8, int4; quantized ones at the builder's default
 * block size and accuracy level, and int8 once more in blocks of 256), with the segmented attention the exporter writes, and fp32
 * once more with a dense N×N block mask, to show what segmenting saves. One image of 1024×768
 * (grid 54×74, 3996 patches) is about 5 TFLOP, so each variant runs it once, after one warm-up
 * run on a 224×224 image; its features are compared with fp32's. `--profile` prints where each
 * variant's measured run spent its time, per operator type (onnxruntime's profile).
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

interface Variant {
  label: string;
  options: VisionExportOptions & { attention: AttentionLayout };
}

const quantized = (precision: 'int8' | 'int4', blockSize = DEFAULT_QUANTIZATION.blockSize): Variant => ({
  label: `${precision} (block ${blockSize}, accuracy level ${DEFAULT_QUANTIZATION.accuracyLevel})`,
  options: { precision, attention: 'segmented', quantization: { ...DEFAULT_QUANTIZATION, blockSize } },
});

/** fp32 first: the others' features are compared with its. */
const VARIANTS: Variant[] = [
  { label: 'fp32', options: { precision: 'fp32', attention: 'segmented' } },
  { label: 'fp32, dense mask', options: { precision: 'fp32', attention: 'dense-mask' } },
  { label: 'fp16 weights', options: { precision: 'fp16', attention: 'segmented' } },
  quantized('int8'),
  quantized('int4'),
  // Fewer, longer blocks: less per-block work in MatMulNBits' int8 kernel (--block-size 256).
  quantized('int8', 256),
];

interface Row {
  label: string;
  buildS: number;
  fileGB: number;
  loadS: number;
  warmupS: number;
  runS: number;
  cpuS: number;
  features: Float32Array;
}

async function benchVariant(dir: string, { label, options }: Variant, { device, intraOpThreads, profile }: BenchOptions): Promise<Row> {
  const path = join(dir, 'vision.onnx');
  const profilePrefix = join(dir, 'profile');
  // As `device`'s build has it: float16 arithmetic on cuda and dml for the precisions that store less than float32.
  const build = { ...options, activations: computeTypeFor(options.precision ?? 'fp32', device) };
  const { result: written, seconds: buildS } = await timeOnce(() => writeOnnxModel(path, buildVisionGraph(randomWeights(visionTensors(TOWER_3B)), TOWER_3B, build)));
  const { result: encoder, seconds: loadS } = await timeOnce(
    async () =>
      new VisionEncoder(await onnxruntimeNodeBackend.createSession({ model: path }, { device, intraOpThreads, ...(profile === true && { profileFilePrefix: profilePrefix }) }), TOWER_3B, {
        attention: options.attention,
      }),
  );
  let disposed = false;
  try {
    const { seconds: warmupS } = await timeOnce(() => encoder.encode(randomPixels(patchCount(WARMUP_GRID)), [WARMUP_GRID]));
    const pixels = randomPixels(patchCount(BENCH_GRID));
    const cpuStart = process.cpuUsage();
    const { result, seconds: runS } = await timeOnce(() => encoder.encode(pixels, [BENCH_GRID]));
    const cpu = process.cpuUsage(cpuStart);
    console.log(`  ${label}: done in ${runS.toFixed(1)} s`);
    if (profile === true) {
      // onnxruntime writes the profile when the session is released.
      await encoder.dispose();
      disposed = true;
      console.log(`    kernel time by operator: ${formatOperatorTimes(lastRunOperatorTimes(await takeProfile(profilePrefix)))}`);
    }
    return { label, buildS, fileGB: written.externalDataByteLength / 1e9, loadS, warmupS, runS, cpuS: (cpu.user + cpu.system) / 1e6, features: result.features };
  } finally {
    if (!disposed) await encoder.dispose();
    await rm(path, { force: true });
    if (written.externalDataPath !== undefined) await rm(written.externalDataPath, { force: true });
  }
}

/** How far `features` are from the reference: max |Δ| over the reference's max |x|, and ‖Δ‖₂ / ‖x‖₂. NaN shows as NaN. */
function featureError(features: Float32Array, reference: Float32Array): { maxRelative: number; l2Relative: number } {
  let maxDiff = 0;
  let largest = 0;
  let diffSquares = 0;
  let squares = 0;
  for (let i = 0; i < reference.length; i++) {
    const diff = Math.abs(features[i] - reference[i]);
    maxDiff = Math.max(maxDiff, diff);
    largest = Math.max(largest, Math.abs(reference[i]));
    diffSquares += diff * diff;
    squares += reference[i] * reference[i];
  }
  return { maxRelative: maxDiff / largest, l2Relative: Math.sqrt(diffSquares / squares) };
}

export async function runVisionBench(options: BenchOptions): Promise<void> {
  const patches = patchCount(BENCH_GRID);
  console.log(
    `vision encoder, Qwen2.5-VL-3B-shaped tower (random weights), onnxruntime-node ${options.device} (${threadsLabel(options)}): 1024×768 image, grid ${BENCH_GRID.join('×')} = ${patches} patches`,
  );
  const rows: Row[] = [];
  await withTempDir('qwen-vl-bench-vision-', async (dir) => {
    for (const variant of VARIANTS) rows.push(await benchVariant(dir, variant, options));
  });
  const reference = rows[0];
  const header = ['weights', 'build+write (s)', 'weights (GB)', 'load (s)', 'warm-up 224² (s)', `${patches} patches (s)`, 'CPU (s)', 'speed-up vs fp32', 'max |Δ| / max |x|', '‖Δ‖ / ‖x‖'];
  printTable(
    header,
    rows.map((r) => {
      const error = featureError(r.features, reference.features);
      return [
        r.label,
        r.buildS.toFixed(1),
        r.fileGB.toFixed(2),
        r.loadS.toFixed(1),
        r.warmupS.toFixed(1),
        r.runS.toFixed(1),
        r.cpuS.toFixed(1),
        `${(reference.runS / r.runS).toFixed(2)}×`,
        error.maxRelative.toExponential(2),
        error.l2Relative.toExponential(2),
      ];
    }),
  );
  const largest = reference.features.reduce((max, x) => Math.max(max, Math.abs(x)), 0);
  console.log(`fp32 features: max |x| = ${largest.toPrecision(3)}; targets: quantized vision ≥ 1.8× fp32's speed, features within 2e-2 relative`);
}
