import { QwenVLError } from '@qwen-vl/core';
import type { ModelFolder } from '@qwen-vl/core';
import { isHtmlFallback } from './html-fallback.js';

/** Bytes received so far for one file; `total` is undefined when the server sends no length. */
export interface DownloadProgress {
  readonly file: string;
  readonly loaded: number;
  readonly total: number | undefined;
}

export interface UrlModelFolderOptions {
  /** Called as each file's bytes arrive. */
  readonly onProgress?: (progress: DownloadProgress) => void;
  /** The fetch to use (defaults to the global one); lets callers add caching or auth. */
  readonly fetch?: typeof fetch;
}

/**
 * A model folder served over HTTP(S): `base` is the folder URL, file names resolve against
 * it. Bodies are read as a stream so that large weight files report progress.
 */
export class UrlModelFolder implements ModelFolder {
  readonly location: string;
  private readonly base: string;
  private readonly fetchImpl: typeof fetch;
  private readonly onProgress: ((progress: DownloadProgress) => void) | undefined;

  constructor(base: string | URL, options: UrlModelFolderOptions = {}) {
    const text = String(base);
    // Without the trailing slash, URL resolution would replace the folder's last segment.
    this.base = text.endsWith('/') ? text : `${text}/`;
    this.location = this.base.slice(0, -1);
    this.fetchImpl = options.fetch ?? ((input, init) => fetch(input, init));
    this.onProgress = options.onProgress;
  }

  /** The URL of the folder's file `name`; a name that resolves outside the folder (`../x`, another origin) is refused. */
  url(name: string): string {
    const url = new URL(name, this.base).href;
    if (!url.startsWith(this.base)) {
      throw new QwenVLError('INVALID_MODEL', `names ${JSON.stringify(name)}, which is not a file inside the model folder ${this.base}`, { source: this.location });
    }
    return url;
  }

  async exists(name: string): Promise<boolean> {
    return (await this.head(name)) !== undefined;
  }

  /** The file's length in bytes from a HEAD request; undefined when it is absent or the server does not say. */
  async size(name: string): Promise<number | undefined> {
    const response = await this.head(name);
    return response === undefined ? undefined : contentLength(response);
  }

  /** The HEAD response for a file that is there; undefined for an error, a failed request or a page served in its place. */
  private async head(name: string): Promise<Response | undefined> {
    const url = this.url(name);
    try {
      const response = await this.fetchImpl(url, { method: 'HEAD' });
      return response.ok && !isHtmlFallback(url, response) ? response : undefined;
    } catch {
      return undefined;
    }
  }

  async readBytes(name: string): Promise<Uint8Array> {
    const url = this.url(name);
    let response: Response;
    try {
      response = await this.fetchImpl(url);
    } catch (cause) {
      throw new QwenVLError('MISSING_FILE', `could not be fetched (${(cause as Error).message})`, { source: url, cause });
    }
    if (!response.ok) {
      throw new QwenVLError('MISSING_FILE', `could not be fetched (HTTP ${response.status} ${response.statusText})`, { source: url });
    }
    if (isHtmlFallback(url, response)) {
      void response.body?.cancel();
      const type = response.headers.get('content-type');
      throw new QwenVLError('MISSING_FILE', `could not be fetched: the server answered with a web page (${type}), as servers of single-page apps do for a missing file`, { source: url });
    }
    return readBody(response, (loaded, total) => this.onProgress?.({ file: name, loaded, total }));
  }

  async readText(name: string): Promise<string> {
    return new TextDecoder('utf-8').decode(await this.readBytes(name));
  }
}

async function readBody(response: Response, progress: (loaded: number, total: number | undefined) => void): Promise<Uint8Array> {
  const total = contentLength(response);
  if (response.body === null) {
    const bytes = new Uint8Array(await response.arrayBuffer());
    progress(bytes.byteLength, total ?? bytes.byteLength);
    return bytes;
  }
  const reader = response.body.getReader();
  // With a known length, fill one buffer in place instead of concatenating chunks at the end.
  let buffer = new Uint8Array(total ?? 1 << 16);
  let loaded = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (loaded + value.byteLength > buffer.byteLength) {
      const grown = new Uint8Array(Math.max(buffer.byteLength * 2, loaded + value.byteLength));
      grown.set(buffer.subarray(0, loaded));
      buffer = grown;
    }
    buffer.set(value, loaded);
    loaded += value.byteLength;
    progress(loaded, total);
  }
  return loaded === buffer.byteLength ? buffer : buffer.slice(0, loaded);
}

function contentLength(response: Response): number | undefined {
  const header = response.headers.get('content-length');
  return header !== null && /^\d+$/.test(header) ? Number(header) : undefined;
}
