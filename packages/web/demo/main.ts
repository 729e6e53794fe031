/// <reference types="vite/client" />
import { QwenVLWorker, pickWebDevice } from '@qwen-vl/web';
import type { LoadProgress, WebDevice } from '@qwen-vl/web';
import sampleImageUrl from '../../../examples/images/sailboat.jpg?url';

/**
 * The demo page: load a model folder made by `qwen-vl build` (URL from `?model=`, default the
 * tiny random model served beside the page), ask about an image, stream the answer. The model
 * runs in a Web Worker (model.worker.ts), so the page stays responsive while it generates.
 * `?device=webgpu|wasm` preselects the device.
 */

const DEFAULT_MODEL_URL = './models/tiny/';

function element<T extends HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (found === null) throw new Error(`demo page: #${id} is missing`);
  return found as T;
}

const ui = {
  modelNote: element<HTMLParagraphElement>('model-note'),
  device: element<HTMLSelectElement>('device'),
  load: element<HTMLButtonElement>('load'),
  progress: element<HTMLProgressElement>('progress'),
  status: element<HTMLSpanElement>('status'),
  form: element<HTMLFormElement>('ask'),
  preview: element<HTMLImageElement>('preview'),
  image: element<HTMLInputElement>('image'),
  prompt: element<HTMLTextAreaElement>('prompt'),
  maxNewTokens: element<HTMLInputElement>('max-new-tokens'),
  submit: element<HTMLButtonElement>('submit'),
  answer: element<HTMLOutputElement>('answer'),
  statDevice: element<HTMLElement>('stat-device'),
  statTtft: element<HTMLElement>('stat-ttft'),
  statTps: element<HTMLElement>('stat-tps'),
  statTokens: element<HTMLElement>('stat-tokens'),
};

const params = new URLSearchParams(location.search);
const modelUrl = new URL(params.get('model') ?? DEFAULT_MODEL_URL, location.href);
const requestedDevice = params.get('device');
if (requestedDevice === 'webgpu' || requestedDevice === 'wasm') ui.device.value = requestedDevice;
ui.modelNote.textContent = `Model: ${modelUrl.href}. The default tiny model has random weights, so its answers are noise.`;

const worker = new Worker(new URL('./model.worker.ts', import.meta.url), { type: 'module' });
let model: QwenVLWorker | undefined;
let image: Blob | undefined;

function showStatus(text: string, isError = false): void {
  ui.status.textContent = text;
  ui.status.classList.toggle('error', isError);
}

function showImage(blob: Blob): void {
  image = blob;
  URL.revokeObjectURL(ui.preview.src);
  ui.preview.src = URL.createObjectURL(blob);
}

function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function megabytes(bytes: number): string {
  return (bytes / 1e6).toFixed(1);
}

async function loadOn(device: WebDevice): Promise<QwenVLWorker> {
  return QwenVLWorker.load(worker, modelUrl, {
    device,
    onProgress: (progress: LoadProgress) => {
      const { loaded, total } = progress;
      ui.progress.value = total > 0 ? loaded / total : 0;
      // Creating the sessions takes seconds once every byte is in; say so rather than look stuck.
      showStatus(progress.stage === 'downloading' ? `loading on ${device}: ${megabytes(loaded)} of ${megabytes(total)} MB` : `creating sessions on ${device} (${megabytes(total)} MB downloaded)…`);
    },
  });
}

/** Loads on the chosen device; a WebGPU load that fails falls back to WASM and says why. */
async function loadModel(): Promise<void> {
  ui.submit.disabled = true;
  ui.load.disabled = true;
  await model?.dispose();
  model = undefined;
  const choice = ui.device.value;
  const device: WebDevice = choice === 'webgpu' || choice === 'wasm' ? choice : await pickWebDevice();
  try {
    try {
      model = await loadOn(device);
      showStatus(`ready on ${device}`);
    } catch (error) {
      if (device !== 'webgpu') throw error;
      model = await loadOn('wasm');
      showStatus(`ready on wasm (WebGPU failed: ${describeError(error)})`);
    }
    ui.statDevice.textContent = model.device;
    ui.submit.disabled = false;
  } catch (error) {
    showStatus(`cannot load ${modelUrl.href}: ${describeError(error)}`, true);
  } finally {
    ui.load.disabled = false;
  }
}

async function ask(loaded: QwenVLWorker): Promise<void> {
  ui.submit.disabled = true;
  ui.answer.textContent = '';
  ui.statTtft.textContent = ui.statTps.textContent = ui.statTokens.textContent = '…';
  const content = [...(image !== undefined ? [{ type: 'image' as const, image }] : []), { type: 'text' as const, text: ui.prompt.value }];
  const started = performance.now();
  try {
    const stream = loaded.chatStream([{ role: 'user', content }], { maxNewTokens: Number(ui.maxNewTokens.value) });
    let first = true;
    for await (const chunk of stream) {
      if (first) {
        ui.statTtft.textContent = `${(performance.now() - started).toFixed(0)} ms`;
        first = false;
      }
      ui.answer.textContent += chunk.text;
    }
    const { tokens, timings, finishReason } = await stream.result;
    ui.statTtft.textContent = `${timings.timeToFirstTokenMs.toFixed(0)} ms`;
    ui.statTps.textContent = timings.tokensPerSecond > 0 ? timings.tokensPerSecond.toFixed(1) : 'n/a (one token)';
    ui.statTokens.textContent = `${tokens.length} (${finishReason})`;
  } catch (error) {
    ui.answer.textContent += `\n[error: ${describeError(error)}]`;
  } finally {
    ui.submit.disabled = false;
  }
}

ui.image.addEventListener('change', () => {
  const file = ui.image.files?.[0];
  if (file !== undefined) showImage(file);
});
ui.load.addEventListener('click', () => void loadModel());
ui.device.addEventListener('change', () => void loadModel());
ui.form.addEventListener('submit', (event) => {
  event.preventDefault();
  if (model !== undefined) void ask(model);
});

void fetch(sampleImageUrl)
  .then((response) => response.blob())
  .then((blob) => {
    if (image === undefined) showImage(blob);
  });
void loadModel();
