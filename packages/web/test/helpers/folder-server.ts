import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

/** A 127.0.0.1 server giving the files of one folder under `/model/`, as a model host would. */
export interface FolderServer {
  /** The folder's URL, without a trailing slash. */
  readonly base: string;
  /** `METHOD name` of every request so far; tests may clear it. */
  readonly requests: string[];
  close(): Promise<void>;
}

/** Serves `folder()` (read per request, so it may be set after the server starts); 404 for anything absent. */
export async function serveFolder(folder: () => string): Promise<FolderServer> {
  const requests: string[] = [];
  const server = createServer((request, response) => {
    const name = decodeURIComponent((request.url ?? '/').replace(/^\/model\//, ''));
    requests.push(`${request.method} ${name}`);
    readFile(join(folder(), name)).then(
      (bytes) => {
        response.writeHead(200, { 'content-length': String(bytes.byteLength) });
        response.end(request.method === 'HEAD' ? undefined : bytes);
      },
      () => {
        response.writeHead(404, 'Not Found');
        response.end();
      },
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}/model`,
    requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
