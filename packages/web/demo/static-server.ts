import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize, sep } from 'node:path';

/**
 * A static file server for the demo and the browser tests: URL prefixes mapped to folders,
 * bound to 127.0.0.1 only, with the cross-origin isolation headers that let onnxruntime-web
 * use WebAssembly threads (SharedArrayBuffer).
 */

/** URL prefix (e.g. `/models/tiny/`) → folder on disk. The longest matching prefix wins. */
export type Mounts = Readonly<Record<string, string>>;

export const ISOLATION_HEADERS: Readonly<Record<string, string>> = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.svg': 'image/svg+xml',
};

/** The file a request path names, or undefined when no mount holds it (or it climbs out of one). */
export function resolveMountedFile(mounts: Mounts, urlPath: string): string | undefined {
  const prefix = Object.keys(mounts)
    .filter((candidate) => urlPath.startsWith(candidate))
    .sort((a, b) => b.length - a.length)[0];
  if (prefix === undefined) return undefined;
  const folder = normalize(mounts[prefix]);
  let relative = decodeURIComponent(urlPath.slice(prefix.length));
  if (relative === '' || relative.endsWith('/')) relative += 'index.html';
  const file = normalize(join(folder, relative));
  return file.startsWith(folder.endsWith(sep) ? folder : folder + sep) ? file : undefined;
}

/** Connect-style handler (Vite's preview server takes it as middleware); `next` gets the misses. */
export function serveMounts(mounts: Mounts) {
  return (request: IncomingMessage, response: ServerResponse, next: () => void): void => {
    const urlPath = new URL(request.url ?? '/', 'http://127.0.0.1').pathname;
    const file = resolveMountedFile(mounts, urlPath);
    if (file === undefined || (request.method !== 'GET' && request.method !== 'HEAD')) {
      next();
      return;
    }
    stat(file).then(
      (info) => {
        if (!info.isFile()) {
          next();
          return;
        }
        response.writeHead(200, {
          ...ISOLATION_HEADERS,
          'Content-Type': CONTENT_TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream',
          'Content-Length': String(info.size),
          'Cache-Control': 'no-store',
        });
        if (request.method === 'HEAD') response.end();
        else createReadStream(file).pipe(response);
      },
      () => next(),
    );
  };
}

export interface StaticServer {
  /** `http://127.0.0.1:PORT` (no trailing slash). */
  origin: string;
  close(): Promise<void>;
}

/** Serves `mounts` on 127.0.0.1 (port 0: any free port). */
export async function startStaticServer(mounts: Mounts, port = 0): Promise<StaticServer> {
  const handle = serveMounts(mounts);
  const server = createServer((request, response) =>
    handle(request, response, () => {
      response.writeHead(404, { ...ISOLATION_HEADERS, 'Content-Type': 'text/plain' });
      response.end(`not found: ${request.url ?? ''}`);
    }),
  );
  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolveListen());
  });
  const { port: bound } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${bound}`,
    close: () =>
      new Promise<void>((resolveClose) => {
        server.closeAllConnections();
        server.close(() => resolveClose());
      }),
  };
}
