import { imageSize } from 'image-size';
import { MAX_DECODED_PIXELS, QwenVLError, refuseOversizedImage } from '@qwen-vl/core';
import type { ImageDecodeOptions } from '@qwen-vl/pipeline';
import type { RawImage } from '@qwen-vl/preprocess';

/** An image the browser can decode: a File or Blob of encoded bytes, an already decoded bitmap/element, or a URL to fetch. */
export type BrowserImageInput = Blob | ImageBitmap | HTMLImageElement | HTMLCanvasElement | string;

export interface BrowserDecodeOptions extends ImageDecodeOptions {
  /** The most pixels the image may declare (default `MAX_DECODED_PIXELS`, 2^26); more is refused before decoding. */
  maxPixels?: number;
}

/** Enough of a file for image-size to find the dimensions of nearly every image (a JPEG's frame header follows its EXIF). */
const HEADER_BYTES = 256 * 1024;

/**
 * Decodes an image into 8-bit RGBA with the browser's own decoders (JPEG, PNG, WebP, GIF's
 * first frame, AVIF...). The bitmap is made with `colorSpaceConversion: 'none'` (embedded
 * colour profiles ignored, as PIL's convert('RGB') does) and `premultiplyAlpha: 'none'`, then
 * read back through an OffscreenCanvas (WebGL2, else 2D). Alpha is dropped later by the
 * image processor, as Hugging Face does.
 *
 * EXIF orientation is applied only with `applyExifOrientation` (Hugging Face applies none),
 * but browsers that follow the current spec treat `imageOrientation: 'none'` as 'from-image'
 * and rotate regardless.
 */
export async function decodeBrowserImage(input: BrowserImageInput, options: BrowserDecodeOptions = {}): Promise<RawImage> {
  const source = typeof input === 'string' ? input : describe(input);
  // Encoded bytes are sized from their header first: the browser would decode a small file
  // declaring 16000×16000 into a gigabyte before anything could look at the bitmap.
  const image = typeof input === 'string' ? await fetchImage(input) : input;
  const maxPixels = options.maxPixels ?? MAX_DECODED_PIXELS;
  if (image instanceof Blob) await refuseOversizedBlob(image, maxPixels, source);
  if (typeof createImageBitmap !== 'function' || typeof OffscreenCanvas !== 'function') {
    throw new QwenVLError('INVALID_IMAGE', 'cannot be decoded here: decodeBrowserImage needs createImageBitmap and OffscreenCanvas (a browser or worker); in Node use @qwen-vl/node', { source });
  }
  const owned = !(typeof ImageBitmap === 'function' && input instanceof ImageBitmap);
  const bitmap = await toBitmap(image, options, source);
  try {
    // Also covers bitmaps, elements, and formats image-size does not read: their RGBA copy is not made.
    refuseOversizedImage(bitmap.width, bitmap.height, maxPixels, source);
    return readPixels(bitmap, source);
  } finally {
    if (owned) bitmap.close();
  }
}

/**
 * The bitmap decodeBrowserImage makes of an element, which has to stay in its page: what a
 * worker is sent in its place, to decode the same pixels.
 */
export function elementBitmap(input: HTMLImageElement | HTMLCanvasElement, options: BrowserDecodeOptions = {}): Promise<ImageBitmap> {
  return toBitmap(input, options, describe(input));
}

/**
 * Refuses a file whose header declares more than `maxPixels`; a header image-size cannot read
 * is left to the browser's decoder (which may know the format, or fails it).
 */
async function refuseOversizedBlob(blob: Blob, maxPixels: number, source: string): Promise<void> {
  const declared = declaredSize(new Uint8Array(await blob.slice(0, HEADER_BYTES).arrayBuffer())) ?? (blob.size > HEADER_BYTES ? declaredSize(new Uint8Array(await blob.arrayBuffer())) : undefined);
  if (declared !== undefined) refuseOversizedImage(declared.width, declared.height, maxPixels, source);
}

function declaredSize(bytes: Uint8Array): { width: number; height: number } | undefined {
  try {
    const { width, height } = imageSize(bytes);
    return { width, height };
  } catch {
    return undefined;
  }
}

