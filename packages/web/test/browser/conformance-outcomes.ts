/**
 * What the conformance page sends back to the suite (plain JSON through playwright). The
 * golden cases themselves are @qwen-vl/test-support's.
 */

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
  last: { stage: string; loaded: number; total: number };
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

/**
 * A shapes question (@qwen-vl/eval-shapes) as the page takes it: the PNG files of its pictures
 * and of its video's frames, base64, and its text.
 */
export interface QuestionInput {
  question: string;
  images: string[];
  /** The frames of its one video (fps 2); absent when it has none. */
  video?: string[];
}

/** What a backend answered to one question, untrimmed. */
export interface AnswerOutcome {
  text: string;
  finishReason: string;
}
