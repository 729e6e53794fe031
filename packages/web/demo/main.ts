/// <reference types="vite/client" />
import { QwenVLError } from '@qwen-vl/core';
import { QwenVLWorker, pickWebDevice } from '@qwen-vl/web';
import type { LoadProgress, WebDevice } from '@qwen-vl/web';
import examples from '../../../examples/images/shapes.json' with { type: 'json' };

/**
 * The demo page: load a model folder made by `qwen-vl build` (URL from `?model=`, default the
 * trained tiny-shapes model served beside the page), ask about an example picture, a picture of
 * your own or none, stream the answer. The model runs in a Web Worker (model.worker.ts), so the
 * page stays responsive while it generates. `?device=webgpu|wasm` preselects the device.
 */

const DEFAULT_MODEL_URL = './models/tiny/';
/** The pictures of examples/images, bundled by Vite: URL by path. Their questions are in shapes.json. */
const EXAMPLE_PICTURES = import.meta.glob<string>('../../../examples/images/*.png', { query: '?url', import: 'default', eager: true });
/** Questions one picture answers, suggested for a picture of the user's own. */
const PICTURE_QUESTIONS = ['What shape is this?', 'What color is the circle?', 'How many shapes are there?', 'Is the red circle on the left or the right?'];
/** Questions without a picture: choosing one also chooses "no picture". */
const TEXT_QUESTIONS = ['What is 3 plus 4?', 'What is 9 plus 8?'];

/** What the question is about: the image sent (none: a text-only question) and the questions suggested for it. */
interface PictureChoice {
  image: Blob | string | undefined;
  questions: readonly string[];
  /** Its button among the pictures; none for a picture of the user's own. */
  button?: HTMLButtonElement;
}

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
  pictures: element<HTMLDivElement>('pictures'),
  image: element<HTMLInputElement>('image'),
  prompt: element<HTMLTextAreaElement>('prompt'),
  suggestions: element<HTMLDivElement>('suggestions'),
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
ui.modelNote.textContent = `Model: ${modelUrl.href}`;

const worker = new Worker(new URL('./model.worker.ts', import.meta.url), { type: 'module' });
let model: QwenVLWorker | undefined;
let picture: PictureChoice = { image: undefined, questions: [] };

function showStatus(text: string, isError = false): void {
  ui.status.textContent = text;
  ui.status.classList.toggle('error', isError);
}

function exampleUrl(name: string): string {
  const url = EXAMPLE_PICTURES[`../../../examples/images/${name}`];
  if (url === undefined) throw new Error(`demo page: examples/images/${name}, named in shapes.json, is missing`);
  return new URL(url, location.href).href;
}

function showPreview(image: Blob | string | undefined): void {
  if (ui.preview.src.startsWith('blob:')) URL.revokeObjectURL(ui.preview.src);
  ui.preview.hidden = image === undefined;
  if (image === undefined) ui.preview.removeAttribute('src');
  else ui.preview.src = typeof image === 'string' ? image : URL.createObjectURL(image);
}

/** A button that puts `question` in the prompt (choosing `choice` first, when given). */
function suggestion(question: string, choice?: PictureChoice): HTMLButtonElement {
  const button = document.createElement('button');
  button.type = 'button';
  button.textContent = question;
  button.addEventListener('click', () => {
    if (choice !== undefined) choosePicture(choice);
    ui.prompt.value = question;
  });
  return button;
}

function choosePicture(choice: PictureChoice): void {
  picture = choice;
  for (const button of ui.pictures.querySelectorAll('button')) button.setAttribute('aria-pressed', String(button === choice.button));
  // The file input shows the user's own picture only while it is the one chosen.
  if (choice.button !== undefined) ui.image.value = '';
  showPreview(choice.image);
  ui.suggestions.replaceChildren(...choice.questions.map((question) => suggestion(question)), ...TEXT_QUESTIONS.map((question) => suggestion(question, noPicture)));
}

/** Adds a button (showing `label`, named `name` in its data-picture) that chooses `image` with `questions`. */
function addPictureChoice(name: string, label: string | HTMLImageElement, image: string | undefined, questions: readonly string[]): PictureChoice {
  const button = document.createElement('button');
  button.type = 'button';
  button.dataset.picture = name;
  button.append(label);
  const choice = { image, questions, button };
  button.addEventListener('click', () => choosePicture(choice));
  ui.pictures.append(button);
  return choice;
}

function thumbnail(url: string, name: string): HTMLImageElement {
  const image = new Image();
  image.src = url;
  image.alt = name;
  return image;
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
    showStatus(loadFailure(error), true);
  } finally {
    ui.load.disabled = false;
  }
}

/** Why the load failed, with the fix when the default model folder was never built. */
function loadFailure(error: unknown): string {
  const unbuilt = error instanceof QwenVLError && error.code === 'MISSING_FILE' && modelUrl.href === new URL(DEFAULT_MODEL_URL, location.href).href;
  const fix = unbuilt ? '. Run `pnpm build && pnpm demo` at the repository root first: it builds the default model (.cache/tiny-shapes/model) that this page serves.' : '';
  return `cannot load ${modelUrl.href}: ${describeError(error)}${fix}`;
}

async function ask(loaded: QwenVLWorker): Promise<void> {
  ui.submit.disabled = true;
  ui.answer.textContent = '';
  ui.statTtft.textContent = ui.statTps.textContent = ui.statTokens.textContent = '…';
  const { image } = picture;
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

const exampleChoices = Object.entries(examples).map(([name, answered]) => {
  const url = exampleUrl(name);
  const questions = answered.map(({ question }) => question);
  return addPictureChoice(name, thumbnail(url, name), url, questions);
});
const noPicture = addPictureChoice('none', 'no picture', undefined, []);

ui.image.addEventListener('change', () => {
  const file = ui.image.files?.[0];
  if (file !== undefined) choosePicture({ image: file, questions: PICTURE_QUESTIONS });
});
ui.load.addEventListener('click', () => void loadModel());
ui.device.addEventListener('change', () => void loadModel());
ui.form.addEventListener('submit', (event) => {
  event.preventDefault();
  if (model !== undefined) void ask(model);
});

choosePicture(exampleChoices[0]);
void loadModel();
