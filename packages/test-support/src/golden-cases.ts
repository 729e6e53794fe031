/**
 * The golden cases of testdata/golden (its README's table) and how they are compared. Plain
 * data and arithmetic, without Node imports: the browser conformance page bundles it too.
 */

export interface GoldenCase {
  name: string;
  /** File names in testdata/golden/images/, in prompt order (images come first in the user turn). */
  images: string[];
  /** The user text, after the images. */
  prompt: string;
}

export const GOLDEN_CASES: readonly GoldenCase[] = [
  { name: 'one_image', images: ['gradient_300x200.png'], prompt: 'Describe this image.' },
  { name: 'two_images', images: ['gradient_300x200.png', 'noise_rgba_50x70.png'], prompt: 'Compare the two images.' },
  { name: 'jpeg_downscale', images: ['checker_640x480.jpg'], prompt: 'What is in the picture?' },
  { name: 'text_only', images: [], prompt: 'Hello, who are you?' },
];

/** The cases with images: the ones with `pixel_values` and `vision_features`. */
export const GOLDEN_VISION_CASES: readonly string[] = GOLDEN_CASES.filter((goldenCase) => goldenCase.images.length > 0).map((goldenCase) => goldenCase.name);

/** Cases whose images are PNG: their pixel_values must match the golden ones in the browser too. */
export const PNG_CASES: readonly string[] = ['one_image', 'two_images'];

/** The golden run: greedy on raw logits (no repetition penalty), eos ignored, 8 new tokens. */
export const GOLDEN_STEPS = 8;
export const GOLDEN_SEARCH = { greedy: true, ignoreEos: true, repetitionPenalty: 1 } as const;

/** The golden README's tolerances for an fp32 implementation: logits (and so logprobs, vision features), pixel_values. */
export const LOGITS_TOLERANCE = 1e-3;
export const PIXEL_VALUES_TOLERANCE = 1e-5;

/** A case's array file, relative to testdata/golden/ (a path on disk, a URL path in the browser). */
export function caseArrayFile(caseName: string, array: string): string {
  return `cases/${caseName}/${array}.npy`;
}

/** Largest |a[i] − b[i]|; arrays of unequal length give Infinity, and so does a NaN, so that either fails a tolerance. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let max = 0;
  for (let i = 0; i < a.length; i++) {
    const diff = Math.abs(a[i] - b[i]);
    // NaN must fail a comparison, not vanish from it.
    if (!(diff <= max)) max = Number.isNaN(diff) ? Infinity : diff;
  }
  return max;
}

/** Any typed array (BigInt64Array included) as plain numbers, for exact comparisons. */
export function numbers(data: ArrayLike<number | bigint>): number[] {
  return Array.from(data, Number);
}
