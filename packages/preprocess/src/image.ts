import { QwenVLError } from '@qwen-vl/core';

/** 8-bit interleaved pixels as decoders give them: 1 = gray, 2 = gray+alpha, 3 = RGB, 4 = RGBA. */
export interface RawImage {
  width: number;
  height: number;
  channels: 1 | 2 | 3 | 4;
  data: Uint8Array;
}

/** Throws `INVALID_IMAGE` unless the dimensions are positive integers and `data` holds exactly width·height·channels bytes. */
export function assertValidImage(image: RawImage, source = 'image'): void {
  const { width, height, channels, data } = image;
  if (!Number.isInteger(width) || width <= 0 || !Number.isInteger(height) || height <= 0) {
    throw new QwenVLError('INVALID_IMAGE', `width and height must be positive integers, got ${width}×${height}`, { source });
  }
  if (channels !== 1 && channels !== 2 && channels !== 3 && channels !== 4) {
    throw new QwenVLError('INVALID_IMAGE', `channels must be 1, 2, 3 or 4, got ${String(channels)}`, { source });
  }
  if (!(data instanceof Uint8Array)) {
    throw new QwenVLError('INVALID_IMAGE', 'data must be a Uint8Array of 8-bit samples', { source });
  }
  const expected = width * height * channels;
  if (data.length !== expected) {
    throw new QwenVLError('INVALID_IMAGE', `data holds ${data.length} bytes, expected ${width}×${height}×${channels} = ${expected}`, { source });
  }
}

/**
 * Converts to 3-channel RGB the way Hugging Face's slow processor does through PIL's
 * `convert('RGB')`: alpha is dropped without compositing onto any background (so fully
 * transparent pixels keep their stored colour) and gray is replicated into R, G and B.
 * An RGB input is returned as is, not copied.
 */
export function toRgb(image: RawImage, source = 'image'): RawImage {
  assertValidImage(image, source);
  const { width, height, channels, data } = image;
  if (channels === 3) return image;
  const pixels = width * height;
  const rgb = new Uint8Array(pixels * 3);
  if (channels === 4) {
    for (let i = 0, s = 0, d = 0; i < pixels; i++, s += 4, d += 3) {
      rgb[d] = data[s];
      rgb[d + 1] = data[s + 1];
      rgb[d + 2] = data[s + 2];
    }
  } else {
    for (let i = 0, s = 0, d = 0; i < pixels; i++, s += channels, d += 3) {
      const gray = data[s];
      rgb[d] = gray;
      rgb[d + 1] = gray;
      rgb[d + 2] = gray;
    }
  }
  return { width, height, channels: 3, data: rgb };
}
