/**
 * The golden cases of testdata/golden (its README's table): the images and the user text each
 * was computed from. Every backend runs them through its public chat API.
 */
export interface GoldenCase {
  name: string;
  /** File names in testdata/golden/images/, in prompt order. */
  images: string[];
  prompt: string;
}

export const GOLDEN_CASES: readonly GoldenCase[] = [
  { name: 'one_image', images: ['gradient_300x200.png'], prompt: 'Describe this image.' },
  { name: 'two_images', images: ['gradient_300x200.png', 'noise_rgba_50x70.png'], prompt: 'Compare the two images.' },
  { name: 'jpeg_downscale', images: ['checker_640x480.jpg'], prompt: 'What is in the picture?' },
  { name: 'text_only', images: [], prompt: 'Hello, who are you?' },
];

/** Cases whose images are PNG: their pixel_values must match the golden ones in the browser too. */
export const PNG_CASES: readonly string[] = ['one_image', 'two_images'];

/** The golden run: greedy on raw logits (no repetition penalty), eos ignored, 8 new tokens. */
export const GOLDEN_STEPS = 8;
export const GOLDEN_SEARCH = { greedy: true, ignoreEos: true, repetitionPenalty: 1 } as const;

/** Tolerances of testdata/golden/README.md for an fp32 implementation. */
export const LOGITS_TOLERANCE = 1e-3;
export const PIXEL_VALUES_TOLERANCE = 1e-5;

/** What one backend produced for one case; logits are summarized where they were computed. */
export interface CaseOutcome {
  name: string;
  tokens: number[];
  /** max |logits − golden logits| of each step that ran. */
  maxLogitDiffPerStep: number[];
}

/** The forms of image a page can pass to `decodeBrowserImage` (a URL is a string). */
export const IMAGE_INPUT_KINDS = ['Blob', 'File', 'ImageBitmap', 'HTMLImageElement', 'URL'] as const;
export type ImageInputKind = (typeof IMAGE_INPUT_KINDS)[number];

/** The browser's preprocessing of a PNG case, from one kind of input, against the golden pixel_values. */
export interface PixelValuesOutcome {
  name: string;
  input: ImageInputKind;
  shape: [number, number];
  goldenShape: [number, number];
  maxAbsDiff: number;
}

/** A browser load with progress and the Cache API, summarized. */
export interface LoadOutcome {
  events: number;
  loadedNeverDecreases: boolean;
  /** Distinct `total`s reported: one, when sizes are known before the first byte. */
  totals: number[];
  last: { file: string; loaded: number; total: number };
  /** Names of the files in the model cache after the load. */
  cachedFiles: string[];
}

/** How a chat with a bad image failed in the browser. */
export interface ImageErrorOutcome {
  what: string;
  code: string;
  source: string | undefined;
  reason: string | undefined;
  message: string;
}

/** Largest |a[i] − b[i]|; arrays of unequal length give Infinity. */
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
