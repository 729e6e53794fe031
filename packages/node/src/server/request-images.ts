import { realpath, readFile, stat } from 'node:fs/promises';
import { sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { ApiError, invalidField } from './errors.js';
import type { ServerLimits } from './limits.js';

/** Where a request's images may come from. */
export interface ImagePolicy {
  /** `file:` URLs are read only inside this folder (a real path, links resolved); undefined refuses them all. */
  readonly imageRoot: string | undefined;
  /** Whether `http:` and `https:` URLs are fetched. */
  readonly allowRemoteImages: boolean;
  readonly limits: ServerLimits;
}

/** An image item of the request, read and measured (its header only): the bytes go to the model as they are. */
export interface RequestImage {
  readonly bytes: Uint8Array;
  readonly width: number;
  readonly height: number;
}

/** Bytes an image takes, for the limits; `param` names it. */
function checkBytes(bytes: number, limits: ServerLimits, param: string): void {
  if (bytes > limits.imageBytes) {
    throw new ApiError(413, `${param}: the image is ${bytes} bytes, more than the ${limits.imageBytes} one image may have`, { param, code: 'image_too_large' });
  }
}

/** `data:[<type>][;base64],<data>`: only base64 data is taken (percent-encoded image bytes are not a thing clients send). */
function dataUrlBytes(url: string, limits: ServerLimits, param: string): Uint8Array {
  const comma = url.indexOf(',');
  if (comma < 0 || !/;base64$/i.test(url.slice(0, comma))) throw invalidField(param, 'must be a base64 data URL (data:image/png;base64,...)', 'invalid_image_url');
  const payload = url.slice(comma + 1);
  // The decoded size is known from the length, so an oversized image is refused before it is decoded.
  checkBytes(Math.floor((payload.length * 3) / 4), limits, param);
  if (/[^A-Za-z0-9+/=_\-\s]/.test(payload)) throw invalidField(param, 'holds characters that are not base64', 'invalid_image_url');
  const bytes = Buffer.from(payload, 'base64');
  if (bytes.length === 0) throw invalidField(param, 'holds no image data', 'invalid_image_url');
  return bytes;
}

async function fileUrlBytes(url: string, policy: ImagePolicy, param: string): Promise<Uint8Array> {
  if (policy.imageRoot === undefined) throw invalidField(param, 'file: URLs are refused: the server reads files only when started with --image-root DIR', 'file_urls_disabled');
  let path: string;
  try {
    path = await realpath(fileURLToPath(url));
  } catch {
    throw invalidField(param, 'is not a file of this machine that exists', 'image_not_found');
  }
  if (path !== policy.imageRoot && !path.startsWith(policy.imageRoot + sep)) throw invalidField(param, 'is outside the folder the server reads images from (--image-root)', 'file_outside_root');
  const info = await stat(path);
  if (!info.isFile()) throw invalidField(param, 'is not a regular file', 'image_not_found');
  checkBytes(info.size, policy.limits, param);
  return readFile(path);
}

/** GETs a remote image, reading at most the byte limit; `signal` is the request's. */
async function remoteBytes(url: string, policy: ImagePolicy, param: string, signal: AbortSignal): Promise<Uint8Array> {
  if (!policy.allowRemoteImages) throw invalidField(param, 'http(s) URLs are refused: send the image as a data: URL, or start the server with --allow-remote-images', 'remote_images_disabled');
  const { limits } = policy;
  let response: Response;
  try {
    response = await fetch(url, { signal: AbortSignal.any([signal, AbortSignal.timeout(limits.remoteImageTimeoutMs)]) });
  } catch (cause) {
    throw new ApiError(400, `${param}: fetching the image failed (${(cause as Error).message})`, { param, code: 'image_fetch_failed', cause });
  }
  if (!response.ok || response.body === null) throw new ApiError(400, `${param}: fetching the image answered HTTP ${response.status}`, { param, code: 'image_fetch_failed' });
  const declared = Number(response.headers.get('content-length') ?? NaN);
  if (Number.isFinite(declared)) checkBytes(declared, limits, param);
  const chunks: Uint8Array[] = [];
  let length = 0;
  try {
    for await (const chunk of response.body) {
      length += chunk.length;
      checkBytes(length, limits, param);
      chunks.push(chunk);
    }
  } catch (cause) {
    await response.body.cancel().catch(() => undefined);
    if (cause instanceof ApiError) throw cause;
    throw new ApiError(400, `${param}: fetching the image failed (${(cause as Error).message})`, { param, code: 'image_fetch_failed', cause });
  }
  return Buffer.concat(chunks);
}

function imageBytes(url: string, policy: ImagePolicy, param: string, signal: AbortSignal): Promise<Uint8Array> | Uint8Array {
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1].toLowerCase();
  if (scheme === 'data') return dataUrlBytes(url, policy.limits, param);
  if (scheme === 'file') return fileUrlBytes(url, policy, param);
  if (scheme === 'http' || scheme === 'https') return remoteBytes(url, policy, param, signal);
  throw invalidField(param, 'must be a data:, file: or http(s): URL', 'invalid_image_url');
}

/** The width and height the image's header declares, with the decoder the model uses (no pixel is decoded). */
async function imageSize(bytes: Uint8Array, param: string): Promise<{ width: number; height: number }> {
  try {
    const { width, height } = await sharp(bytes, { failOn: 'error', pages: 1, page: 0 }).metadata();
    if (width > 0 && height > 0) return { width, height };
  } catch (cause) {
    throw new ApiError(400, `${param}: is not an image this server decodes (JPEG, PNG, WebP, GIF, AVIF, TIFF): ${(cause as Error).message.split('\n')[0]}`, { param, code: 'invalid_image', cause });
  }
  throw new ApiError(400, `${param}: the image declares no size`, { param, code: 'invalid_image' });
}

/**
 * Reads the request's images, in order, enforcing the limits on their count, their bytes and
 * the pixels their headers declare, one image after the other, so that nothing over a limit
 * is read whole and no image is decoded here.
 */
export async function loadRequestImages(images: readonly { url: string; param: string }[], policy: ImagePolicy, signal: AbortSignal): Promise<RequestImage[]> {
  const { limits } = policy;
  if (images.length > limits.imagesPerRequest) {
    throw new ApiError(400, `messages: the request has ${images.length} images, more than the ${limits.imagesPerRequest} one request may have`, { param: 'messages', code: 'too_many_images' });
  }
  const loaded: RequestImage[] = [];
  let totalBytes = 0;
  let totalPixels = 0;
  for (const { url, param } of images) {
    const bytes = await imageBytes(url, policy, param, signal);
    totalBytes += bytes.length;
    if (totalBytes > limits.requestImageBytes) {
      throw new ApiError(413, `${param}: the request's images reach ${totalBytes} bytes, more than the ${limits.requestImageBytes} one request may have`, { param, code: 'images_too_large' });
    }
    const { width, height } = await imageSize(bytes, param);
    if (width * height > limits.imagePixels) {
      throw new ApiError(400, `${param}: the image is ${width}×${height} pixels, more than the ${limits.imagePixels} one image may have`, { param, code: 'image_too_large' });
    }
    totalPixels += width * height;
    if (totalPixels > limits.requestPixels) {
      throw new ApiError(400, `${param}: the request's images reach ${totalPixels} pixels, more than the ${limits.requestPixels} one request may have`, { param, code: 'images_too_large' });
    }
    loaded.push({ bytes, width, height });
  }
  return loaded;
}
