/** Where the tests and benchmarks find Chromium, and how they launch it. */

/** Debian's Chromium (no Playwright browser download); `QWEN_VL_CHROMIUM` points elsewhere. */
export const CHROMIUM_PATH = process.env.QWEN_VL_CHROMIUM ?? '/usr/bin/chromium';

/**
 * Headless, with WebGPU on (without a GPU it gets SwiftShader's fallback adapter), and none of
 * the background traffic a fresh profile starts (Playwright gives each launch a temporary one).
 */
export const CHROMIUM_ARGS: readonly string[] = [
  '--headless=new',
  '--no-sandbox',
  '--enable-unsafe-webgpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

/**
 * Added to CHROMIUM_ARGS so that headless Chromium on Linux gives WebGPU the machine's GPU
 * instead of SwiftShader: Vulkan for WebGPU and ANGLE (Chromium turns Vulkan on by default for
 * some Linux GPUs only), no surface to present to, the GPU blocklist ignored. Google's guide to
 * WebGPU in headless Chrome on NVIDIA GPUs uses the first three; not tried here (no GPU).
 */
export const HARDWARE_WEBGPU_CHROMIUM_ARGS: readonly string[] = ['--enable-features=Vulkan', '--use-angle=vulkan', '--disable-vulkan-surface', '--ignore-gpu-blocklist'];
