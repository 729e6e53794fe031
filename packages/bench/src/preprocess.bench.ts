import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { parsePreprocessorConfig } from '@qwen-vl/core';
import { processImages, resizeBicubic, smartResize, toRgb } from '@qwen-vl/preprocess';
import type { RawImage } from '@qwen-vl/preprocess';
import { decodeImage } from '@qwen-vl/node';
import { measure } from './measure.js';
import type { MeasureOptions, Timing } from './measure.js';
import { printTable } from './table.js';
import { withTempDir } from './temp-dir.js';

/**
 * Image file → pixel_values on the CPU, split into its stages: decode (sharp), resize
 * (smart_resize + Pillow-exact bicubic, the whole image at once as resizeBicubic does),
 * normalize + patchify of an image already at its target size, and both together as
 * processImages runs them (band by band, so less than the sum of the two). Images are
 * generated, so the numbers do not depend on any file outside the repository.
 */

interface BenchImage {
  width: number;
  height: number;
  measure: MeasureOptions;
  /** The latency goal, when there is one. */
  targetMs?: number;
}

const IMAGES: BenchImage[] = [
  { width: 1024, height: 768, measure: { warmup: 3, runs: 10 }, targetMs: 40 },
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

export async function runPreprocessBench(): Promise<void> {
  const config = parsePreprocessorConfig({}); // the Hub checkpoints' values
  const budget = { factor: config.patchSize * config.mergeSize, minPixels: config.minPixels, maxPixels: config.maxPixels };
  const rows: Row[] = [];
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
    }
  });
  printStageTable(rows);
}

function printStageTable(rows: Row[]): void {
  const ms = ({ wallMs, cpuMs }: Timing) => `${wallMs.toFixed(1)} / ${cpuMs.toFixed(1)}`;
  const header = ['image (JPEG q90 → resized)', 'decode', 'resize', 'normalize+patchify', 'resize+patchify', 'end-to-end', 'target (wall)'];
  console.log('file → pixel_values: median wall / CPU time in ms');
  printTable(
    header,
    rows.map((r) => [r.image, ms(r.decode), ms(r.resize), ms(r.patchify), ms(r.resizeAndPatchify), ms(r.endToEnd), r.target]),
  );
}
