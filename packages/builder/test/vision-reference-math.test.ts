import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SafetensorsFile } from '../src/safetensors/reader.js';
import { GOLDEN_VISION_CASES, MODEL_DIR, goldenModelConfig, goldenVisionCase, maxAbsDiff } from '@qwen-vl/test-support';
import type { GoldenVisionCase } from '@qwen-vl/test-support';
import { memoryByteSource } from '../src/safetensors/byte-source.js';
import { erf, erfc, gelu } from './reference/erf.js';
import { encodeVision } from './reference/vision-encoder.js';

const config = goldenModelConfig().vision;
const checkpoint = await SafetensorsFile.open(memoryByteSource('tiny/model/model.safetensors', readFileSync(join(MODEL_DIR, 'model.safetensors'))));
// The reference takes a synchronous getter, so the (small) vision weights are widened up front.
const visionWeights = new Map<string, Float32Array>();
for (const name of checkpoint.tensors.keys()) {
  if (name.startsWith('visual.')) visionWeights.set(name, await checkpoint.readFloat32(name));
}
function weight(name: string): Float32Array {
  const tensor = visionWeights.get(name);
  if (tensor === undefined) throw new Error(`tiny checkpoint has no tensor "${name}"`);
  return tensor;
}

const windowedOutputs = new Map<string, Float64Array>();

function encodeCase(name: string, visionCase: GoldenVisionCase): Float64Array {
  let out = windowedOutputs.get(name);
  if (out === undefined) {
    out = encodeVision(visionCase.pixels, visionCase.grids, weight, config);
    windowedOutputs.set(name, out);
  }
  return out;
}

describe('erf', () => {
  // Values from C's libm (Python math.erf / math.erfc).
  const table: [number, number, number][] = [
    [0.1, 0.1124629160182849, 0.8875370839817152],
    [0.5, 0.5204998778130465, 0.4795001221869535],
    [1, 0.8427007929497149, 0.15729920705028513],
    [2, 0.9953222650189527, 0.004677734981047265],
    [2.99, 0.9999764743969194, 2.3525603080640195e-5],
    [3, 0.9999779095030014, 2.2090496998585438e-5],
    [4, 0.9999999845827421, 1.541725790028002e-8],
    [6, 1, 2.1519736712498916e-17],
  ];

  it.each(table)('erf(%f) and erfc match libm to 1e-15', (x, erfX, erfcX) => {
    expect(Math.abs(erf(x) - erfX)).toBeLessThan(1e-15);
    expect(Math.abs(erf(-x) + erfX)).toBeLessThan(1e-15);
    expect(Math.abs(erfc(x) - erfcX)).toBeLessThan(1e-15);
    expect(Math.abs(erfc(-x) - (2 - erfcX))).toBeLessThan(1e-15);
  });

  it('gives the exact GELU, also for large negative inputs', () => {
    expect(gelu(1)).toBeCloseTo(0.8413447460685429, 15);
    expect(gelu(-1)).toBeCloseTo(-0.15865525393145707, 15);
    expect(Math.abs(gelu(-4) + 0.00012668496733247986)).toBeLessThan(1e-15);
    expect(Math.abs(gelu(-10) / -7.619853024160593e-23 - 1)).toBeLessThan(1e-12);
  });
});

describe('float64 reference vision encoder', () => {
  it.each(GOLDEN_VISION_CASES)('%s: matches the golden vision_features', (name) => {
    const visionCase = goldenVisionCase(name);
    const diff = maxAbsDiff(encodeCase(name, visionCase), visionCase.features);
    console.info(`${name}: grids ${JSON.stringify(visionCase.grids)}, max |Δ| vs golden = ${diff.toExponential(2)}`);
    // Both sides are float64 math; the floor is the golden file's float32 storage (half an
    // ulp ≈ 4.8e-7 for |value| in [8, 16)). 2e-6 still fails an RMSNorm eps of 1e-5
    // instead of 1e-6 (which gives 4.6e-6).
    expect(diff).toBeLessThan(2e-6);
  });

  it('windowed blocks differ clearly from full attention when the grid spans several windows', () => {
    const visionCase = goldenVisionCase('jpeg_downscale');
    const { pixels, grids } = visionCase;
    const windowPatches = config.windowSize / config.patchSize;
    expect(grids[0][1]).toBeGreaterThan(windowPatches);
    expect(grids[0][2]).toBeGreaterThan(windowPatches);
    const allBlocks = Array.from({ length: config.depth }, (_, i) => i);
    const windowed = encodeCase('jpeg_downscale', visionCase);
    const fullEverywhere = encodeVision(pixels, grids, weight, { ...config, fullAttBlockIndexes: allBlocks });
    const diff = maxAbsDiff(windowed, fullEverywhere);
    console.info(`jpeg_downscale: max |windowed − all-full| = ${diff.toExponential(2)}`);
    expect(diff).toBeGreaterThan(1e-3);
    expect(diff).toBeLessThan(Infinity); // maxAbsDiff's answer for unequal lengths or a NaN
  });
});
