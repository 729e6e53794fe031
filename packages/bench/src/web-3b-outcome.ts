/** What the web-3b page (web-3b-page/main.ts) hands back to the bench (web-3b.bench.ts). */
export interface Web3bOutcome {
  /** How far the load got: fetching the files, or creating the sessions from them. */
  stage: 'downloading' | 'creating-sessions' | 'loaded' | 'generated';
  /** The error that stopped it, with its code and the file it names; absent when all went through. */
  error?: string;
  /** Page start of the load to the last file fetched, and to the model loaded. */
  downloadMs?: number;
  loadMs?: number;
  /** One short text-only greedy generation. */
  generation?: { tokens: number; totalMs: number; firstTokenMs: number; decodeTokensPerSecond: number };
  /** Largest `performance.memory.usedJSHeapSize` seen while loading and generating (Chromium only). */
  peakJsHeapBytes?: number;
  /** Largest byte length of the WebAssembly memories the page created (onnxruntime-web's heap). */
  peakWasmMemoryBytes?: number;
  /** `performance.measureUserAgentSpecificMemory()` once loaded (cross-origin isolated pages only). */
  userAgentMemoryBytes?: number;
  crossOriginIsolated: boolean;
}

/** What the page puts on `window.web3b`. */
export interface Web3bPage {
  run(modelUrl: string, newTokens: number): Promise<Web3bOutcome>;
}
