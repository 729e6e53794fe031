import { existsSync } from 'node:fs';
import { onnxruntimeNodeBackend } from '@qwen-vl/node';
import { CHROMIUM_ARGS, CHROMIUM_PATH, HARDWARE_WEBGPU_CHROMIUM_ARGS, probeWebGpu, softwareAdapterReason } from '@qwen-vl/test-support';
import { chromium } from 'playwright-core';
import type { GpuFinding } from './gpu-finding.js';

/**
 * Which GPU devices this machine has, in GPU_DEVICES order. cuda and dml: onnxruntime-node
 * opens a session on the provider (`availability`). webgpu: headless Chromium, launched to
 * reach the GPU, asks for its adapter, and the adapter must not be a software one
 * (`softwareAdapterReason`: SwiftShader, llvmpipe, WARP...). onnxruntime-node's own WebGPU
 * cannot tell a GPU from SwiftShader, as it does not name its adapter, so the browser decides
 * for both; the caller drops the SwiftShader Vulkan driver first.
 */
export async function detectGpus(): Promise<GpuFinding[]> {
  return [await onnxruntimeNodeFinding('cuda'), await onnxruntimeNodeFinding('dml'), await hardwareWebGpuFinding()];
}

async function onnxruntimeNodeFinding(device: 'cuda' | 'dml'): Promise<GpuFinding> {
  const availability = await onnxruntimeNodeBackend.availability(device);
  return availability.available ? { device, present: true, what: `onnxruntime-node's ${device} execution provider starts` } : { device, present: false, reason: availability.reason };
}

/** Any secure-context URL: playwright answers it itself, so nothing listens there. */
const PROBE_URL = 'http://127.0.0.1/webgpu-probe';

async function hardwareWebGpuFinding(): Promise<GpuFinding> {
  const absent = (reason: string): GpuFinding => ({ device: 'webgpu', present: false, reason });
  if (!existsSync(CHROMIUM_PATH)) return absent(`no Chromium at ${CHROMIUM_PATH} to ask for a WebGPU adapter (apt-get install chromium, or set QWEN_VL_CHROMIUM)`);
  const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: [...CHROMIUM_ARGS, ...HARDWARE_WEBGPU_CHROMIUM_ARGS] }).catch((cause: Error) => cause);
  if (browser instanceof Error) return absent(`Chromium (${CHROMIUM_PATH}) did not start: ${browser.message.split('\n')[0]}`);
  try {
    const page = await browser.newPage();
    // navigator.gpu exists only in a secure context, which a loopback http page is.
    await page.route(PROBE_URL, (route) => route.fulfill({ contentType: 'text/html', body: '<!doctype html><title>WebGPU probe</title>' }));
    await page.goto(PROBE_URL);
    const probe = await page.evaluate(probeWebGpu);
    const notGpu = softwareAdapterReason(probe);
    return notGpu === undefined ? { device: 'webgpu', present: true, what: `Chromium's WebGPU adapter: ${probe.adapter}` } : absent(notGpu);
  } finally {
    await browser.close();
  }
}
