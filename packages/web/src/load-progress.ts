import type { DownloadProgress } from './url-model-folder.js';

/**
 * Where a load stands, with the bytes of the whole model folder (`loaded` of `total` over every
 * file): first downloading (`file` is the one whose bytes just arrived), then, once every file
 * is in, creating the runtime sessions from them, which takes seconds without a byte moving.
 */
export type LoadProgress =
  { readonly stage: 'downloading'; readonly file: string; readonly loaded: number; readonly total: number } | { readonly stage: 'creating-sessions'; readonly loaded: number; readonly total: number };

/**
 * Sums per-file download progress into one figure for the folder. `sizes` are the files
 * expected (from HEAD requests) so that `total` is known from the first event; a file read
 * that was not expected adds its own length when it starts. A file read twice (configs are)
 * counts once: each file contributes the most it has loaded.
 */
export class LoadProgressTracker {
  private readonly sizes: Map<string, number>;
  private readonly loaded = new Map<string, number>();

  constructor(
    sizes: ReadonlyMap<string, number>,
    private readonly report: (progress: LoadProgress) => void,
  ) {
    this.sizes = new Map(sizes);
  }

  update(progress: DownloadProgress): void {
    const { file } = progress;
    if (!this.sizes.has(file)) this.sizes.set(file, progress.total ?? progress.loaded);
    this.loaded.set(file, Math.max(this.loaded.get(file) ?? 0, progress.loaded));
    // A file served without a length may grow past its guess.
    if (progress.loaded > (this.sizes.get(file) ?? 0)) this.sizes.set(file, progress.loaded);
    this.report({ stage: 'downloading', file, loaded: sum(this.loaded.values()), total: sum(this.sizes.values()) });
  }

  creatingSessions(): void {
    this.report({ stage: 'creating-sessions', loaded: sum(this.loaded.values()), total: sum(this.sizes.values()) });
  }
}

function sum(values: Iterable<number>): number {
  let total = 0;
  for (const value of values) total += value;
  return total;
}
