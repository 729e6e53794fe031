import type { VisionInputs } from '@qwen-vl/preprocess';

/** One image of a prompt: its grid and its patch rows, by which a later prompt's image is recognised. */
export interface PromptImage {
  readonly grid: readonly [number, number, number];
  readonly pixels: Float32Array;
}

/** The images of prepared inputs, in prompt order, each with its own rows of `pixelValues`. */
export function promptImages(inputs: Pick<VisionInputs, 'pixelValues' | 'imageGridThw' | 'rowSize'>): PromptImage[] {
  let row = 0;
  return inputs.imageGridThw.map((grid) => {
    const rows = grid[0] * grid[1] * grid[2];
    const pixels = inputs.pixelValues.subarray(row * inputs.rowSize, (row + rows) * inputs.rowSize);
    row += rows;
    return { grid, pixels };
  });
}

/**
 * What the decoder's KV cache holds once a chat call is over: the token ids whose keys and
 * values it has (the prompt, then the generated tokens that were fed back), and the images
 * among them. The next call reuses it when its prompt continues that conversation.
 */
export class ConversationCache {
  private constructor(
    readonly tokenIds: Int32Array,
    readonly images: readonly PromptImage[],
  ) {}

  /**
   * The cache after a call on `promptIds` (with `images`) generated `generated`, of which the
   * session holds `cachedLength` positions; undefined when the call ended before its prefill
   * (aborted first): it generated nothing, and what the session holds, whatever its length,
   * is an earlier conversation.
   */
  static after(promptIds: Int32Array, images: readonly PromptImage[], generated: readonly number[], cachedLength: number): ConversationCache | undefined {
    if (generated.length === 0 || cachedLength < promptIds.length || cachedLength > promptIds.length + generated.length) return undefined;
    const tokenIds = new Int32Array(cachedLength);
    tokenIds.set(promptIds);
    tokenIds.set(generated.slice(0, cachedLength - promptIds.length), promptIds.length);
    return new ConversationCache(tokenIds, images);
  }

  /**
   * How many leading tokens of a new prompt the cache serves: all of its tokens when they
   * begin the prompt (and at least one token follows, whose logits the call needs) and its
   * images are the prompt's first images, patch for patch; otherwise 0. A prompt that departs
   * from the cache earlier (an edited message, a re-tokenized answer) is prefilled whole:
   * cutting the cache back would mean slicing tensors that may live on a GPU.
   */
  reusableBy(promptIds: Int32Array, images: readonly PromptImage[]): number {
    const length = this.tokenIds.length;
    if (length >= promptIds.length || images.length < this.images.length) return 0;
    for (let i = 0; i < length; i++) if (promptIds[i] !== this.tokenIds[i]) return 0;
    return this.images.every((image, k) => sameImage(image, images[k])) ? length : 0;
  }
}

function sameImage(a: PromptImage, b: PromptImage): boolean {
  if (a.grid.some((size, axis) => size !== b.grid[axis]) || a.pixels.length !== b.pixels.length) return false;
  for (let i = 0; i < a.pixels.length; i++) if (a.pixels[i] !== b.pixels[i]) return false;
  return true;
}
