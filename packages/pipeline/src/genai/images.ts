import { QwenVLError } from '@qwen-vl/core';
import type { RawImage } from '@qwen-vl/preprocess';

/**
 * onnxruntime-genai's `og.Images`: decoded images, in the order the prompt's image
 * placeholders take them. A video is the `Images` of its frames, in time order. Hosts add
 * `Images.open` (Node: files and bytes; the browser: URLs and blobs).
 */
export class Images {
  readonly images: readonly RawImage[];

  constructor(images: readonly RawImage[]) {
    if (!Array.isArray(images)) throw new QwenVLError('INVALID_ARGUMENT', 'must be an array of decoded images', { source: 'Images images' });
    this.images = [...images];
  }

  get count(): number {
    return this.images.length;
  }
}
