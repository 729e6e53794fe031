import { QwenVLWeb } from '@qwen-vl/web';
import type { Web3bOutcome, Web3bPage } from '../src/web-3b-outcome.js';

/**
 * The browser half of `pnpm bench web-3b`: loads the model folder at a URL with @qwen-vl/web
 * on WASM, generates a few tokens, and reports how far it got and the memory it took.
 */

// onnxruntime-web's threaded WASM build creates its heap with `new WebAssembly.Memory`; kept
// here to read its size, which no public API of onnxruntime-web gives.
const memories: WebAssembly.Memory[] = [];
const NativeMemory = WebAssembly.Memory;
WebAssembly.Memory = class extends NativeMemory {
  constructor(descriptor: WebAssembly.MemoryDescriptor) {
    super(descriptor);
    memories.push(this);
  }
};

interface ChromiumPerformance extends Performance {
  memory?: { usedJSHeapSize: number };
  measureUserAgentSpecificMemory?: () => Promise<{ bytes: number }>;
}
const perf = performance as ChromiumPerformance;

/** The error's name, its QwenVLError code when it has one, and its message (which names the file). */
function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const code = (error as { code?: unknown }).code;
  return `${error.name}${typeof code === 'string' ? ` ${code}` : ''}: ${error.message}`;
}

async function run(modelUrl: string, newTokens: number): Promise<Web3bOutcome> {
  const outcome: Web3bOutcome = { stage: 'downloading', crossOriginIsolated };
  const sample = () => {
    const heap = perf.memory?.usedJSHeapSize;
    if (heap !== undefined) outcome.peakJsHeapBytes = Math.max(outcome.peakJsHeapBytes ?? 0, heap);
    for (const memory of memories) outcome.peakWasmMemoryBytes = Math.max(outcome.peakWasmMemoryBytes ?? 0, memory.buffer.byteLength);
  };
  const sampler = setInterval(sample, 200);
  const start = performance.now();
  try {
    const model = await QwenVLWeb.load(new URL(modelUrl, location.href).href, {
      device: 'wasm',
      cache: false,
      onProgress: (progress) => {
        if (progress.stage === 'creating-sessions') {
          outcome.stage = 'creating-sessions';
          outcome.downloadMs = performance.now() - start;
        }
        sample();
      },
    });
    outcome.loadMs = performance.now() - start;
    outcome.stage = 'loaded';
    sample();
    if (perf.measureUserAgentSpecificMemory !== undefined && crossOriginIsolated) outcome.userAgentMemoryBytes = (await perf.measureUserAgentSpecificMemory()).bytes;
    const begin = performance.now();
    const result = await model.chat([{ role: 'user', content: 'Describe a cat in one sentence.' }], { greedy: true, ignoreEos: true, maxNewTokens: newTokens });
    const { timeToFirstTokenMs, tokensPerSecond } = result.timings;
    outcome.generation = { tokens: result.tokens.length, totalMs: performance.now() - begin, firstTokenMs: timeToFirstTokenMs, decodeTokensPerSecond: tokensPerSecond };
    outcome.stage = 'generated';
    await model.dispose();
  } catch (error) {
    outcome.error = describe(error);
  } finally {
    clearInterval(sampler);
    sample();
  }
  return outcome;
}

(window as unknown as { web3b: Web3bPage }).web3b = { run };
document.getElementById('state')!.textContent = 'ready';
