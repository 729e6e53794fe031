import { QwenVLError } from '@qwen-vl/core';

/**
 * What one request may ask of the server. Each is checked before the memory it bounds is
 * allocated, and a request over one fails with a 400 or 413 naming it. The defaults keep a
 * machine with 24 GB alive under a full queue: the largest accepted request decodes at most
 * 2^26 pixels (256 MB as RGBA), whatever its images claim to be.
 */
export interface ServerLimits {
  /** Bytes of a request body (413 past it); base64 images count here, 4/3 of their size. Default 48 MiB. */
  bodyBytes: number;
  /** Images in one request's messages (400 past it). Default 8. */
  imagesPerRequest: number;
  /** Encoded bytes of one image, however it came (413 past it). Default 16 MiB. */
  imageBytes: number;
  /** Encoded bytes of all the images of one request (413 past it). Default 32 MiB. */
  requestImageBytes: number;
  /** Pixels one image may decode to, read from its header before decoding (400 past it). Default 2^24 (4096×4096). */
  imagePixels: number;
  /** Pixels all the images of one request may decode to (400 past it). Default 2^26. */
  requestPixels: number;
  /**
   * Tokens the images of one request may become for the model (400 past it), after the
   * processor's resize (preprocessor_config.json's max_pixels). The vision encoder's memory
   * grows with them: a full-attention block holds heads · (patches / 16) · patches scores, and
   * the measured peak for one 16240-patch image (4060 tokens) on a 3B-shaped tower is 3.9 GB
   * (see @qwen-vl/builder), while one image at Qwen's default max_pixels (16384 tokens) would
   * take 17 GB per block. Default 4096: with a 3B model's 16 GB of float32 weights, what a
   * 24 GB machine has room for.
   */
  imageTokensPerRequest: number;
  /**
   * Tokens of one request, its prompt (image tokens included) and the answer together, within
   * the model's context (400 past it: a prompt that leaves no room, or max_tokens beyond it;
   * without max_tokens the answer stops there, finish_reason "length"). Each row of the batch
   * holds its request's KV cache: for a 3B model 72 KiB per token (36 layers · 2 · 2 heads ·
   * 128 · 4 bytes), so 8 rows of 8192 tokens take 4.5 GiB at most. Default 8192.
   */
  requestTokens: number;
  /** How long fetching one remote image may take, with `allowRemoteImages`. Default 15 s. */
  remoteImageTimeoutMs: number;
}

export const DEFAULT_LIMITS: Readonly<ServerLimits> = {
  bodyBytes: 48 * 2 ** 20,
  imagesPerRequest: 8,
  imageBytes: 16 * 2 ** 20,
  requestImageBytes: 32 * 2 ** 20,
  imagePixels: 2 ** 24,
  requestPixels: 2 ** 26,
  imageTokensPerRequest: 4096,
  requestTokens: 8192,
  remoteImageTimeoutMs: 15_000,
};

/** `limits` over the defaults, each checked to be a positive integer and to be a limit this server has. */
export function resolveLimits(limits: Partial<ServerLimits> = {}): ServerLimits {
  for (const [name, value] of Object.entries(limits)) {
    const source = `createServer options.limits.${name}`;
    if (!Object.hasOwn(DEFAULT_LIMITS, name)) throw new QwenVLError('INVALID_ARGUMENT', `is not a server limit; the limits are ${Object.keys(DEFAULT_LIMITS).join(', ')}`, { source });
    if (value !== undefined && (!Number.isSafeInteger(value) || value < 1)) throw new QwenVLError('INVALID_ARGUMENT', `must be a positive integer, got ${String(value)}`, { source });
  }
  return { ...DEFAULT_LIMITS, ...Object.fromEntries(Object.entries(limits).filter(([, value]) => value !== undefined)) };
}

/** The command-line flag of a limit: `imageBytes` is `--limit-image-bytes`. */
export function limitFlag(name: keyof ServerLimits): string {
  return `--limit-${name.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`)}`;
}
