/**
 * What the tests ask of a WebGPU adapter: which one the browser gives (probeWebGpu, run in the
 * page) and whether it is a GPU or a software rasterizer (softwareAdapterReason). No Node
 * imports: the conformance page bundles this module, and Node hands probeWebGpu to
 * playwright's `page.evaluate`, which sends its source text, so it must use nothing from
 * outside its own body.
 */

export interface WebGpuProbe {
  /** Why WebGPU cannot run here, or undefined when an adapter was found. */
  unavailable?: string;
  /** Adapter vendor/architecture/description, as the browser reports them. */
  adapter?: string;
  /** The browser's own word that the adapter is its software fallback (`isFallbackAdapter`, where the browser has it). */
  fallback?: boolean;
  shaderF16: boolean;
}

/**
 * The part of WebGPU the probe reads (TypeScript's DOM library has no WebGPU types yet). The
 * fallback flag is `info.isFallbackAdapter` in the current spec, on the adapter in older Chromium.
 */
interface GpuNavigator {
  gpu?: {
    requestAdapter(): Promise<{
      features: ReadonlySet<string>;
      info: { vendor: string; architecture: string; description: string; isFallbackAdapter?: boolean };
      isFallbackAdapter?: boolean;
    } | null>;
  };
}

/** The adapter a page gets by default, the one onnxruntime-web's WebGPU runs on. */
export async function probeWebGpu(): Promise<WebGpuProbe> {
  const gpu = (globalThis as { navigator?: GpuNavigator }).navigator?.gpu;
  if (gpu === undefined) return { unavailable: 'navigator.gpu is missing (WebGPU disabled in this browser)', shaderF16: false };
  const adapter = await gpu.requestAdapter();
  if (adapter === null) return { unavailable: 'navigator.gpu.requestAdapter() returned null (no adapter)', shaderF16: false };
  const { vendor, architecture, description } = adapter.info;
  return {
    adapter: [vendor, architecture, description].filter((part) => part !== '').join(' / '),
    fallback: (adapter.info.isFallbackAdapter ?? adapter.isFallbackAdapter) === true,
    shaderF16: adapter.features.has('shader-f16'),
  };
}

/**
 * The CPU rasterizers a WebGPU adapter can be: Chromium's SwiftShader (its fallback, and the
 * driver `pnpm test:conformance` points Vulkan at), Mesa's llvmpipe/lavapipe and softpipe,
 * Windows' WARP ("Microsoft Basic Render Driver").
 */
const SOFTWARE_ADAPTER = /swiftshader|llvmpipe|lavapipe|softpipe|microsoft basic render/i;

/**
 * Why the probed adapter is not a GPU, or undefined when it is one. The rule: an adapter the
 * browser marks as its fallback, or one whose vendor, architecture or description names a
 * software rasterizer, is software; any other adapter is a GPU.
 */
export function softwareAdapterReason(probe: WebGpuProbe): string | undefined {
  if (probe.unavailable !== undefined) return probe.unavailable;
  const adapter = probe.adapter ?? 'an adapter without a name';
  if (probe.fallback === true) return `the WebGPU adapter (${adapter}) is the browser's software fallback, not a GPU`;
  if (SOFTWARE_ADAPTER.test(adapter)) return `the WebGPU adapter (${adapter}) is a software rasterizer, not a GPU`;
  return undefined;
}
