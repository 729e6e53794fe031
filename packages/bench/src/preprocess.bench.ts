import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { parsePreprocessorConfig } from '@qwen-vl/core';
import { processImages, resizeBicubic, smartResize, toRgb } from '@qwen-vl/preprocess';
import type { RawImage } from '@qwen-vl/preprocess';
import { decodeImage } from '@qwen-vl/node';
import { measure } from './measure.js';
import type { MeasureOptions, Timing } from './measure.js';
import { pillowUnavailable, runPillow } from './pillow.js';
import type { PillowRun } from './pillow.js';
import { printTable } from './table.js';
import { withTempDir } from './temp-dir.js';

/**
 * Image file → pixel_values on the CPU, split into its stages: decode (sharp), resize
 * (smart_resize + Pillow-exact bicubic, the whole image at once as resizeBicubic does),
 * normalize + patchify of an image already at its target size, and both together as
 * processImages runs them (band by band, so less than the sum of the two). Images are
 * generated, so the numbers do not depend on any file outside the repository.
 *
 * Then file → pixel_values the way a pipeline runs it, each result kept while the next ones
 * are made (the last HELD of them), so no call can reuse the memory of the one before:
 * with a new array per call, and into buffers the caller hands out in turn; next to
 * Pillow + NumPy (Hugging Face's slow processor) timed on the same file in the same run,
 * keeping its results alike, and whether its pixel_values equal ours. Each of the three
 * runs in a fresh process of its own.
 */

/**
 * Results kept alive while the next are made, as a server with requests in flight keeps
 * them. With this many (sometimes with fewer) glibc hands the freed arrays of older
 * results back to the system rather than reusing them, so each new 19 MB array arrives as
 * fresh pages; the page faults per call show which case a run measured.
 */
const HELD = 8;

interface BenchImage {
  width: number;
  height: number;
  measure: MeasureOptions;
  /** The latency goal, when there is one. */
  targetMs?: number;
  /** Runs for the comparison with results held, when this image gets one. */
  held?: MeasureOptions;
}

const IMAGES: BenchImage[] = [
  { width: 1024, height: 768, measure: { warmup: 3, runs: 10 }, targetMs: 40, held: { warmup: HELD + 2, runs: 15 } },
  { width: 4000, height: 3000, measure: { warmup: 1, runs: 3 } },
];

/** A smooth colour gradient plus noise from a fixed-seed generator: photo-like for the JPEG encoder, same bytes every run. */
function syntheticPixels(width: number, height: number): Uint8Array {
  const data = new Uint8Array(width * height * 3);
  let seed = 12345;
  const noise = () => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return ((seed >>> 24) % 33) - 16;
  };
  const clamp = (v: number) => Math.min(255, Math.max(0, Math.round(v)));
  for (let y = 0, i = 0; y < height; y++) {
    for (let x = 0; x < width; x++, i += 3) {
      data[i] = clamp((255 * x) / width + noise());
      data[i + 1] = clamp((255 * y) / height + noise());
      data[i + 2] = clamp(128 + 100 * Math.sin((x + y) / 50) + noise());
    }
  }
  return data;
}

async function writeJpeg(dir: string, { width, height }: BenchImage): Promise<string> {
  const path = join(dir, `bench_${width}x${height}.jpg`);
  const jpeg = await sharp(syntheticPixels(width, height), { raw: { width, height, channels: 3 } })
    .jpeg({ quality: 90 })
    .toBuffer();
  await writeFile(path, jpeg);
  return path;
}

interface Row {
  image: string;
  decode: Timing;
  resize: Timing;
  patchify: Timing;
  resizeAndPatchify: Timing;
  endToEnd: Timing;
  target: string;
}

interface HeldRow {
  image: string;
  newArrays: Timing;
  callerBuffers: Timing;
  /** The reference's run, or why it could not run. */
  pillow: PillowRun | string;
  /** Largest |Δ| between Pillow's pixel_values and ours. */
  pillowDelta?: number;
}

