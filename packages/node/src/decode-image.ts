import sharp from 'sharp';
import type { Sharp } from 'sharp';
import { MAX_DECODED_PIXELS, QwenVLError, refuseOversizedImage } from '@qwen-vl/core';
import type { RawImage } from '@qwen-vl/preprocess';
import { readLocalFile } from './read-file.js';

export interface DecodeImageOptions {
  /**
   * Rotate/flip by the EXIF Orientation tag. Off by default because Hugging Face's
   * processor applies none: the model sees the pixels as stored.
   */
  applyExifOrientation?: boolean;
  /** The most pixels the image may declare (default `MAX_DECODED_PIXELS`, 2^26); more is refused before decoding. */
  maxPixels?: number;
}

/**
 * Decodes an image file (path) or encoded bytes into 8-bit interleaved RGB or RGBA with
 * sharp: JPEG, PNG, WebP, GIF (first frame), AVIF, TIFF. Gray and palette images come out
 * as RGB, CMYK is converted to sRGB, 16-bit samples are scaled to 8 bits.
 */
export async function decodeImage(input: string | Uint8Array, options: DecodeImageOptions = {}): Promise<RawImage> {
  const source = typeof input === 'string' ? input : 'image bytes';
  const bytes = typeof input === 'string' ? await readLocalFile(input) : input;
  try {
    // failOn 'error': truncated or corrupt pixel data is refused, but decoder warnings
    // (stray bytes between JPEG markers...) pass, as PIL lets them pass.
    // ignoreIcc: PIL's convert('RGB') ignores embedded profiles, so applying one here
    // would shift the colours away from what the reference processor feeds the model.
    let pipeline = sharp(bytes, { failOn: 'error', pages: 1, page: 0, ignoreIcc: true });
    await refuseOversized(pipeline, options.maxPixels ?? MAX_DECODED_PIXELS, source);
    if (options.applyExifOrientation === true) pipeline = pipeline.autoOrient();
    const { data, info } = await pipeline.raw().toBuffer({ resolveWithObject: true });
    if (info.channels !== 3 && info.channels !== 4) {
      throw new Error(`decoder produced ${info.channels} channels, expected 3 or 4`);
    }
    return {
      width: info.width,
      height: info.height,
      channels: info.channels,
      data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
    };
  } catch (cause) {
    if (cause instanceof QwenVLError) throw cause;
    throw new QwenVLError('INVALID_IMAGE', `cannot decode image (${oneLine((cause as Error).message)})`, { source, cause });
  }
}

/** Reads the size the header declares, so an oversized image fails before its pixels are allocated. */
async function refuseOversized(image: Sharp, maxPixels: number, source: string): Promise<void> {
  const { width, height } = await image.metadata();
  if (width !== undefined && height !== undefined) refuseOversizedImage(width, height, maxPixels, source);
}

/** libvips reports one problem over several repeated lines; an error message wants one line. */
function oneLine(message: string): string {
  const lines = message
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line.length > 0);
  return [...new Set(lines)].join('; ');
}
