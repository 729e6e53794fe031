import { beforeAll, describe, expect, it } from 'vitest';
import { GOLDEN_CASES, MODEL_DIR, goldenArray, goldenImage, goldenJson, maxAbsDiff, numbers } from '@qwen-vl/test-support';
import { decodeImage } from '../src/decode-image.js';
import { InputPreparer, requestMessages } from '../src/prepare.js';

/** The whole Node input path (sharp decoding → processor → rope index) against the golden cases. */
describe('golden cases through the Node input path', () => {
  let preparer: InputPreparer;
  beforeAll(async () => {
    preparer = await InputPreparer.load(MODEL_DIR);
  });

  it.each(GOLDEN_CASES)('$name: ids, grids, positions and rope delta exact; pixel_values within 1e-5', async ({ name, images, prompt }) => {
    const prepared = await preparer.prepare({ images: images.map(goldenImage), prompt });

    expect(numbers(prepared.inputIds.data)).toEqual(numbers(goldenArray(name, 'input_ids').data));
    expect(numbers(prepared.imageGridThw.flat())).toEqual(numbers(goldenArray(name, 'grid_thw').data));
    // Golden position_ids are [3, L] (batch dropped); ours are [3, 1, L]: same values in the same order.
    expect(numbers(prepared.positions.positionIds)).toEqual(numbers(goldenArray(name, 'position_ids').data));
    expect(Array.from(prepared.positions.ropeDeltas)).toEqual([goldenJson(name).rope_delta]);

    const pixels = goldenArray(name, 'pixel_values');
    expect([prepared.patchCount, prepared.rowSize]).toEqual(pixels.dims);
    const diff = maxAbsDiff(prepared.pixelValues, pixels.data as Float32Array);
    console.info(`${name}: pixel_values max |diff| = ${diff}`);
    expect(diff).toBeLessThanOrEqual(1e-5);
  });

  it("prepares a left-padded batch of every case with each row's golden ids and positions past its padding", async () => {
    const media = await Promise.all(GOLDEN_CASES.map(async ({ images }) => ({ images: await Promise.all(images.map((file) => decodeImage(goldenImage(file)))) })));
    const batch = preparer.prepareBatch(
      GOLDEN_CASES.map(({ images, prompt }) => requestMessages({ images, prompt })),
      media,
    );
    const [rows, length] = batch.inputIds.dims;
    expect(rows).toBe(GOLDEN_CASES.length);
    GOLDEN_CASES.forEach(({ name }, b) => {
      const ids = numbers(goldenArray(name, 'input_ids').data);
      const padding = length - ids.length;
      expect(numbers(batch.inputIds.data.subarray(b * length + padding, (b + 1) * length)), name).toEqual(ids);
      const positions = numbers(goldenArray(name, 'position_ids').data);
      for (let axis = 0; axis < 3; axis++) {
        const row = batch.positions.positionIds.subarray((axis * rows + b) * length + padding, (axis * rows + b + 1) * length);
        expect(numbers(row), `${name} axis ${axis}`).toEqual(positions.slice(axis * ids.length, (axis + 1) * ids.length));
      }
      expect(batch.positions.ropeDeltas[b], name).toBe(goldenJson(name).rope_delta - padding);
    });
    expect(batch.imageTokenCount).toBe(GOLDEN_CASES.reduce((sum, { name }) => sum + numbers(goldenArray(name, 'input_ids').data).filter((id) => id === 151655).length, 0));
  });

  it('puts the system prompt, when given, in place of the default one', async () => {
    const prepared = await preparer.prepare({ prompt: 'Hi', system: 'Be brief.' });
    expect(prepared.prompts[0]).toBe('<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n');
  });

  it('applies --max-pixels style overrides to the image budget', async () => {
    // 300×200 with max_pixels 3136: beta = sqrt(60000 / 3136) ≈ 4.374, so the height becomes
    // floor(200 / 4.374 / 28)·28 = 28 and the width floor(300 / 4.374 / 28)·28 = 56: 2×4 patches.
    const prepared = await preparer.prepare({ images: [goldenImage('gradient_300x200.png')], prompt: 'x', minPixels: 3136, maxPixels: 3136 });
    expect(prepared.imageGridThw).toEqual([[1, 2, 4]]);
    expect(prepared.imageTokenCount).toBe(2);
  });
});