async function toBitmap(input: Exclude<BrowserImageInput, string>, options: BrowserDecodeOptions, source: string): Promise<ImageBitmap> {
  const bitmapOptions: ImageBitmapOptions = {
    colorSpaceConversion: 'none',
    premultiplyAlpha: 'none',
    imageOrientation: options.applyExifOrientation === true ? 'from-image' : 'none',
  };
  try {
    if (typeof ImageBitmap === 'function' && input instanceof ImageBitmap) return input;
    if (typeof HTMLImageElement === 'function' && input instanceof HTMLImageElement) await input.decode();
    return await createImageBitmap(input, bitmapOptions);
  } catch (cause) {
    if (cause instanceof QwenVLError) throw cause;
    throw new QwenVLError('INVALID_IMAGE', `cannot decode image (${(cause as Error).message})`, { source, cause });
  }
}

async function fetchImage(url: string): Promise<Blob> {
  let response: Response;
  try {
    response = await fetch(url);
  } catch (cause) {
    throw new QwenVLError('MISSING_FILE', `could not be fetched (${(cause as Error).message})`, { source: url, cause });
  }
  if (!response.ok) throw new QwenVLError('MISSING_FILE', `could not be fetched (HTTP ${response.status} ${response.statusText})`, { source: url });
  return response.blob();
}

/**
 * The bitmap's RGBA bytes. WebGL2 first: a texture uploaded without premultiplication reads
 * back the decoded bytes exactly, translucent pixels included (their RGB is what Hugging Face
 * keeps when it drops alpha). A 2D canvas stores premultiplied colour, which rounds the RGB of
 * translucent pixels, so it is only the fallback (exact for opaque images).
 */
function readPixels(bitmap: ImageBitmap, source: string): RawImage {
  const { width, height } = bitmap;
  const data = readPixelsWebGl(bitmap) ?? readPixels2d(bitmap, source);
  return { width, height, channels: 4, data };
}

function readPixelsWebGl(bitmap: ImageBitmap): Uint8Array | undefined {
  const { width, height } = bitmap;
  const gl = new OffscreenCanvas(1, 1).getContext('webgl2');
  if (gl === null) return undefined;
  try {
    const maxSize = gl.getParameter(gl.MAX_TEXTURE_SIZE) as number;
    if (width > maxSize || height > maxSize) return undefined;
    const texture = gl.createTexture();
    gl.bindTexture(gl.TEXTURE_2D, texture);
    gl.pixelStorei(gl.UNPACK_PREMULTIPLY_ALPHA_WEBGL, false);
    gl.pixelStorei(gl.UNPACK_FLIP_Y_WEBGL, false);
    gl.pixelStorei(gl.UNPACK_COLORSPACE_CONVERSION_WEBGL, gl.NONE);
    gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA8, width, height, 0, gl.RGBA, gl.UNSIGNED_BYTE, bitmap);
    const framebuffer = gl.createFramebuffer();
    gl.bindFramebuffer(gl.FRAMEBUFFER, framebuffer);
    gl.framebufferTexture2D(gl.FRAMEBUFFER, gl.COLOR_ATTACHMENT0, gl.TEXTURE_2D, texture, 0);
    if (gl.checkFramebufferStatus(gl.FRAMEBUFFER) !== gl.FRAMEBUFFER_COMPLETE) return undefined;
    // Row 0 of the texture is the image's top row, and readPixels starts at row 0.
    const data = new Uint8Array(width * height * 4);
    gl.pixelStorei(gl.PACK_ALIGNMENT, 1);
    gl.readPixels(0, 0, width, height, gl.RGBA, gl.UNSIGNED_BYTE, data);
    return gl.getError() === gl.NO_ERROR ? data : undefined;
  } finally {
    // Browsers cap live WebGL contexts; free this one now rather than at garbage collection.
    gl.getExtension('WEBGL_lose_context')?.loseContext();
  }
}

function readPixels2d(bitmap: ImageBitmap, source: string): Uint8Array {
  const { width, height } = bitmap;
  const context = new OffscreenCanvas(width, height).getContext('2d', { willReadFrequently: true, colorSpace: 'srgb' });
  if (context === null) throw new QwenVLError('INVALID_IMAGE', 'cannot be read back: OffscreenCanvas has neither a webgl2 nor a 2d context here', { source });
  context.drawImage(bitmap, 0, 0);
  const { data } = context.getImageData(0, 0, width, height, { colorSpace: 'srgb' });
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

function describe(input: Exclude<BrowserImageInput, string>): string {
  if (typeof File === 'function' && input instanceof File) return `file "${input.name}"`;
  if (input instanceof Blob) return `blob (${input.type || 'no type'}, ${input.size} bytes)`;
  return input.constructor.name;
}
