import { isHtmlFallback } from './html-fallback.js';

/** The Cache API cache that model files are kept in. */
export const MODEL_CACHE_NAME = 'qwen-vl';

/** Just what cachedFetch uses of the Cache API. */
interface CacheLike {
  match(url: string): Promise<Response | undefined>;
  put(url: string, response: Response): Promise<void>;
}

function cacheStorage(): { open(name: string): Promise<CacheLike> } | undefined {
  return (globalThis as { caches?: { open(name: string): Promise<CacheLike> } }).caches;
}

/** A fetch through the model cache, and a way to wait until what it fetched is stored. */
export type CachedFetch = typeof fetch & {
  /** Resolves once every response fetched so far is in the cache (or failed to be stored). */
  readonly stored: () => Promise<void>;
};

/**
 * A fetch that keeps successful GET responses in the Cache API (keyed by URL) and answers
 * later GETs and HEADs from it, so that a model is downloaded once per browser. Where the
 * Cache API is missing (Node, insecure origins) or fails (storage quota), it is plain fetch.
 */
export function cachedFetch(cacheName: string = MODEL_CACHE_NAME, fetchImpl: typeof fetch = (input, init) => fetch(input, init)): CachedFetch {
  let opened: Promise<CacheLike | undefined> | undefined;
  const open = (): Promise<CacheLike | undefined> =>
    (opened ??=
      cacheStorage()
        ?.open(cacheName)
        .catch(() => undefined) ?? Promise.resolve(undefined));
  const writes = new Set<Promise<void>>();
  const cachingFetch: typeof fetch = async (input, init) => {
    const method = (init?.method ?? 'GET').toUpperCase();
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    const cache = method === 'GET' || method === 'HEAD' ? await open() : undefined;
    if (cache === undefined) return fetchImpl(input, init);
    const hit = await cache.match(url).catch(() => undefined);
    if (hit !== undefined) return method === 'HEAD' ? new Response(null, { status: hit.status, statusText: hit.statusText, headers: hit.headers }) : hit;
    const response = await fetchImpl(input, init);
    // A page served in place of a missing file is not kept: it would hide the file once it is there.
    if (method === 'GET' && response.ok && !isHtmlFallback(url, response)) {
      // Stored alongside, not awaited: the caller reads one copy (with progress) while the
      // cache takes the other; a failed store only costs a later download.
      const write = cache.put(url, response.clone()).catch(() => undefined);
      writes.add(write);
      void write.finally(() => writes.delete(write));
    }
    return response;
  };
  return Object.assign(cachingFetch, { stored: async () => void (await Promise.all(writes)) });
}
