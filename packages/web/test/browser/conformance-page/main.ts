import { QwenVLWeb, decodeBrowserImage } from '@qwen-vl/web';
import type { WebDevice } from '@qwen-vl/web';
import { decodeNpy, parsePreprocessorConfig } from '@qwen-vl/core';
import { processImages } from '@qwen-vl/preprocess';
import { GOLDEN_SEARCH, maxAbsDiff } from '../golden-cases.js';
import type { CaseOutcome, GoldenCase, PixelValuesOutcome } from '../golden-cases.js';

/**
 * The browser half of the conformance suite, driven by playwright-core through
 * `window.conformance`. Golden arrays are fetched and compared here, so only summaries travel
 * back to Node.
 */

export interface WebGpuProbe {
  /** Why WebGPU cannot run here, or undefined when an adapter was found. */
  unavailable?: string;
  /** Adapter vendor/architecture/description, as the browser reports them. */
  adapter?: string;
  shaderF16: boolean;
}

async function fetchOk(url: string): Promise<Response> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return response;
}

async function fetchFloat32Npy(url: string): Promise<{ data: Float32Array; dims: readonly number[] }> {
  const tensor = decodeNpy(new Uint8Array(await (await fetchOk(url)).arrayBuffer()), url);
  if (!(tensor.data instanceof Float32Array)) throw new Error(`${url}: expected float32, got ${tensor.type}`);
  return { data: tensor.data, dims: tensor.dims };
}

async function fetchImages(goldenUrl: string, names: readonly string[]): Promise<Blob[]> {
  return Promise.all(names.map(async (name) => (await fetchOk(`${goldenUrl}images/${name}`)).blob()));
}

/** The part of WebGPU the probe reads (TypeScript's DOM library has no WebGPU types yet). */
interface GpuNavigator {
  gpu?: {
    requestAdapter(): Promise<{
      features: ReadonlySet<string>;
      info: { vendor: string; architecture: string; description: string };
    } | null>;
  };
}

async function probeWebGpu(): Promise<WebGpuProbe> {
  const { gpu } = navigator as Navigator & GpuNavigator;
  if (gpu === undefined) return { unavailable: 'navigator.gpu is missing (WebGPU disabled in this browser)', shaderF16: false };
  const adapter = await gpu.requestAdapter();
  if (adapter === null) return { unavailable: 'navigator.gpu.requestAdapter() returned null (no adapter)', shaderF16: false };
  const { vendor, architecture, description } = adapter.info;
  return { adapter: [vendor, architecture, description].filter((part) => part !== '').join(' / '), shaderF16: adapter.features.has('shader-f16') };
}

async function runCases(modelUrl: string, device: WebDevice, goldenUrl: string, cases: readonly GoldenCase[], steps: number): Promise<CaseOutcome[]> {
  const model = await QwenVLWeb.load(new URL(modelUrl, location.href), { device, cache: false });
  try {
    const outcomes: CaseOutcome[] = [];
    for (const goldenCase of cases) {
      const golden = await fetchFloat32Npy(`${goldenUrl}cases/${goldenCase.name}/logits.npy`);
      const vocab = golden.dims[1];
      const images = await fetchImages(goldenUrl, goldenCase.images);
      const maxLogitDiffPerStep: number[] = [];
      const result = await model.chat(
        [{ role: 'user', content: [...images.map((image) => ({ type: 'image' as const, image })), { type: 'text' as const, text: goldenCase.prompt }] }],
        {
          ...GOLDEN_SEARCH,
          maxNewTokens: steps,
          onStepLogits: (step, logits) => {
            maxLogitDiffPerStep[step] = maxAbsDiff(logits, golden.data.subarray(step * vocab, (step + 1) * vocab));
          },
        },
      );
      outcomes.push({ name: goldenCase.name, tokens: result.tokens, maxLogitDiffPerStep });
    }
    return outcomes;
  } finally {
    await model.dispose();
  }
}

async function checkPixelValues(modelUrl: string, goldenUrl: string, cases: readonly GoldenCase[]): Promise<PixelValuesOutcome[]> {
  const config = parsePreprocessorConfig(await (await fetch(new URL('preprocessor_config.json', new URL(modelUrl, location.href)))).json());
  return Promise.all(
    cases.map(async (goldenCase) => {
      const images = await Promise.all((await fetchImages(goldenUrl, goldenCase.images)).map((blob) => decodeBrowserImage(blob)));
      const batch = processImages(images, config);
      const golden = await fetchFloat32Npy(`${goldenUrl}cases/${goldenCase.name}/pixel_values.npy`);
      return {
        name: goldenCase.name,
        shape: [batch.patchCount, batch.rowSize] as [number, number],
        goldenShape: [golden.dims[0], golden.dims[1]] as [number, number],
        maxAbsDiff: maxAbsDiff(batch.pixelValues, golden.data),
      };
    }),
  );
}

const conformance = { probeWebGpu, runCases, checkPixelValues };
export type ConformancePage = typeof conformance;
declare global {
  interface Window {
    conformance: ConformancePage;
  }
}
window.conformance = conformance;
document.getElementById('state')!.textContent = 'ready';