export async function runPreprocessBench(): Promise<void> {
  const config = parsePreprocessorConfig({}); // the Hub checkpoints' values
  const budget = { factor: config.patchSize * config.mergeSize, minPixels: config.minPixels, maxPixels: config.maxPixels };
  const rows: Row[] = [];
  const heldRows: HeldRow[] = [];
  await withTempDir('qwen-vl-bench-', async (dir) => {
    for (const spec of IMAGES) {
      const path = await writeJpeg(dir, spec);
      const decoded = await decodeImage(path);
      const target = smartResize(decoded.height, decoded.width, budget);
      const resize = (image: RawImage) => resizeBicubic(toRgb(image), target.width, target.height);
      // At its smart_resize size already, the image goes through processImages without a
      // second resize: what remains is rescale, normalize and patch flattening.
      const resized = resize(decoded);
      rows.push({
        image: `${spec.width}×${spec.height} → ${target.width}×${target.height}`,
        decode: await measure(() => decodeImage(path), spec.measure),
        resize: await measure(() => resize(decoded), spec.measure),
        patchify: await measure(() => processImages([resized], config), spec.measure),
        resizeAndPatchify: await measure(() => processImages([decoded], config), spec.measure),
        endToEnd: await measure(async () => processImages([await decodeImage(path)], config), spec.measure),
        target: spec.targetMs !== undefined ? `${spec.targetMs} ms` : '',
      });
      if (spec.held !== undefined) heldRows.push(await compareHeld(rows[rows.length - 1].image, path, decoded, spec.held, dir));
    }
  });
  printStageTable(rows);
  printHeldTable(heldRows);
}

const run = promisify(execFile);
const HELD_WORKER = fileURLToPath(new URL('./held-preprocess.js', import.meta.url));

/** One qwen-vl side of the comparison, in its own process (see held-preprocess.ts). */
async function runHeld(path: string, mode: 'new' | 'buffers', { warmup, runs }: MeasureOptions): Promise<Timing> {
  const { stdout } = await run(process.execPath, [HELD_WORKER, path, mode, String(warmup), String(runs), String(HELD)]);
  return JSON.parse(stdout) as Timing;
}

/** Every side in a fresh process, so none inherits the allocator state the stages above left. */
async function compareHeld(image: string, path: string, decoded: RawImage, options: MeasureOptions, dir: string): Promise<HeldRow> {
  const newArrays = await runHeld(path, 'new', options);
  const callerBuffers = await runHeld(path, 'buffers', options);
  const unavailable = await pillowUnavailable();
  if (unavailable !== undefined) return { image, newArrays, callerBuffers, pillow: unavailable };
  const pillow = await runPillow(path, options, HELD, dir);
  const ours = processImages([decoded], parsePreprocessorConfig({})).pixelValues;
  return { image, newArrays, callerBuffers, pillow, pillowDelta: maxAbsDiff(pillow.pixelValues, ours) };
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Infinity;
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}

const ms = ({ wallMs, cpuMs }: Timing) => `${wallMs.toFixed(1)} / ${cpuMs.toFixed(1)}`;

function printStageTable(rows: Row[]): void {
  const header = ['image (JPEG q90 → resized)', 'decode', 'resize', 'normalize+patchify', 'resize+patchify', 'end-to-end', 'target (wall)'];
  console.log('file → pixel_values: median wall / CPU time in ms');
  printTable(
    header,
    rows.map((r) => [r.image, ms(r.decode), ms(r.resize), ms(r.patchify), ms(r.resizeAndPatchify), ms(r.endToEnd), r.target]),
  );
}

function printHeldTable(rows: HeldRow[]): void {
  if (rows.length === 0) return;
  console.log(`\nfile → pixel_values with the last ${HELD} results held: median wall / CPU time in ms (minor page faults per call)`);
  const cell = (timing: Timing) => `${ms(timing)} (${timing.pageFaults})`;
  const pillowCell = ({ pillow }: HeldRow) => (typeof pillow === 'string' ? 'skipped' : cell(pillow.timing));
  const deltaCell = ({ pillowDelta }: HeldRow) => (pillowDelta === undefined ? '' : pillowDelta === 0 ? 'identical' : `max |Δ| ${pillowDelta.toExponential(2)}`);
  printTable(
    ['image', 'new array per call', `into caller's buffers (${HELD + 1} in turn)`, 'Pillow + NumPy', "Pillow's pixel_values"],
    rows.map((r) => [r.image, cell(r.newArrays), cell(r.callerBuffers), pillowCell(r), deltaCell(r)]),
  );
  for (const { image, newArrays, callerBuffers, pillow } of rows) {
    if (typeof pillow === 'string') {
      console.log(`Pillow + NumPy skipped: ${pillow}.`);
      continue;
    }
    const ratio = (timing: Timing) => `${(pillow.timing.wallMs / timing.wallMs).toFixed(2)}×`;
    console.log(
      `${pillow.versions} on the same ${image} file in this run: ${pillow.timing.wallMs.toFixed(1)} ms; ` +
        `qwen-vl ${callerBuffers.wallMs.toFixed(1)} ms into the caller's buffers (${ratio(callerBuffers)} Pillow's speed), ` +
        `${newArrays.wallMs.toFixed(1)} ms with a new array per call (${ratio(newArrays)}).`,
    );
  }
}
